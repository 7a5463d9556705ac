"""checks/files.py: a file is written whole or not at all, with the permissions a new file gets.

Saving and loading through ``model.save`` and checkpoints, and every unusable file, are tested in
test_sequential.py and test_faults.py.
"""

import os

import numpy as np
import pytest

from checks.files import is_temporary, read_npz, write_atomically, write_npz
from tests.helpers import raises


@pytest.mark.skipif(os.name != "posix", reason="the umask is POSIX")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask_and_a_replaced_one_keeps_its_mode(tmp_path, umask, mode):
    path = tmp_path / "notes.txt"
    before = os.umask(umask)
    try:
        write_atomically(path, lambda file: file.write(b"first"))
        assert path.stat().st_mode & 0o777 == mode
        path.chmod(0o600)
        write_atomically(path, lambda file: file.write(b"second"))
    finally:
        os.umask(before)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes() == b"second"


def test_while_writing_only_a_temporary_file_named_for_its_target_exists(tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes(b"old")
    seen = []

    def write(file):
        seen.extend(sorted(os.listdir(tmp_path)))
        assert path.read_bytes() == b"old"          # the target is untouched until the rename
        file.write(b"new")

    write_atomically(path, write)
    assert len(seen) == 2 and seen[1] == "history.csv"
    assert is_temporary(seen[0], "history.csv") and not is_temporary(seen[0], "loss.png")
    assert os.listdir(tmp_path) == ["history.csv"] and path.read_bytes() == b"new"
    # a user's file of a similar shape is not one: a run removes only its own temporary files
    for name in (".history.csv.mydata.tmp", ".history.csv.0123abcd.tmp", ".history.csv.backprop-x.tmp"):
        assert not is_temporary(name, "history.csv"), name


def test_npz_round_trip_and_python_objects_are_refused(tmp_path):
    arrays = {"format": np.array("x"), "model/0.W": np.arange(6.0).reshape(2, 3)}
    write_npz(tmp_path / "a.npz", arrays)
    read = read_npz(tmp_path / "a.npz")
    assert read.keys() == arrays.keys()
    np.testing.assert_array_equal(read["model/0.W"], arrays["model/0.W"])
    with raises(TypeError, str(tmp_path / "b.npz"), "'config'", "pickling"):
        write_npz(tmp_path / "b.npz", {"config": np.array([{"a": 1}], dtype=object)})
    assert os.listdir(tmp_path) == ["a.npz"]
