"""The way up: a model built here as a ``torch.nn.Sequential``, and back.

PyTorch is optional. Importing this module (or ``models``) never imports it; ``to_torch`` and
``from_torch`` import it when they are called, and say how to install it when it is missing.

Each layer kind of ``layers.KINDS`` but Standardize has the torch module of the same name, built from
the same arguments: a layer's ``config()`` (``in_features``, ``negative_slope``, ``p``, ``eps``, ``dtype``,
...) uses torch's names for them; Standardize is torch's ``BatchNorm1d`` without gamma and beta. The
arrays map by ``TORCH_NAMES``; ``W`` is the transpose of torch's ``weight`` (layers/linear.py says why).
"""

from __future__ import annotations

from layers import KINDS
from models.sequential import Sequential

INSTALL_HINT = "pip install -e '.[torch]'"
SUPPORTED = ", ".join(list(KINDS)[:-1]) + " and " + list(KINDS)[-1]
TORCH_KINDS = [kind for kind in KINDS if kind != "Standardize"]      # the torch modules of the same name
TORCH_SUPPORTED = "torch.nn." + ", ".join(TORCH_KINDS[:-1]) + " and " + TORCH_KINDS[-1]
FLOAT_DTYPES = ("float16", "float32", "float64")        # the float dtypes both NumPy and PyTorch hold
TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias",
               "running_mean": "running_mean", "running_var": "running_var",
               "mean": "running_mean", "var": "running_var"}
# The constructor arguments of each torch module, read back from its attributes by from_torch.
FIELDS = {"Linear": ("in_features", "out_features"), "LeakyReLU": ("negative_slope",), "Dropout": ("p",),
          "BatchNorm1d": ("num_features", "eps", "momentum"), "Standardize": ("num_features",)}


