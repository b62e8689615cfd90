"""Atomic writes: complete files with ordinary permissions, nothing left behind on failure."""

import os

import numpy as np
import pytest

from topoae._io import atomic_write_bytes, save_npz, write_json


def test_atomic_write_replaces_and_sets_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    write_json(target, {"a": 1})

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_json(target, {"a": 2})
    assert '"a": 1' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_npz_and_numpy_values_round_trip(tmp_path):
    save_npz(tmp_path / "a.npz", x=np.arange(3))
    with np.load(tmp_path / "a.npz") as data:
        np.testing.assert_array_equal(data["x"], [0, 1, 2])
    write_json(tmp_path / "b.json", {"v": np.float32(1.5), "arr": np.arange(2)})
    assert '"v": 1.5' in (tmp_path / "b.json").read_text()


def test_remove_temporaries_takes_only_killed_writes(tmp_path):
    import tempfile

    from topoae._io import TEMPORARY_NAME, remove_temporaries

    _, left = tempfile.mkstemp(prefix=".model.pt.", suffix=".tmp", dir=tmp_path)  # as a kill
    assert TEMPORARY_NAME.match(os.path.basename(left))
    keep = ["model.pt", "notes.tmp", ".model.pt.tmp", ".a.toolong123.tmp"]
    for name in keep:
        (tmp_path / name).write_text("x")
    (tmp_path / ".sub.abcdefgh.tmp").mkdir()  # a folder, not a temporary file
    assert [p.name for p in remove_temporaries(tmp_path)] == [os.path.basename(left)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, ".sub.abcdefgh.tmp"])
