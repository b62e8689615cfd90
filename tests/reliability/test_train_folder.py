"""``topoae train`` and ``compare`` on their folders: overwrite, refusals, kinds, leftovers."""

from __future__ import annotations

import contextlib
import io

import pytest

import topoae.cli.train as train_cli
from topoae.cli import main

TRAIN = ["--dataset", "digits", "--epochs", "1"]


def cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(["-q", *argv])
    assert "Traceback" not in err.getvalue()
    return status, err.getvalue().strip()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("made") / "run"
    assert cli("train", *TRAIN, "--snapshot-every", "20", "--out", str(out))[0] == 0
    return out


def test_overwrite_replaces_the_whole_run(run, tmp_path):
    import shutil

    from topoae._lock import read_manifest, verify_manifest

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / ".model.pt.abcd1234.tmp").write_bytes(b"left by a killed write")
    assert (copy / "snapshots.npz").exists()
    assert cli("train", *TRAIN, "--seed", "3", "--out", str(copy), "--overwrite")[0] == 0
    assert not (copy / "snapshots.npz").exists()  # the old run's, gone with it
    assert not (copy / ".model.pt.abcd1234.tmp").exists()
    assert read_manifest(copy)["state"] == "complete"
    assert "snapshots.npz" not in read_manifest(copy)["files"]
    verify_manifest(copy)


def test_refusals_are_one_line_and_come_before_any_data_is_loaded(run, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the data set was loaded before the refusal")

    monkeypatch.setattr(train_cli, "load_dataset", never)
    (tmp_path / "file").write_text("x")
    cases = {
        "--resume continues the run": ["--out", str(run), "--resume", "--overwrite"],
        "already holds a run": ["--out", str(run)],
        "is a file, not a folder": ["--out", str(tmp_path / "file")],
        "Cannot write into": ["--out", "/proc/no-such-folder/run"],
    }
    for message, argv in cases.items():
        status, err = cli("train", *TRAIN, *argv)
        assert status == 2 and message in err and len(err.splitlines()) == 1, (argv, err)


def test_compare_and_train_refuse_each_others_folders(run, tmp_path):
    compare = ["--methods", "pca", "--seeds", "1", "--dataset", "digits", "--no-figure"]
    status, err = cli("compare", *compare, "--out", str(run))
    assert status == 2 and "holds a train run" in err
    assert cli("compare", *compare, "--out", str(tmp_path / "cmp"))[0] == 0
    status, err = cli("train", *TRAIN, "--out", str(tmp_path / "cmp"), "--overwrite")
    assert status == 2 and "holds a compare run" in err
