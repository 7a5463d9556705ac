"""The other toy data sets (moons, circles, XOR) against their formulas, and a learner's CSV file."""

import warnings

import numpy as np
import pytest

from data import load_csv, make_circles, make_moons, make_xor
from tests.helpers import raises

GENERATORS = [make_moons, make_circles, make_xor]


def test_moons_without_noise_follow_the_formula_by_hand():
    X, y = make_moons(3, noise=0.0, rng=0)
    # t = 0, π/2, π: the upper arc (cos t, sin t), the lower one (1 − cos t, 1/2 − sin t)
    expected = [[1, 0], [0, 1], [-1, 0], [0, 0.5], [1, -0.5], [2, 0.5]]
    np.testing.assert_allclose(X, expected, atol=1e-15)
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])


def test_circles_without_noise_lie_on_rings_of_radius_c_plus_1_over_k():
    X, y = make_circles(4, 3, noise=0.0, rng=0)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), np.repeat([1 / 3, 2 / 3, 1.0], 4), rtol=1e-15)
    np.testing.assert_allclose(X[:4], [[1 / 3, 0], [0, 1 / 3], [-1 / 3, 0], [0, -1 / 3]], atol=1e-15)
    np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 4))


def test_xor_without_noise_is_the_sign_rule_and_covers_all_four_quadrants():
    X, y = make_xor(50, noise=0.0, rng=3)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    quadrants = {(bool(a > 0), bool(b > 0)) for a, b in X}
    assert len(quadrants) == 4 and np.abs(X).max() <= 1.0


@pytest.mark.parametrize("make", GENERATORS)
def test_noise_is_added_as_drawn_from_the_generator(make):
    clean, _ = make(30, noise=0.0, rng=np.random.default_rng(5))
    noisy, y = make(30, noise=0.3, rng=np.random.default_rng(5))
    moved = noisy - clean
    assert moved.std() == pytest.approx(0.3, rel=0.15)       # 60 x 2 draws of 0.3 · N(0, 1)
    assert X_and_y_contract(noisy, y, 2 * 30)
    np.testing.assert_array_equal(make(30, noise=0.3, rng=5)[0], noisy)   # an int seed, the same points


@pytest.mark.parametrize("make", GENERATORS)
def test_a_noise_whose_draws_overflow_the_dtype_is_refused_by_name_not_warned(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # NumPy's overflow warning on the cast must not come first
        with raises(ValueError, "noise", "1e+39", "float32"):
            make(10, noise=1e39, rng=0, dtype=np.float32)
    assert np.isfinite(make(10, noise=1e30, rng=0, dtype=np.float32)[0]).all()


def X_and_y_contract(X, y, n) -> bool:
    return X.shape == (n, 2) and X.dtype == np.float64 and y.shape == (n,) and y.dtype == np.int64


@pytest.mark.parametrize("make", GENERATORS)
def test_dtype_and_global_state(make):
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    assert make(5, rng=None, dtype=np.float32)[0].dtype == np.float32
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(n_per_class=0), ValueError, ("n_per_class", "positive int", "0")),
    (dict(noise=-1.0), ValueError, ("noise", "-1.0", ">= 0")),
    (dict(rng="0"), TypeError, ("rng", "np.random.Generator")),
    (dict(dtype=np.int64), TypeError, ("dtype", "np.float64")),
])
def test_argument_errors(make, kwargs, error, words):
    with raises(error, *words):
        make(**kwargs)


def write(tmp_path, text: str, name="points.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ["x1,x2,label\n0.5,1,0\n-1,2e-1,1\n\n3,4,2\n",
                                  "label, a , b\n0,0.5,1\n1,-1,0.2\n2,3,4\n",
                                  "0.5,1,0\n-1,0.2,1\n3,4,2\n"])
def test_csv_files_read_with_or_without_a_header(tmp_path, text):
    X, y = load_csv(write(tmp_path, text))
    np.testing.assert_array_equal(X, [[0.5, 1], [-1, 0.2], [3, 4]])
    np.testing.assert_array_equal(y, [0, 1, 2])
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_csv_of_more_than_two_coordinates_and_float32(tmp_path):
    X, y = load_csv(write(tmp_path, "1,2,3,4,1\n5,6,7,8,0\n"), dtype=np.float32)
    assert X.shape == (2, 4) and X.dtype == np.float32 and y.tolist() == [1, 0]


@pytest.mark.parametrize("text, error, words", [
    (None, FileNotFoundError, ("missing.csv", "no such file")),
    ("", ValueError, ("points.csv", "empty")),
    ("x1,x2,label\n\n", ValueError, ("points.csv", "empty")),
    ("x1,x2,label\n0.5,1,0\n0.5,abc,1\n", ValueError, ("points.csv", "line 3", "column 2", "x2", "'abc'",
                                                        "not a finite number")),
    ("0.5,1,0\n0.5,nan,1\n", ValueError, ("line 2", "column 2", "'nan'")),
    ("x1,x2,class\n0.5,1,0\n", ValueError, ("points.csv", "no column named 'label'", "x1, x2, class")),
    ("label\n0\n1\n", ValueError, ("only the label column",)),
    ("0.5,1,0\n0.5,1\n", ValueError, ("line 2", "2 cells", "expected 3")),
    ("0.5,1,0\n0.5,1,0.5\n", ValueError, ("line 2", "label 0.5", "whole number")),
    ("0.5,1,0\n0.5,1,2\n", ValueError, ("labels are 0, 2", "0 … K−1")),
    ("0.5,1,1\n0.5,1,2\n", ValueError, ("labels are 1, 2", "numbered from 1: subtract 1")),
    ("0.5,1,-1\n0.5,1,0\n", ValueError, ("labels are -1, 0", "0 … K−1")),
    ("0.5,1,0\n0.5,1,1e18\n", ValueError, ("labels are 0, 1e+18", "0 … K−1")),        # no array of 1e18
    ("0.5,1,0\n0.5,1,-1e300\n", ValueError, ("labels are -1e+300, 0", "0 … K−1")),    # not cast to int64
    ("x1,x2,label\n0.5," + "1" * 131_073 + ",0\n", ValueError, ("points.csv", "line 2",
                                                               "not a line of CSV cells", "field limit")),
])
def test_csv_errors_name_the_file_the_place_and_the_expectation(tmp_path, text, error, words):
    path = tmp_path / "missing.csv" if text is None else write(tmp_path, text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a RuntimeWarning of a cast would be a bug
        with raises(error, *words):
            load_csv(path)


def test_a_csv_path_too_long_for_the_file_system_is_one_clear_error(tmp_path):
    with raises(ValueError, "cannot load", "the path is too long for the file system", "at most 255"):
        load_csv(tmp_path / ("x" * 300 + ".csv"))
