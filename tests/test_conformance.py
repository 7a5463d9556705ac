"""Conformance: every layer in the package, held to the whole layer contract by the same tests.

LAYERS below lists each Layer subclass of ``layers`` (and each constructor variant that takes
another code path). Every entry is gradient-checked in float64, keeps float32 as float32, leaves
its arguments alone, gives the same bits for every memory layout of its arguments, refuses
``backward`` before ``forward`` and never changes a result it has already handed out. A Layer
subclass missing from LAYERS fails ``test_every_layer_in_the_package_is_listed``.
"""

import importlib
import inspect
import itertools
import pkgutil
import types

import numpy as np
import pytest

import layers
from layers import BatchNorm1d, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Standardize, Tanh
from layers.base import Layer
from layers.gradcheck import check_gradients
from tests.helpers import assert_passes, away_from_zero, raises

ROWS = 19           # > 8: NumPy sums 8 or more contiguous numbers pairwise, so a layout-dependent order shows
ANY_SHAPE = [(ROWS, 6), (3, 5, 6)]          # elementwise layers: a batch of rows and a 3-D array


def linear(dtype, rng):
    layer = Linear(6, 4, rng=rng, init=0.5, dtype=dtype)
    layer.params["b"][...] = rng.standard_normal(4)          # not 0, so that y = x W + b tests the + b
    return layer, [(ROWS, 6)]


def batchnorm(dtype, rng, *, mode="train"):
    layer = BatchNorm1d(6, dtype=dtype)
    for arrays in (layer.params, layer.buffers):            # not 1 and 0, so that every term counts
        for value in arrays.values():
            value[...] = rng.uniform(0.5, 1.5, 6)
    return getattr(layer, mode)(), [(ROWS, 6)]


def standardize(dtype, rng):
    layer = Standardize(6, dtype=dtype)
    layer.buffers["mean"][...] = rng.uniform(-1, 1, 6)         # not 0 and 1, so that both count
    layer.buffers["var"][...] = rng.uniform(0.5, 2, 6)
    return layer, [(ROWS, 6)]


class SameDraws:
    """A stand-in for Dropout's generator that draws the same numbers at every call: a fixed mask, so
    that repeated forward passes (the gradient check, the layouts) compute the same function."""

    def __init__(self, seed):
        self.seed = seed

    def random(self, shape):
        return np.random.default_rng(self.seed).random(shape)


def dropout(dtype, rng):
    layer = Dropout(0.3)
    layer.rng = SameDraws(int(rng.integers(1000)))
    return layer, ANY_SHAPE


# name -> factory(dtype, rng) -> (layer whose weights have that dtype, the input shapes it accepts)
LAYERS = {
    "Linear": linear,
    "ReLU": lambda dtype, rng: (ReLU(), ANY_SHAPE),
    "LeakyReLU": lambda dtype, rng: (LeakyReLU(0.1), ANY_SHAPE),
    "Tanh": lambda dtype, rng: (Tanh(), ANY_SHAPE),
    "Sigmoid": lambda dtype, rng: (Sigmoid(), ANY_SHAPE),
    "Dropout": dropout,
    "BatchNorm1d": batchnorm,
    "BatchNorm1d eval": lambda dtype, rng: batchnorm(dtype, rng, mode="eval"),
    "Standardize": standardize,
}

DTYPES = [np.float64, np.float32]


def make(name, dtype=np.float64, seed=0):
    """A fresh ``LAYERS[name]`` layer; the same seed gives the same weights."""
    return LAYERS[name](dtype, np.random.default_rng(seed))


def layer_shapes():
    """Every (LAYERS name, input shape) pair, for parametrize."""
    return [pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
            for name in LAYERS for shape in make(name)[1]]


def inputs(shape, dtype, seed):
    """x, entries at least 0.1 from ReLU's kink at 0, and the generator that drew it (for dy)."""
    rng = np.random.default_rng(seed)
    x = (away_from_zero(rng, shape) * 2).astype(dtype)
    return x, rng


def upstream(rng, y):
    """A random dy = ∂L/∂y for the output ``y``."""
    return rng.standard_normal(y.shape).astype(y.dtype)


def frozen(a):
    a.flags.writeable = False
    return a


def spread(a, axis):
    """A twice-as-long array along ``axis`` whose even entries are ``a``, and its view of them."""
    shape = list(a.shape)
    shape[axis] *= 2
    big = np.zeros(shape, dtype=a.dtype)
    every_other = (slice(None),) * (axis % a.ndim) + (slice(None, None, 2),)
    big[every_other] = a
    return big[every_other]


