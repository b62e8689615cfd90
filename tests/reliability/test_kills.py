"""SIGKILL at every atomic write, then a rerun: the same files as an uninterrupted run.

The pattern for ``topoae train`` / ``compare`` once wired: the writer here is a stand-in that
writes through RunFolder (lock, manifest), JSON, npz and a checked torch file, resuming from
what it finds, as a run resumes from its checkpoint.
"""

import numpy as np
from fuzz import run_killed_at_write

from topoae._io import TEMPORARY_NAME, save_npz, write_json
from topoae._lock import RunFolder, holder, read_manifest, verify_manifest
from topoae._safe_files import read_json


def writer(path: str) -> None:
    """Three steps, each one file; a step already on disk is not redone."""
    with RunFolder(path, "train", command="writer") as folder:
        for step in range(3):
            name = f"step{step}.json"
            if name in folder.manifest["files"]:
                continue
            rng = np.random.default_rng(step)
            save_npz(folder.path / f"step{step}.npz", x=rng.normal(size=(50, 3)))
            write_json(folder.path / name, {"step": step, "mean": float(rng.normal())})
            folder.record(f"step{step}.npz", name)
        folder.mark_complete()


def _contents(path):
    return {
        p.name: p.read_bytes()
        for p in sorted(path.iterdir())
        if p.name not in (".lock", "manifest.json")
    }


def test_kill_at_every_write_then_rerun_gives_the_same_run(tmp_path):
    writer(str(tmp_path / "clean"))
    expected = _contents(tmp_path / "clean")
    kills = 0
    for when in ("before", "after"):
        n = 0
        while True:
            run = tmp_path / f"{when}-{n}"
            if not run_killed_at_write(writer, (str(run),), n, when):
                break
            kills += 1
            assert holder(run) is None  # the kernel released the dead writer's lock
            writer(str(run))  # rerun: resumes
            assert not any(TEMPORARY_NAME.match(p.name) for p in run.iterdir())
            assert _contents(run) == expected, (when, n)
            assert read_manifest(run)["state"] == "complete"
            verify_manifest(run)
            n += 1
    # 1 manifest at entry, per step npz + json + manifest, 1 manifest at the end
    assert kills == 2 * (1 + 3 * 3 + 1)
    assert read_json(tmp_path / "clean" / "step2.json")["step"] == 2
