"""load_csv's labels: a named column, text labels, given classes, files without labels."""

import numpy as np
import pytest

from data import load_csv
from tests.helpers import raises

IRIS = ("sepal,target , petal\n"
        "5.1, setosa ,1.4\n"
        "6.3,virginica,6.0\n"
        "5.9,versicolor,4.2\n"
        "4.9,setosa,1.3\n"
        "6.5,virginica,5.8\n")


def write(tmp_path, text, name="points.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_text_labels_in_a_named_column_are_numbered_in_sorted_order(tmp_path):
    X, y, classes = load_csv(write(tmp_path, IRIS), label_column="target", return_classes=True)
    assert classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(y, [0, 2, 1, 0, 2])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X, [[5.1, 1.4], [6.3, 6.0], [5.9, 4.2], [4.9, 1.3], [6.5, 5.8]])
    assert [classes[k] for k in y] == ["setosa", "virginica", "versicolor", "setosa", "virginica"]


def test_a_data_line_with_a_text_label_is_not_taken_for_a_header(tmp_path):
    X, y, classes = load_csv(write(tmp_path, "0.5,1,dog\n-1,2,cat\n3,4,dog\n"), return_classes=True)
    assert X.shape == (3, 2) and classes == ["cat", "dog"]
    np.testing.assert_array_equal(y, [1, 0, 1])
    X, y = load_csv(write(tmp_path, "x1,x2,label\n0.5,1,dog\n-1,2,cat\n"))
    np.testing.assert_array_equal(X, [[0.5, 1], [-1, 2]])
    np.testing.assert_array_equal(y, [1, 0])


@pytest.mark.parametrize("text", ["x1,x2,label\n0.5,1,0\n-1,0.2,2\n3,4,1\n", "0.5,1,0\n-1,0.2,2\n3,4,1\n"])
def test_numeric_labels_are_unchanged_and_their_classes_are_named_by_number(tmp_path, text):
    X, y = load_csv(write(tmp_path, text))
    np.testing.assert_array_equal(y, [0, 2, 1])
    _, y3, classes = load_csv(write(tmp_path, text), return_classes=True)
    np.testing.assert_array_equal(y3, y)
    assert classes == ["0", "1", "2"]


def test_without_a_header_the_last_column_holds_the_labels_whatever_label_column_says(tmp_path):
    X, y = load_csv(write(tmp_path, "0.5,1,b\n-1,2,a\n"), label_column="target")
    np.testing.assert_array_equal(X, [[0.5, 1], [-1, 2]])
    np.testing.assert_array_equal(y, [1, 0])


def test_given_classes_map_labels_to_their_position_even_with_a_class_missing(tmp_path):
    test_file = write(tmp_path, "sepal,target,petal\n6.1,virginica,5.0\n5.0,setosa,1.5\n")
    X, y, classes = load_csv(test_file, label_column="target", return_classes=True,
                             classes=["setosa", "versicolor", "virginica"])
    np.testing.assert_array_equal(y, [2, 0])
    assert classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(X, [[6.1, 5.0], [5.0, 1.5]])
    # the classes of one file read another: the same name gets the same number
    train = write(tmp_path, IRIS, "train.csv")
    _, _, train_classes = load_csv(train, label_column="target", return_classes=True)
    _, y = load_csv(test_file, label_column="target", classes=train_classes)
    np.testing.assert_array_equal(y, [2, 0])


def test_given_classes_map_numeric_labels_by_their_text_and_2_0_is_2(tmp_path):
    path = write(tmp_path, "0.5,1,2.0\n-1,2, 0\n3,4,2\n5,6,1e0\n")
    _, y = load_csv(path, classes=["0", "1", "2"])
    np.testing.assert_array_equal(y, [2, 0, 2, 1])
    _, y = load_csv(path, classes=["2", "1", "0"])          # positions, not values
    np.testing.assert_array_equal(y, [0, 2, 0, 1])
    _, y, classes = load_csv(write(tmp_path, "1,2,0\n3,4,2.0\n5,6,1.00\n"), return_classes=True)
    np.testing.assert_array_equal(y, [0, 2, 1])
    assert classes == ["0", "1", "2"]
    with raises(ValueError, "line 2", "'2' is a number", "'cat' a text"):   # a typo among names, or a mix
        load_csv(write(tmp_path, "1,2,cat\n3,4,2.0\n5,6,2\n"))
    _, y = load_csv(write(tmp_path, "1,2,cat\n3,4,2.0\n5,6,2\n"), classes=["2", "cat"])    # named: fine
    np.testing.assert_array_equal(y, [1, 0, 0])


def test_a_label_outside_the_given_classes_is_named_with_its_line_and_the_classes(tmp_path):
    with raises(ValueError, "points.csv", "line 4", "'virginica'", "setosa, versicolor"):
        load_csv(write(tmp_path, "x,target\n1,setosa\n2,versicolor\n3,virginica\n"), label_column="target",
                 classes=["setosa", "versicolor"])
    with raises(ValueError, "line 2", "'3'", "0, 1, 2"):
        load_csv(write(tmp_path, "1,2,0\n1,2,3.0\n"), classes=["0", "1", "2"])


@pytest.mark.parametrize("text", ["x1,x2,x3\n0.5,1,2\n-1,0.2,0\n", "0.5,1,2\n-1,0.2,0\n"])
def test_label_column_none_reads_every_column_as_a_coordinate(tmp_path, text):
    X = load_csv(write(tmp_path, text), label_column=None, dtype=np.float32)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32
    np.testing.assert_array_equal(X, np.array([[0.5, 1, 2], [-1, 0.2, 0]], dtype=np.float32))


@pytest.mark.parametrize("text, kwargs, words", [
    ("x1,x2,label\n0.5,1,0\n", dict(label_column="target"),
     ("points.csv", "no column named 'target'", "x1, x2, label", "label_column")),
    ("x1,x2,class\n0.5,1,0\n", {}, ("no column named 'label'", "x1, x2, class", "label_column")),
    ("x1,x2,label\n0.5,1,cat\n0.5,abc,dog\n", {},
     ("line 3", "column 2", "x2", "'abc'", "not a finite number")),
    ("x1,x2,label\n0.5,1,cat\n0.5,1, \n", {}, ("line 3", "column 3", "label", "''", "class label")),
    ("0.5,1,cat\n0.5,inf,dog\n", {}, ("line 2", "column 2", "'inf'", "not a finite number")),
    ("0.5,1,cat\n0.5,1,dog\n", dict(classes=["cat", "cat"]), ("classes", "distinct")),
])
def test_label_errors_name_the_culprit(tmp_path, text, kwargs, words):
    with raises(ValueError, *words):
        load_csv(write(tmp_path, text), **kwargs)