# Each makes a new array with a's values.
LAYOUTS = {
    "C-contiguous": lambda a: a.copy(),
    "Fortran-ordered": lambda a: np.array(a, order="F"),
    "every other row": lambda a: spread(a, 0),
    "every other column": lambda a: spread(a, -1),
    "last axis reversed": lambda a: np.ascontiguousarray(a[..., ::-1])[..., ::-1],
    "read-only": lambda a: frozen(a.copy()),
}


def run(layer, x, dy):
    """Forward then backward; returns y, dx and copies of the gradients."""
    y = layer.forward(x)
    dx = layer.backward(dy)
    return y, dx, {key: np.array(grad, copy=True) for key, grad in layer.grads.items()}


# Results of a BLAS matrix product, whose last bits may depend on the operands' memory layout,
# since BLAS picks its kernel by layout (and OpenBLAS also by CPU): Linear's y = x W, (1) xᵀ dy
# and (3) dy Wᵀ.
# Linear's b = Σ_n dy[n] is a sum too, and NumPy adds the rows of a Fortran-ordered dy in another
# order (pairwise from 8 rows up), which can change the last bit: the same rounding, not a bug, and
# not worth a copy of dy in Linear.backward, whose (2) reads as the formula. BatchNorm1d's sums over
# the rows (μ, σ², Σ dy, Σ dy ⊙ x̂) round the same way; in eval mode only Σ dy and Σ dy ⊙ x̂ are sums.
# Everything else must match bit for bit.
BLAS_PRODUCTS = {"Linear": {"y", "dx", "W", "b"}, "BatchNorm1d": {"y", "dx", "gamma", "beta"},
                 "BatchNorm1d eval": {"gamma", "beta"}}


def assert_identical(actual, expected, what):
    np.testing.assert_array_equal(actual, expected, err_msg=what, strict=True)   # strict: dtype and shape too


def assert_equal_but_for_rounding(actual, expected, terms, what):
    """Equal up to how differently a sum of ``terms`` products may round: terms · eps of its scale."""
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), what
    atol = terms * np.finfo(expected.dtype).eps * np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=what)


# Every layer is listed --------------------------------------------------------------------

def package_modules():
    """The ``layers`` package and each of its modules."""
    return [layers] + [importlib.import_module(f"layers.{info.name}")
                       for info in pkgutil.iter_modules(layers.__path__)]


def layer_classes(modules):
    """Every subclass of Layer defined in, or exported by, ``modules`` (Layer itself excluded)."""
    found = set()
    for module in modules:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Layer) and value is not Layer:
                found.add(value)
    return found


def missing_from_layers(modules):
    """What to add to LAYERS: one line per Layer subclass of ``modules`` that it does not list."""
    listed = {type(make(name)[0]) for name in LAYERS}
    return sorted(
        f"{cls.__module__}.{cls.__qualname__}: add an entry "
        f"\"{cls.__name__}\": lambda dtype, rng: ({cls.__name__}(...), [input shapes]) to LAYERS "
        f"in tests/test_conformance.py (and one per constructor variant, such as eval mode)"
        for cls in layer_classes(modules) - listed
    )


def test_every_layer_in_the_package_is_listed():
    missing = missing_from_layers(package_modules())
    assert not missing, "Layers the conformance suite does not check:\n" + "\n".join(missing)


def test_a_layer_added_to_the_package_but_not_to_the_list_is_reported():
    scratch = types.ModuleType("layers.scratch")             # stands for a new file in layers/
    scratch.Scale = type("Scale", (Layer,), {"__module__": scratch.__name__})
    assert missing_from_layers(package_modules() + [scratch]) == [
        'layers.scratch.Scale: '
        'add an entry "Scale": lambda dtype, rng: (Scale(...), [input shapes]) to LAYERS '
        'in tests/test_conformance.py (and one per constructor variant, such as eval mode)'
    ]


def test_discovery_finds_the_known_layers():
    assert {Linear, ReLU, LeakyReLU, Tanh, Sigmoid} <= layer_classes(package_modules())


# The contract, layer by layer -------------------------------------------------------------

@pytest.mark.parametrize("name, shape", layer_shapes())
def test_gradients_pass_the_float64_check(name, shape):
    layer, _ = make(name)
    x, rng = inputs(shape, np.float64, seed=1)
    report = check_gradients(layer, x, rng=rng)
    assert set(report.errors) == {"x"} | set(layer.params)   # every parameter was checked
    assert_passes(report)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, shape", layer_shapes())
def test_dtype_in_is_dtype_out(name, shape, dtype):
    layer, _ = make(name, dtype)
    x, rng = inputs(shape, dtype, seed=2)
    y = layer.forward(x)
    dx = layer.backward(upstream(rng, y))
    assert (y.dtype, dx.dtype) == (dtype, dtype)
    assert dx.shape == x.shape
    assert layer.grads.keys() == layer.params.keys()
    for key, grad in layer.grads.items():
        assert (key, grad.dtype, grad.shape) == (key, dtype, layer.params[key].shape)


