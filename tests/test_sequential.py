"""Sequential: chaining, the list interface, state dicts, and files that save atomically and load
safely."""

import json
import os
import zipfile

import numpy as np
import pytest

from checks.files import read_npz
from layers import Layer, LeakyReLU, Linear, ReLU, SoftmaxCrossEntropy, Tanh
from models import Sequential
from models.architecture import architecture, architecture_difference, describe
from models.savefile import read_architecture
from tests.helpers import (
    corrupted_member,
    foreign_npz,
    pickled_npz,
    raises,
    single_npy,
    truncated,
    two_layer,
    write_bytes,
    zip_of_text,
)

# Forward and backward are the layers' own, chained -----------------------------------------

def test_forward_and_backward_chain_the_layers_by_hand():
    model = two_layer()
    x = np.random.default_rng(1).standard_normal((5, 2))
    dy = np.random.default_rng(2).standard_normal((5, 3))
    h = model[1].forward(model[0].forward(x))
    expected_y = model[2].forward(h)
    expected_dx = model[0].backward(model[1].backward(model[2].backward(dy)))
    expected_grads = {p.name: p.grad.copy() for p in model.parameters()}
    np.testing.assert_array_equal(model.forward(x), expected_y)
    np.testing.assert_array_equal(model.backward(dy), expected_dx)
    for p in model.parameters():
        np.testing.assert_array_equal(p.grad, expected_grads[p.name])


def test_predict_returns_the_highest_scoring_class():
    model = Sequential(Linear(2, 3, rng=np.random.default_rng(0)))
    model[0].params["W"][...] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    x = np.array([[2.0, 1.0], [0.0, 3.0], [-1.0, -1.0]])
    np.testing.assert_array_equal(model.predict(x), [0, 1, 2])


def test_parameters_are_named_by_position_and_share_the_layers_arrays():
    model = two_layer()
    params = model.parameters()
    assert [p.name for p in params] == ["0.W", "0.b", "2.W", "2.b"]
    assert params[0].value is model[0].params["W"]
    assert params[0].grad is None


# The list interface -----------------------------------------------------------------------

def test_indexing_length_iteration_and_swapping():
    model = two_layer()
    assert len(model) == 3
    assert [type(layer).__name__ for layer in model] == ["Linear", "ReLU", "Linear"]
    assert model[-1] is model[2]
    model[1] = Tanh()
    assert isinstance(model[1], Tanh)
    model.insert(2, ReLU())
    model.append(Tanh())
    assert [type(layer).__name__ for layer in model] == ["Linear", "Tanh", "ReLU", "Linear", "Tanh"]
    del model[2]
    assert [type(layer).__name__ for layer in model[1:]] == ["Tanh", "Linear", "Tanh"]
    assert model.forward(np.ones((2, 2))).shape == (2, 3)


def test_repr_is_multiline_like_pytorch():
    assert repr(two_layer(hidden=1000)) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=1000, dtype=float64)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=1000, out_features=3, dtype=float64)\n"
        ")"
    )
    assert repr(Sequential()) == "Sequential()"


def test_the_same_layer_instance_twice_is_rejected():
    relu = ReLU()
    with raises(ValueError, "ReLU()", "already at position 1", "each position needs its own"):
        Sequential(Linear(2, 2, rng=np.random.default_rng(0)), relu, relu)
    model = Sequential(relu, Tanh())
    with raises(ValueError, "ReLU()", "already at position 0"):
        model[1] = relu
    with raises(ValueError, "ReLU()", "already at position 0"):
        model.insert(0, relu)
    model[0] = relu                          # putting a layer back where it is stays allowed


@pytest.mark.parametrize("bad, words", [
    (SoftmaxCrossEntropy(), ("position 0", "SoftmaxCrossEntropy()", "a loss", "keep it outside the model")),
    (3, ("position 0", "3 (type int)", "forward, backward and params/grads dicts")),
    (Sequential(ReLU()), ("cannot hold another Sequential",)),
])
def test_non_layers_are_rejected(bad, words):
    with raises(TypeError, *words):
        Sequential(bad)


