"""The way up: a model built here as a ``torch.nn.Sequential``, and back.

PyTorch is optional. Importing this module (or ``models``) never imports it; ``to_torch`` and
``from_torch`` import it when they are called, and say how to install it when it is missing.
"""

from __future__ import annotations

import numpy as np

from layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from layers.batchnorm import BatchNorm1d
from layers.dropout import Dropout
from layers.linear import Linear
from models.sequential import Sequential

INSTALL_HINT = "pip install -e '.[torch]'"
SUPPORTED = "Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout and BatchNorm1d"
KNOWN = (Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, BatchNorm1d)
# The float dtypes both NumPy and PyTorch hold; NumPy's longdouble has no torch counterpart.
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def to_torch(model: Sequential):
    """The same network as a ``torch.nn.Sequential``: equal weights, equal function.

    Layer by layer, with the weights copied, never shared:
      Linear(W, b)               -> torch.nn.Linear  with  weight = Wᵀ [D_out x D_in], bias = b
      ReLU()                     -> torch.nn.ReLU()
      LeakyReLU(α)               -> torch.nn.LeakyReLU(α)
      Tanh(), Sigmoid()          -> torch.nn.Tanh(), torch.nn.Sigmoid()
      Dropout(p)                 -> torch.nn.Dropout(p)   (torch draws its masks from its own generator)
      BatchNorm1d(D, eps, m)     -> torch.nn.BatchNorm1d(D, eps, m)  with  weight = gamma, bias = beta,
                                    running_mean, running_var copied (num_batches_tracked 0: unused
                                    with a momentum)

    The torch model is in the mode this model is in (``model.training``).

    Each ``Linear`` keeps its dtype (float16, float32 or float64), so a float64 model gives a
    float64 torch model whose forward agrees to rounding, and whose autograd gradients equal
    the ones ``model.backward`` computes. The tensors live on the CPU; move the result with
    ``.to("cuda")``. Torch's global random generator is not used: the torch layers start
    uninitialised (``skip_init``) and are then given these weights.

    Only the layer kinds above are known, by their exact class: a layer of your own (or a
    subclass, which may compute something else) is a ``TypeError`` naming it, found before
    torch is imported.
    """
    layers = _layers_of(model)
    torch = _require_torch("to_torch")
    return torch.nn.Sequential(*(_torch_layer(torch, layer) for layer in layers)).train(model.training)


def from_torch(module) -> Sequential:
    """A ``torch.nn.Sequential`` of the layer kinds this project has, as a ``Sequential`` here.

    The reverse of ``to_torch``, with the weights copied to NumPy (from any device):
      torch.nn.Linear(weight, bias)    -> Linear  with  W = weightᵀ [D_in x D_out], b = bias
      torch.nn.ReLU, LeakyReLU         -> ReLU, LeakyReLU (negative_slope kept; torch's inplace, a
                                          speed setting, has no counterpart here)
      torch.nn.Tanh, Sigmoid           -> Tanh, Sigmoid
      torch.nn.Dropout(p)              -> Dropout(p)  (its masks from a fresh generator: rng=None)
      torch.nn.BatchNorm1d             -> BatchNorm1d, gamma = weight, beta = bias, and the running
                                          statistics copied (num_batches_tracked is dropped)
    The model is in the torch module's mode (``module.training``).

    ``from_torch(to_torch(model))`` is bit for bit ``model``: the same weights, dtypes and repr.

    Refused, with an error that names the module and its position: any other kind of module
    (``Conv2d``, ``LayerNorm``, a nested ``Sequential``, a subclass of a supported one), a
    ``Linear`` built with ``bias=False`` (a ``Linear`` here always has a bias, and importing a
    zero one would make training here differ from training there), a ``BatchNorm1d`` built with
    ``affine=False``, ``track_running_stats=False`` or ``momentum=None`` (not offered here), and weights
    of a dtype NumPy cannot hold, such as bfloat16 (convert with ``.double()`` or ``.float()`` first).
    """
    torch = _require_torch("from_torch")
    if type(module) is not torch.nn.Sequential:
        raise TypeError(
            f"from_torch expects a torch.nn.Sequential, got {type(module).__name__}; "
            f"rebuild it as torch.nn.Sequential(...) of {SUPPORTED} modules"
        )
    model = Sequential(*(_our_layer(torch, name, child) for name, child in module.named_children()))
    return model.train(module.training)


def _require_torch(caller: str):
    """The ``torch`` module, or a ModuleNotFoundError that says how to install it.

    ModuleNotFoundError is what Python itself raises for a missing module, and a subclass of
    ImportError, so ``except ImportError`` catches it too. A torch that is installed but fails
    to import raises its own, more telling, error unchanged.
    """
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(f"{caller} needs PyTorch: {INSTALL_HINT}", name="torch") from exc
    return torch


def _layers_of(model) -> list:
    """The layers of ``model``, each checked to be of a kind ``to_torch`` knows, without torch."""
    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch expects a models.Sequential, got {type(model).__name__}")
    for position, layer in enumerate(model):
        if type(layer) not in KNOWN:
            raise TypeError(
                f"to_torch: layer {position} is {layer!r}, which has no torch counterpart here; "
                f"the bridge knows {SUPPORTED}"
            )
        if type(layer) in (Linear, BatchNorm1d) and layer.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"to_torch: layer {position} is {layer!r}, but PyTorch has no "
                f"{layer.dtype}; build it with dtype=np.float64 or np.float32"
            )
    return list(model)