def to_torch(model: Sequential):
    """The same network as a ``torch.nn.Sequential``: equal weights, equal function.

    Layer by layer, with the weights copied, never shared:
      Linear(W, b)               -> torch.nn.Linear  with  weight = Wᵀ [D_out x D_in], bias = b
      ReLU(), Tanh(), Sigmoid()  -> torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Sigmoid()
      LeakyReLU(α), Dropout(p)   -> torch.nn.LeakyReLU(α), torch.nn.Dropout(p)  (torch draws its own masks)
      BatchNorm1d(D, eps, m)     -> torch.nn.BatchNorm1d(D, eps, m)  with  weight = gamma, bias = beta,
                                    running_mean, running_var copied (num_batches_tracked 0: unused
                                    with a momentum)
      Standardize(D)             -> torch.nn.BatchNorm1d(D, eps=0.0, affine=False)  with
                                    running_mean = mean, running_var = var, always in eval mode

    The torch model is in the mode this model is in (``model.training``), but for the Standardize
    layers: in training mode, torch's BatchNorm1d would standardise by the batch's statistics, not by
    the training data's (a later ``torch_model.train()`` switches them too; ``.eval()`` them again).
    Each layer keeps its dtype (float16, float32 or float64), so a float64 model gives a float64 torch
    model whose forward agrees to rounding, and whose autograd gradients equal the ones
    ``model.backward`` computes. The tensors live on the CPU; move the result with ``.to("cuda")``.
    Torch's global random generator is left as it was (the initial weights torch draws are overwritten
    at once).

    Only the layer kinds above are known, by their exact class: a layer of your own (or a subclass,
    which may compute something else) is a ``TypeError`` naming it, found before torch is imported.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch expects a models.Sequential, got {type(model).__name__}")
    for position, layer in enumerate(model):
        if KINDS.get(type(layer).__name__) is not type(layer):
            raise TypeError(f"to_torch: layer {position} is {layer!r}, which has no torch counterpart here; "
                            f"the bridge knows {SUPPORTED}")
        if str(getattr(layer, "dtype", "float64")) not in FLOAT_DTYPES:
            raise TypeError(f"to_torch: layer {position} is {layer!r}, but PyTorch has no {layer.dtype}; "
                            "build it with dtype=np.float64 or np.float32")
    torch = _require_torch("to_torch")
    with torch.random.fork_rng(devices=[]):
        modules = [_torch_module(torch, layer) for layer in model]
    torch_model = torch.nn.Sequential(*modules).train(model.training)
    for layer, module in zip(model, modules, strict=True):
        if type(layer).__name__ == "Standardize":
            module.eval()
    return torch_model


def from_torch(module) -> Sequential:
    """A ``torch.nn.Sequential`` of the layer kinds this project has, as a ``Sequential`` here.

    The reverse of ``to_torch``, with the weights copied to NumPy (from any device): W = weightᵀ,
    gamma = weight, beta = bias, the running statistics copied (num_batches_tracked is dropped); a
    ``BatchNorm1d`` with ``affine=False`` and ``track_running_stats=True`` becomes the Standardize its
    evaluation mode computes, mean = running_mean and var = running_var + eps;
    torch's ``inplace``, a speed setting, has no counterpart here; a ``Dropout`` draws its masks from a
    fresh generator (``rng=None``). The model is in the torch module's mode (``module.training``).
    ``from_torch(to_torch(model))`` is bit for bit ``model``: the same weights, dtypes and repr.

    Refused, with an error that names the module and its position: any other kind of module
    (``Conv2d``, ``LayerNorm``, a nested ``Sequential``, a subclass of a supported one), a
    ``Linear`` built with ``bias=False`` (a ``Linear`` here always has a bias, and importing a
    zero one would make training here differ from training there), any other ``BatchNorm1d`` built with
    ``affine=False``, ``track_running_stats=False`` or ``momentum=None`` (not offered here), and weights
    of a dtype NumPy cannot hold, such as bfloat16 (convert with ``.double()`` or ``.float()`` first).
    """
    torch = _require_torch("from_torch")
    if type(module) is not torch.nn.Sequential:
        raise TypeError(f"from_torch expects a torch.nn.Sequential, got {type(module).__name__}; "
                        f"rebuild it as torch.nn.Sequential(...) of {TORCH_SUPPORTED} modules")
    model = Sequential(*(_our_layer(torch, name, child) for name, child in module.named_children()))
    return model.train(module.training)


def _require_torch(caller: str):
    """The ``torch`` module, or a ModuleNotFoundError (an ImportError) that says how to install it.
    A torch that is installed but fails to import raises its own, more telling, error unchanged."""
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(f"{caller} needs PyTorch: {INSTALL_HINT}", name="torch") from exc
    return torch


def _torch_module(torch, layer):
    """The torch module computing what ``layer`` computes (its kind is already checked)."""
    config = layer.config()
    if "dtype" in config:
        config["dtype"] = getattr(torch, config["dtype"])
    if type(layer).__name__ == "Standardize":
        module = torch.nn.BatchNorm1d(**config, eps=0.0, affine=False)    # eps 0: y = (x − μ)/√var exactly
    else:
        module = getattr(torch.nn, type(layer).__name__)(**config)
    with torch.no_grad():
        for key, value in {**layer.params, **layer.buffers}.items():
            getattr(module, TORCH_NAMES[key]).copy_(torch.from_numpy(value.T if key == "W" else value))
    return module


def _our_layer(torch, name: str, child):
    """The layer here computing what the torch module ``child`` (at ``name``) computes."""
    kind, module = type(child).__name__, type(child).__module__
    if kind not in TORCH_KINDS or type(child) is not getattr(torch.nn, kind):
        where = "torch.nn" if module.startswith("torch.nn.") else module
        raise TypeError(f"from_torch: module ({name}) is a {where}.{type(child).__qualname__}, which has no "
                        f"layer here; the bridge knows {TORCH_SUPPORTED}")
    if kind == "BatchNorm1d" and not child.affine and child.track_running_stats:
        kind = "Standardize"
    culprit = f"from_torch: module ({name}) is {child!r}"
    if kind == "Linear" and child.bias is None:
        raise ValueError(f"{culprit}, but a Linear here always has a bias; "
                         "build it with bias=True (the bias may start at zero)")
    if kind == "BatchNorm1d" and (child.momentum is None or not (child.affine and child.track_running_stats)):
        raise ValueError(f"{culprit}, but BatchNorm1d here always has gamma and beta, running statistics "
                         "and a momentum: build it with affine=True, track_running_stats=True and a momentum "
                         "such as 0.1")
    config = {field: getattr(child, field) for field in FIELDS.get(kind, ())}
    tensors = {key: tensor for key, tensor in child.state_dict().items() if tensor.is_floating_point()}
    if tensors:                             # Linear, BatchNorm1d, Standardize: one float dtype NumPy holds
        config["dtype"] = str(next(iter(tensors.values())).dtype).removeprefix("torch.")
        if config["dtype"] not in FLOAT_DTYPES or len({tensor.dtype for tensor in tensors.values()}) > 1:
            listed = " and ".join(f"{key} {tensor.dtype}" for key, tensor in tensors.items())
            raise TypeError(f"{culprit}, with {listed}; the bridge takes float16, float32 or float64, one "
                            "dtype per layer: convert it with .double() or .float()")
    layer = KINDS[kind](**config)
    for key, value in {**layer.params, **layer.buffers}.items():
        tensor = getattr(child, TORCH_NAMES[key]).detach().cpu().numpy()
        value[...] = tensor.T if key == "W" else tensor
    if kind == "Standardize":
        layer.buffers["var"] += child.eps       # torch divides by √(running_var + eps)
    return layer