def test_a_list_of_layers_gets_a_hint():
    with raises(TypeError, "Sequential(*layers)", "not a list"):
        Sequential([ReLU(), Tanh()])


def test_index_errors():
    model = two_layer()
    with raises(IndexError, "out of range"):
        model[3]
    with raises(TypeError, "integers"):
        model["0"]
    with raises(TypeError, "slice"):
        model[1:] = [ReLU()]
    with raises(IndexError, "insert position 5", "out of range for 3 layers"):
        model.insert(5, ReLU())
    with raises(TypeError, "float"):
        model.insert(1.5, ReLU())
    model.insert(3, ReLU())                   # at the end is allowed, as list.insert and PyTorch
    assert len(model) == 4
    del model[2:]                             # as a list, and PyTorch's Sequential
    assert len(model) == 2


# State dicts ------------------------------------------------------------------------------

def test_state_dict_is_a_copy_and_load_state_dict_copies_in_place():
    model = two_layer()
    state = model.state_dict()
    assert list(state) == ["0.W", "0.b", "2.W", "2.b"]
    state["0.W"][...] = 7.0
    assert not (model[0].params["W"] == 7.0).any()
    weight_array = model[0].params["W"]
    model.load_state_dict(state)
    assert model[0].params["W"] is weight_array            # the same array, now holding 7s
    assert (weight_array == 7.0).all()


def test_load_state_dict_keeps_the_models_dtype():
    model = two_layer(dtype=np.float32)
    model.load_state_dict(two_layer(seed=3).state_dict())   # float64 values
    assert model[0].params["W"].dtype == np.float32
    np.testing.assert_allclose(model[0].params["W"], two_layer(seed=3)[0].params["W"], rtol=1e-7)


