"""``topoae train`` SIGKILLed at every file write, then ``--resume``: the uninterrupted run.

Also: two ``topoae train`` processes aimed at one ``--out``: the second is refused, naming
the first. ``TOPOAE_FUZZ_EXHAUSTIVE=1`` also kills just after each write (not only before).
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import time

import numpy as np
from fuzz import run_killed_at_write

from topoae._io import TEMPORARY_NAME
from topoae._lock import holder, read_manifest, verify_manifest
from topoae._safe_files import load_checked_torch, read_json
from topoae.cli import main

ARGS = ["--dataset", "digits", "--epochs", "2", "--snapshot-every", "20"]
WHEN = ("before", "after") if os.environ.get("TOPOAE_FUZZ_EXHAUSTIVE") == "1" else ("before",)


def train(out: str, *extra: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["-q", "train", *ARGS, "--out", out, *extra])


def resume(out: str) -> None:
    assert train(out, "--resume") == 0


def results(path) -> dict:
    """What a run computed (not how long it took): weights, embeddings, history, snapshots."""
    model = load_checked_torch(path / "model.pt", kind="run model")["state_dict"]
    checkpoint = load_checked_torch(path / "checkpoint.pt", kind="training checkpoint")
    arrays = {f"model.{k}": v.numpy().tobytes() for k, v in model.items()}
    arrays.update({f"last.{k}": v.numpy().tobytes() for k, v in checkpoint["model"].items()})
    for name in ("embedding_test", "snapshots"):
        with np.load(path / f"{name}.npz", allow_pickle=False) as data:
            arrays.update({f"{name}.{k}": data[k].tobytes() for k in data.files})
    history = read_json(path / "history.json", expect=list)
    arrays["history"] = [{k: v for k, v in r.items() if k != "seconds"} for r in history]
    return arrays


def test_kill_at_every_write_then_resume_gives_the_uninterrupted_run(tmp_path):
    resume(str(tmp_path / "clean"))
    expected = results(tmp_path / "clean")
    kills = 0
    for when in WHEN:
        n = 0
        while True:
            run = tmp_path / f"{when}-{n}"
            if not run_killed_at_write(resume, (str(run),), n, when):
                break
            kills += 1
            assert holder(run) is None  # the kernel released the dead writer's lock
            resume(str(run))
            assert not any(TEMPORARY_NAME.match(p.name) for p in run.iterdir())
            assert results(run) == expected, (when, n)
            assert read_manifest(run)["state"] == "complete"
            verify_manifest(run)
            n += 1
    # the manifest at entry, config.json before training (a resume on a file reloads from it),
    # 2 checkpoints, 8 run files, the manifest's record and completion
    assert kills == len(WHEN) * (1 + 1 + 2 + 8 + 2)
    print(f"train killed at each of {kills} writes: all resumed to the uninterrupted run")


def _slow_train(out: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["-q", "train", *ARGS[:2], "--epochs", "100000", "--patience", "100000", "--out", out])


def test_second_concurrent_train_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "run"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["topoae", "fuzz"])
    first = context.Process(target=_slow_train, args=(str(out),))
    first.start()
    try:
        deadline = time.monotonic() + 300
        while holder(out) is None and first.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder(out) is not None, "the first train never took the lock"
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = main(["-q", "train", *ARGS, "--out", str(out)])
        assert status == 2
        message = err.getvalue().strip()
        assert "being written by another topoae process" in message
        assert f"pid {first.pid}" in message and len(message.splitlines()) == 1
        assert "Traceback" not in message
    finally:
        first.kill()
        first.join()
    assert holder(out) is None  # released by its death