def _torch_layer(torch, layer):
    """The torch module computing what ``layer`` computes (its kind is already checked)."""
    if type(layer) is Linear:
        W, b = layer.params["W"], layer.params["b"]
        # skip_init: no random initialisation, so torch's global generator is not advanced
        linear = torch.nn.utils.skip_init(torch.nn.Linear, layer.in_features, layer.out_features,
                                          dtype=torch.from_numpy(b).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))      # weight = Wᵀ  [D_out x D_in]
            linear.bias.copy_(torch.from_numpy(b))
        return linear
    if type(layer) is ReLU:
        return torch.nn.ReLU()
    if type(layer) is LeakyReLU:
        return torch.nn.LeakyReLU(layer.negative_slope)
    if type(layer) is Tanh:
        return torch.nn.Tanh()
    if type(layer) is Dropout:
        return torch.nn.Dropout(layer.p)
    if type(layer) is BatchNorm1d:
        norm = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum,
                                    dtype=torch.from_numpy(layer.params["gamma"]).dtype)
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(layer.params["gamma"]))
            norm.bias.copy_(torch.from_numpy(layer.params["beta"]))
            norm.running_mean.copy_(torch.from_numpy(layer.buffers["running_mean"]))
            norm.running_var.copy_(torch.from_numpy(layer.buffers["running_var"]))
        return norm
    return torch.nn.Sigmoid()


def _our_layer(torch, name: str, child):
    """The layer here computing what the torch module ``child`` (at ``name``) computes."""
    nn = torch.nn
    if type(child) is nn.Linear:
        if child.bias is None:
            raise ValueError(
                f"from_torch: module ({name}) is {child!r}, but a Linear here always has a bias; "
                "build it with bias=True (the bias may start at zero)"
            )
        if (child.weight.dtype, child.bias.dtype) not in [(d, d) for d in _float_dtypes(torch)]:
            raise TypeError(
                f"from_torch: module ({name}) is {child!r}, with weight {child.weight.dtype} "
                f"and bias {child.bias.dtype}; the bridge takes float16, float32 or float64, one "
                "dtype per layer: convert it with .double() or .float()"
            )
        W = _copy_to_numpy(child.weight).T.copy()                  # W = weightᵀ  [D_in x D_out]
        b = _copy_to_numpy(child.bias)
        # init=0.0 and a fixed generator: the weights are overwritten at once, so draw nothing new
        layer = Linear(W.shape[0], W.shape[1], init=0.0, rng=np.random.default_rng(0),
                       dtype=W.dtype)
        layer.params["W"][...] = W
        layer.params["b"][...] = b
        return layer
    if type(child) is nn.ReLU:
        return ReLU()
    if type(child) is nn.LeakyReLU:
        return LeakyReLU(child.negative_slope)
    if type(child) is nn.Tanh:
        return Tanh()
    if type(child) is nn.Sigmoid:
        return Sigmoid()
    if type(child) is nn.Dropout:
        return Dropout(child.p)
    if type(child) is nn.BatchNorm1d:
        return _our_batchnorm(torch, name, child)
    raise TypeError(
        f"from_torch: module ({name}) is a {_class_name(child)}, which has no layer here; "
        f"the bridge knows torch.nn.{SUPPORTED}"
    )


def _our_batchnorm(torch, name: str, child) -> BatchNorm1d:
    """BatchNorm1d here for torch's ``child``, if it has weights, running statistics and a momentum."""
    if not (child.affine and child.track_running_stats and child.momentum is not None):
        raise ValueError(
            f"from_torch: module ({name}) is {child!r}, but BatchNorm1d here always has gamma and beta, "
            "running statistics and a momentum: build it with affine=True, track_running_stats=True "
            "and a momentum such as 0.1"
        )
    arrays = [child.weight, child.bias, child.running_mean, child.running_var]
    if len({a.dtype for a in arrays}) != 1 or arrays[0].dtype not in _float_dtypes(torch):
        raise TypeError(
            f"from_torch: module ({name}) is {child!r}, with weight {child.weight.dtype}; the bridge "
            "takes float16, float32 or float64, one dtype per layer: convert it with .double() or .float()"
        )
    gamma, beta, mean, var = (_copy_to_numpy(a) for a in arrays)
    layer = BatchNorm1d(child.num_features, eps=child.eps, momentum=child.momentum, dtype=gamma.dtype)
    layer.params["gamma"][...] = gamma
    layer.params["beta"][...] = beta
    layer.buffers["running_mean"][...] = mean
    layer.buffers["running_var"][...] = var
    return layer


def _class_name(child) -> str:
    """``torch.nn.Conv2d`` for torch's own modules, the full dotted name for anyone else's."""
    cls = type(child)
    if cls.__module__.startswith("torch.nn.modules"):
        return f"torch.nn.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _float_dtypes(torch) -> tuple:
    """The torch counterparts of ``FLOAT_DTYPES``."""
    return tuple(torch.from_numpy(np.zeros(0, dtype)).dtype for dtype in FLOAT_DTYPES)


def _copy_to_numpy(tensor) -> np.ndarray:
    """A NumPy copy of a tensor from any device (``.numpy()`` shares a CPU tensor's memory)."""
    return tensor.detach().cpu().numpy().copy()