def test_load_state_dict_is_strict_and_changes_nothing_on_failure():
    model = two_layer()
    before = model.state_dict()
    state = two_layer(seed=1).state_dict()
    del state["2.b"]
    state["4.W"] = np.zeros(1)
    state["0.W"] = np.zeros((3, 4))
    with raises(ValueError, "missing 2.b", "unexpected 4.W", "0.W has shape (3, 4)", "expected (2, 4)"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("value, words", [
    (np.full((2, 4), np.nan), ("0.W", "NaN or infinity", "float64")),
    (np.full((2, 4), "a"), ("0.W", "dtype <U1", "real numbers")),
    ([[1.0, 2.0], [3.0]], ("0.W", "not an array of numbers")),
])
def test_load_state_dict_rejects_unusable_values(value, words):
    model = two_layer()
    state = model.state_dict()
    state["0.W"] = value
    with raises(ValueError, *words):
        model.load_state_dict(state)


def test_a_value_that_overflows_the_models_dtype_is_rejected_before_any_change():
    model = two_layer(dtype=np.float32)
    before = model.state_dict()
    state = two_layer().state_dict()
    state["2.W"] = np.full((4, 3), 1e300)     # finite in float64, infinite in float32
    with raises(ValueError, "2.W", "NaN or infinity", "float32"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_needs_a_dict():
    with raises(TypeError, "load_state_dict", "dict of arrays", "got list"):
        two_layer().load_state_dict([])


# Files ------------------------------------------------------------------------------------

def test_save_and_load_round_trip(tmp_path):
    model = two_layer(seed=0)
    path = tmp_path / "model.npz"
    model.save(path)
    other = two_layer(seed=1)
    other.load(path)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, model.state_dict()[name])
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_failed_save_leaves_nothing_behind_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    two_layer(seed=0).save(path)
    old_bytes = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        two_layer(seed=1).save(path)
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == old_bytes


def test_save_into_a_missing_folder(tmp_path):
    with raises(FileNotFoundError, "cannot save", str(tmp_path / "nowhere"), "does not exist"):
        two_layer().save(tmp_path / "nowhere" / "model.npz")


def test_save_onto_a_folder(tmp_path):
    with raises(IsADirectoryError, "cannot save", str(tmp_path), "it is a folder", "give a file name"):
        two_layer().save(tmp_path)
    assert os.listdir(tmp_path) == []


def test_saving_keeps_the_files_permissions(tmp_path):
    path = tmp_path / "model.npz"
    two_layer().save(path)
    assert path.stat().st_mode & 0o077 != 0o077 and path.stat().st_mode & 0o600 == 0o600
    path.chmod(0o640)
    two_layer(seed=2).save(path)
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("make, words", [
    (lambda p: p, ("no such file",)),
    (lambda p: write_bytes(p, b""), ("the file is empty",)),
    (lambda p: write_bytes(p, b"hello, this is not numpy"), ("not an .npz file", "never unpickled")),
    (zip_of_text, ("entry 'format'", "not a NumPy array")),
    (truncated, ("not a readable .npz file",)),
    (corrupted_member, ("damaged or truncated",)),
    (foreign_npz, ("not a file saved by this project", "weights")),
    (single_npy, ("a single .npy array", "not an .npz archive")),
    (pickled_npz, ("pickled Python objects", "never loaded")),
])
def test_every_unusable_file_is_a_value_error_naming_it(tmp_path, make, words):
    model = two_layer()
    before = model.state_dict()
    path = make(tmp_path / "bad.npz")
    with raises(ValueError, "cannot load", str(path), *words):
        model.load(path)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_loading_other_sizes_names_the_first_field_that_differs_and_changes_nothing(tmp_path):
    path = tmp_path / "wide.npz"
    two_layer(hidden=8).save(path)
    model = two_layer(hidden=4)
    before = model.state_dict()
    with raises(ValueError, "cannot load", str(path), "another architecture", "layer 0", "out_features",
                "the file has 8", "this model has 4"):
        model.load(path)
    np.testing.assert_array_equal(model.state_dict()["0.W"], before["0.W"])


class Scale(Layer):
    """y = x ⊙ s, with no config(): only its weights can tell two of them apart."""

    def __init__(self, features):
        super().__init__()
        self.params["s"] = np.ones(features)
        self.grads["s"] = None


def test_weights_that_do_not_fit_an_architecture_that_agrees_are_named(tmp_path):
    path = tmp_path / "scale.npz"
    Sequential(Scale(3)).save(path)
    with raises(ValueError, "cannot load", str(path), "does not fit", "0.s", "shape (3,)", "expected (2,)"):
        Sequential(Scale(2)).load(path)


def test_a_folder_is_not_a_file(tmp_path):
    with raises(ValueError, str(tmp_path), "it is a folder", "not an .npz file"):
        two_layer().load(tmp_path)


def test_saved_files_are_plain_zip_archives_of_npy_arrays(tmp_path):
    path = tmp_path / "model.npz"
    two_layer().save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(
            ["format.npy", "architecture.npy",
             "model/0.W.npy", "model/0.b.npy", "model/2.W.npy", "model/2.b.npy"]
        )


def test_the_architecture_is_saved_as_json_one_object_per_layer(tmp_path):
    path = tmp_path / "model.npz"
    r = np.random.default_rng(0)
    Sequential(Linear(2, 5, rng=r, dtype=np.float32), LeakyReLU(0.25), Tanh()).save(path)
    arrays = read_npz(path)
    assert str(arrays["format"]) == "backprop-parts/2"
    assert json.loads(str(arrays["architecture"])) == [
        {"kind": "Linear", "in_features": 2, "out_features": 5, "dtype": "float32"},
        {"kind": "LeakyReLU", "negative_slope": 0.25},
        {"kind": "Tanh"},
    ]


def earlier_version_file(path):
    """A file as the previous version (format backprop-parts/1) wrote it: the architecture a repr string."""
    model = two_layer()
    np.savez(path, format=np.array("backprop-parts/1"), architecture=np.array(repr(model)),
             **{"model/" + name: value for name, value in model.state_dict().items()})
    return path


def file_with_architecture(path, text):
    """A file this version wrote, with its architecture entry replaced by ``text``."""
    two_layer().save(path)
    arrays = read_npz(path)
    arrays["architecture"] = np.array(text)
    np.savez(path, **arrays)
    return path


def test_a_file_of_the_earlier_format_names_both_formats(tmp_path):
    path = earlier_version_file(tmp_path / "old.npz")
    model = two_layer(seed=1)
    before = model.state_dict()
    with raises(ValueError, "cannot load", str(path), "format backprop-parts/1", "earlier version",
                "this version reads backprop-parts/2", "retrain", "load it with that version"):
        model.load(path)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    np.savez(path, format=np.array("backprop-parts/3"))
    with raises(ValueError, "format backprop-parts/3", "another version"):
        two_layer().load(path)


@pytest.mark.parametrize("text", ["Sequential(\n  (0): Linear(2, 4)\n)", "{", "[1, 2]", '{"kind": "ReLU"}',
                                  '[{"in_features": 2}]'])
def test_an_architecture_that_is_not_a_json_list_of_layers_is_a_damaged_file(tmp_path, text):
    model = two_layer(seed=1)
    before = model.state_dict()
    with raises(ValueError, "cannot load", str(tmp_path / "m.npz"), "damaged file",
                "architecture is not a JSON list of layers"):
        model.load(file_with_architecture(tmp_path / "m.npz", text))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    arrays = read_npz(tmp_path / "m.npz")
    del arrays["architecture"]
    np.savez(tmp_path / "m.npz", **arrays)
    with raises(ValueError, "damaged file"):
        model.load(tmp_path / "m.npz")


# A model's arrays and the caller's ----------------------------------------------------------

def test_the_callers_arrays_and_returned_results_are_never_changed_by_a_later_step():
    r = np.random.default_rng(0)
    model = Sequential(ReLU(), Linear(2, 4, rng=r), ReLU(), Linear(4, 3, rng=r), ReLU())
    x1, x2 = r.standard_normal((5, 2)), r.standard_normal((5, 2))
    dy1, dy2 = r.standard_normal((5, 3)), r.standard_normal((5, 3))
    x1_before, dy1_before = x1.copy(), dy1.copy()
    y1 = model.forward(x1)
    dx1 = model.backward(dy1)
    y1_before, dx1_before = y1.copy(), dx1.copy()
    model.forward(x2)
    model.backward(dy2)
    np.testing.assert_array_equal(x1, x1_before)
    np.testing.assert_array_equal(dy1, dy1_before)
    np.testing.assert_array_equal(y1, y1_before)
    np.testing.assert_array_equal(dx1, dx1_before)


# Errors say which layer ---------------------------------------------------------------------

def test_an_empty_model_refuses_to_run():
    for call in (Sequential().forward, Sequential().backward):
        with raises(ValueError, "no layers", "build it with some"):
            call(np.ones((2, 2)))


def test_a_layers_error_names_its_position_and_both_sizes():
    r = np.random.default_rng(0)
    model = Sequential(Linear(2, 3, rng=r), ReLU(), Linear(4, 2, rng=r))
    with raises(ValueError, "Linear(in_features=4, out_features=2", "[N x 4]", "(5, 3)",
                match=r"^model\[2\]: "):
        model.forward(np.ones((5, 2)))
    with raises(TypeError, "Linear(", "float64 weights", "float32 input", match=r"^model\[0\]: "):
        model.forward(np.ones((5, 2), dtype=np.float32))
    model = two_layer()
    model.forward(np.ones((5, 2)))
    with raises(ValueError, "dy", "last output (5, 3)", match=r"^model\[2\]: "):
        model.backward(np.ones((5, 4)))


def test_loading_a_file_of_another_architecture_says_which_layer_differs(tmp_path):
    path = tmp_path / "tanh.npz"
    r = np.random.default_rng(0)
    Sequential(Linear(2, 4, rng=r), Tanh(), Linear(4, 3, rng=r)).save(path)
    model = two_layer()                     # the same weight shapes, but ReLU where the file has Tanh
    before = model.state_dict()
    with raises(ValueError, "cannot load", str(path), "another architecture", "layer 1",
                "the file has Tanh", "this model has ReLU"):
        model.load(path)
    short = tmp_path / "short.npz"
    Sequential(Linear(2, 4, rng=r), Tanh()).save(short)            # the same weights, one layer fewer
    with raises(ValueError, str(short), "another architecture", "number of layers",
                "the file has 2", "this model has 3"):
        Sequential(Linear(2, 4, rng=r), Tanh(), ReLU()).load(short)
    with raises(ValueError, "number of layers", "the file has 3", "this model has 2"):
        Sequential(Linear(2, 4, rng=r), Tanh()).load(path)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_different_slope_is_another_architecture(tmp_path):
    r = np.random.default_rng(0)
    path = tmp_path / "leaky.npz"
    Sequential(Linear(2, 3, rng=r), LeakyReLU(0.1)).save(path)
    with raises(ValueError, "layer 1", "negative_slope", "the file has 0.1", "this model has 0.2"):
        Sequential(Linear(2, 3, rng=r), LeakyReLU(0.2)).load(path)


def test_a_different_dtype_is_another_architecture(tmp_path):
    path = tmp_path / "single.npz"
    two_layer(dtype=np.float32).save(path)
    with raises(ValueError, "layer 0", "dtype", "the file has float32", "this model has float64"):
        two_layer().load(path)                  # the weights would convert: only the architecture says no


def linear(n_in, n_out, **fields):
    return {"kind": "Linear", "in_features": n_in, "out_features": n_out, "dtype": "float64", **fields}


@pytest.mark.parametrize("saved, words", [                     # compared with two_layer(): 2 -> 4 -> 3
    ([linear(2, 4), {"kind": "ReLU"}], ("number of layers", "the file has 2", "this model has 3")),
    ([linear(2, 4)], ("number of layers", "the file has 1", "this model has 3")),
    ([linear(2, 4), {"kind": "Tanh"}, linear(4, 3)],
     ("layer 1", "the file has Tanh", "this model has ReLU")),
    ([linear(2, 4), {"kind": "ReLU"}, linear(4, 5)],
     ("layer 2", "out_features", "the file has 5", "this model has 3")),
    ([linear(2, 4, dtype="float32"), {"kind": "ReLU"}, linear(4, 3)],
     ("layer 0", "dtype", "the file has float32", "this model has float64")),
    ([{"kind": "Linear", "in_features": 2, "out_features": 4}, {"kind": "ReLU"}, linear(4, 3)],
     ("layer 0", "dtype", "the file has no dtype", "this model has float64")),
    ([linear(2, 4, bias=False), {"kind": "ReLU"}, linear(4, 3)],
     ("layer 0", "bias", "the file has False", "this model has no bias")),
    ([linear(2, 4), {"kind": "ReLU", "inplace": True}, linear(4, 3)], None),     # as files before 2026-12-06
    ([linear(2, 4), {"kind": "ReLU", "inplace": False}, linear(4, 3)], None),
    ([linear(2, 4), {"kind": "ReLU"}, linear(4, 3)], None),
])
def test_architectures_are_compared_field_by_field_without_inplace(saved, words):
    arrays = {"architecture": np.array(json.dumps(saved))}
    difference = architecture_difference(read_architecture("model.npz", arrays), two_layer())
    if words is None:
        assert difference is None
    else:
        assert all(word in difference for word in words), difference


def test_the_architecture_of_a_model_is_each_layers_kind_and_config():
    assert architecture(two_layer(hidden=6)) == [
        {"kind": "Linear", "in_features": 2, "out_features": 6, "dtype": "float64"},
        {"kind": "ReLU"},
        {"kind": "Linear", "in_features": 6, "out_features": 3, "dtype": "float64"},
    ]


def test_a_model_is_described_by_its_linear_layers_as_cs231n_counts_them():
    deep = [Linear(2, 100), Tanh(), Linear(100, 50), Tanh(), Linear(50, 50), Tanh(), Linear(50, 3)]
    assert describe(two_layer(hidden=1000)) == "2-layer MLP, 1000 ReLU units"    # the course's network
    assert describe(Sequential(*deep)) == "4-layer MLP, 3 x 50/100 Tanh units"     # train.py --depth 3
    assert describe(Sequential(Linear(2, 3))) == "linear classifier"


def test_a_call_order_error_inside_a_model_names_the_position_too():
    model = two_layer()
    with raises(RuntimeError, "Linear(", "backward()", "before forward()", match=r"^model\[2\]: "):
        model.backward(np.ones((5, 3)))