@pytest.mark.parametrize("name, shape", layer_shapes())
def test_read_only_arguments_are_left_alone(name, shape):
    layer, _ = make(name)
    x, rng = inputs(shape, np.float64, seed=3)
    y = layer.forward(frozen(x.copy()))
    dy = upstream(rng, y)
    x_in, dy_in = frozen(x.copy()), frozen(dy.copy())        # any write into them would raise
    y, dx, _ = run(layer, x_in, dy_in)
    assert y is not x_in and dx is not dy_in
    assert_identical(x_in, x, "x")
    assert_identical(dy_in, dy, "dy")


@pytest.mark.parametrize("name, shape", layer_shapes())
def test_writable_arguments_are_left_alone(name, shape):
    layer, _ = make(name)
    x, rng = inputs(shape, np.float64, seed=4)
    dy = upstream(rng, layer.forward(frozen(x.copy())))
    expected_y, expected_dx, _ = run(layer, frozen(x.copy()), frozen(dy.copy()))
    x_in, dy_in = x.copy(), dy.copy()
    y, dx, _ = run(layer, x_in, dy_in)
    assert not np.shares_memory(y, x_in) and not np.shares_memory(dx, dy_in)
    assert_identical(x_in, x, "x")
    assert_identical(dy_in, dy, "dy")
    assert_identical(y, expected_y, "y")                     # the same results as from read-only ones
    assert_identical(dx, expected_dx, "dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, shape", layer_shapes())
def test_every_memory_layout_gives_the_same_bits(name, shape, dtype):
    x, rng = inputs(shape, dtype, seed=5)
    layer, _ = make(name, dtype)
    dy = upstream(rng, layer.forward(frozen(x.copy())))
    expected_y, expected_dx, expected_grads = run(layer, LAYOUTS["C-contiguous"](x),
                                                  LAYOUTS["C-contiguous"](dy))
    for x_layout, dy_layout in itertools.product(LAYOUTS, repeat=2):
        layer, _ = make(name, dtype)
        y, dx, grads = run(layer, LAYOUTS[x_layout](x), LAYOUTS[dy_layout](dy))
        case = f"{name}: x {x_layout}, dy {dy_layout}"
        results = {"y": (y, expected_y), "dx": (dx, expected_dx)}
        results.update({key: (grads[key], expected_grads[key]) for key in expected_grads})
        for what, (actual, expected) in results.items():
            if what in BLAS_PRODUCTS.get(name, ()):
                assert_equal_but_for_rounding(actual, expected, max(shape), f"{case}: {what}")
            else:
                assert_identical(actual, expected, f"{case}: {what}")


def test_the_layouts_are_what_they_say():
    a = np.arange(12.0).reshape(3, 4)
    made = {name: layout(a) for name, layout in LAYOUTS.items()}
    for name, b in made.items():
        assert_identical(b, a, name)
        assert not np.shares_memory(b, a)
    assert made["C-contiguous"].flags.c_contiguous
    assert made["Fortran-ordered"].flags.f_contiguous and not made["Fortran-ordered"].flags.c_contiguous
    assert not made["every other row"].flags.c_contiguous and not made["every other row"].flags.f_contiguous
    assert made["every other column"].strides[-1] == 2 * a.itemsize
    assert made["last axis reversed"].strides[-1] < 0
    assert not made["read-only"].flags.writeable and made["read-only"].flags.c_contiguous


@pytest.mark.parametrize("name", LAYERS)
def test_backward_before_forward_raises_and_says_what_to_do(name):
    layer, shapes = make(name)
    with raises(RuntimeError, f"{layer!r}.backward()", "before forward()", "run forward") as caught:
        layer.backward(np.ones(shapes[0]))
    assert str(caught.value).startswith(repr(layer))          # the culprit comes first


@pytest.mark.parametrize("name, shape", layer_shapes())
def test_results_handed_out_are_never_changed_by_later_calls(name, shape):
    layer, _ = make(name)
    x1, rng = inputs(shape, np.float64, seed=6)
    x2, _ = inputs(shape, np.float64, seed=7)
    y1 = layer.forward(x1)
    dx1 = layer.backward(upstream(rng, y1))
    y1_before, dx1_before = y1.copy(), dx1.copy()
    y2 = layer.forward(x2)
    layer.backward(upstream(rng, y2))
    # grads are not checked: the contract lets backward overwrite its own gradient arrays
    assert_identical(y1, y1_before, "y of the first call")
    assert_identical(dx1, dx1_before, "dx of the first call")
