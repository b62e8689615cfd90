"""Run folders: one writer, released on SIGKILL, kinds kept apart, whole-run overwrite."""

import json
import multiprocessing
import os
import signal
import socket

import pytest
from fuzz import byte_mutations, swap_files

from topoae._io import atomic_write_bytes, write_json
from topoae._lock import RunFolder, holder, read_manifest, verify_manifest
from topoae.errors import DataFileError, RunFolderError

CONTEXT = multiprocessing.get_context("spawn")


def _hold(path, kind, ready, release):
    with RunFolder(path, kind, command="topoae train --out somewhere"):
        ready.set()
        release.wait(60)


def _start_holder(path, kind="train"):
    ready, release = CONTEXT.Event(), CONTEXT.Event()
    process = CONTEXT.Process(target=_hold, args=(str(path), kind, ready, release))
    process.start()
    assert ready.wait(60), "the holder did not start"
    return process, release


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    process, release = _start_holder(tmp_path / "run")
    try:
        pattern = rf"being written by another topoae process \(pid {process.pid} on "
        pattern += rf"{socket.gethostname()} since .*, command: topoae train --out somewhere\)"
        with pytest.raises(RunFolderError, match=pattern):
            with RunFolder(tmp_path / "run", "train"):
                pass
        assert f"pid {process.pid}" in holder(tmp_path / "run")
    finally:
        release.set()
        process.join(60)
    assert process.exitcode == 0
    assert holder(tmp_path / "run") is None
    with RunFolder(tmp_path / "run", "train"):  # free again after a clean exit
        pass


def test_lock_released_when_the_holder_is_killed(tmp_path):
    process, _ = _start_holder(tmp_path / "run")
    os.kill(process.pid, signal.SIGKILL)
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    assert holder(tmp_path / "run") is None
    with RunFolder(tmp_path / "run", "train") as folder:
        assert folder.manifest["kind"] == "train"


def test_kinds_do_not_mix(tmp_path):
    with RunFolder(tmp_path / "run", "train") as folder:
        write_json(folder.path / "config.json", {"a": 1})
        folder.record("config.json")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match=r"holds a train run; `topoae compare` does"):
            with RunFolder(tmp_path / "run", "compare", overwrite=overwrite):
                pass
    assert (tmp_path / "run" / "config.json").exists()
    legacy = tmp_path / "old-compare"
    write_json(legacy / "results.json", {})  # written before manifests existed
    with pytest.raises(RunFolderError, match="holds a compare run"):
        with RunFolder(legacy, "train"):
            pass


def _write_run(folder, names, content):
    for name in names:
        atomic_write_bytes(folder.path / name, content)
    folder.record(*names)
    folder.mark_complete()


def test_overwrite_leaves_no_old_file(tmp_path):
    with RunFolder(tmp_path / "run", "train") as folder:
        _write_run(folder, ["model.pt", "snapshots.npz", "sub/embedding.csv"], b"old")
    with RunFolder(tmp_path / "run", "train", overwrite=True) as folder:
        assert sorted(p.name for p in folder.path.iterdir()) == [".lock", "manifest.json"]
        assert folder.manifest["files"] == {} and folder.manifest["state"] == "writing"
        _write_run(folder, ["model.pt"], b"new")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".lock",
        "manifest.json",
        "model.pt",
    ]
    assert list(read_manifest(tmp_path / "run")["files"]) == ["model.pt"]
    verify_manifest(tmp_path / "run")


def test_interrupted_overwrite_is_finished_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    with RunFolder(run, "train") as folder:
        _write_run(folder, ["model.pt", "snapshots.npz"], b"old")
    manifest = read_manifest(run)
    write_json(run / "manifest.json", {**manifest, "state": "overwriting"})  # killed here
    (run / ".trash-20260101T000000Z").mkdir()
    os.replace(run / "model.pt", run / ".trash-20260101T000000Z" / "model.pt")
    with RunFolder(run, "train") as folder:  # even without --overwrite
        assert sorted(p.name for p in run.iterdir()) == [".lock", "manifest.json"]
        assert folder.manifest["state"] == "writing"


def test_overwrite_refuses_a_folder_topoae_did_not_write(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(RunFolderError, match=r"holds files topoae did not write \(mine\.txt"):
        with RunFolder(tmp_path, "train", overwrite=True):
            pass
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_temporaries_of_killed_writes_are_cleaned(tmp_path):
    run = tmp_path / "run"
    (run / "runs" / "pca").mkdir(parents=True)
    leftovers = [run / ".model.pt.k2j4_x9a.tmp", run / "runs" / "pca" / ".a.npz.abcdefgh.tmp"]
    keep = [run / "notes.tmp", run / ".hidden", run / "runs" / "pca" / "table.md"]
    for file in leftovers + keep:
        file.write_bytes(b"x")
    busy = run / "runs" / "busy"
    process, release = _start_holder(busy)
    (busy / ".b.json.12345678.tmp").write_bytes(b"live")  # another writer's, still writing
    try:
        with RunFolder(run, "compare"):
            assert not any(f.exists() for f in leftovers)
            assert all(f.exists() for f in keep)
            assert (busy / ".b.json.12345678.tmp").exists()
    finally:
        release.set()
        process.join(60)


def test_manifest_detects_every_change(tmp_path):
    run = tmp_path / "run"
    with RunFolder(run, "train") as folder:
        atomic_write_bytes(run / "model.pt", bytes(range(256)) * 4)
        write_json(run / "summary.json", {"best_epoch": 3, "kl": 0.25})
        folder.record("model.pt", "summary.json")
    verify_manifest(run)
    count = 0
    for name in ("model.pt", "summary.json"):
        original = (run / name).read_bytes()
        for _, damaged in byte_mutations(original, seed=4, n=200):
            (run / name).write_bytes(damaged)
            with pytest.raises(DataFileError, match=rf"{name}: changed since the run wrote it"):
                verify_manifest(run)
            count += 1
        (run / name).write_bytes(original)
    swap_files(run / "model.pt", run / "summary.json")
    with pytest.raises(DataFileError, match="changed since"):
        verify_manifest(run)
    (run / "model.pt").unlink()
    with pytest.raises(DataFileError, match="missing, though the run wrote it"):
        verify_manifest(run, ["model.pt"])
    with pytest.raises(DataFileError, match="the run did not write it"):
        verify_manifest(run, ["snapshots.npz"])
    assert count == 400


def test_damaged_manifest_and_unusable_paths(tmp_path):
    with RunFolder(tmp_path / "run", "train"):
        pass
    manifest = tmp_path / "run" / "manifest.json"
    for text in ("{", "[]", json.dumps({"kind": "tune", "state": "writing", "files": {}})):
        manifest.write_text(text)
        with pytest.raises(DataFileError, match=r"manifest\.json: damaged or not a topoae"):
            with RunFolder(tmp_path / "run", "train"):
                pass
    with RunFolder(tmp_path / "run", "train", overwrite=True) as folder:  # the way out
        assert folder.manifest["files"] == {}
    assert read_manifest(tmp_path / "run")["kind"] == "train"
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        RunFolder(tmp_path / "file", "train").__enter__()
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(RunFolderError, match="Cannot write into"):
            RunFolder(locked / "run", "train").__enter__()
