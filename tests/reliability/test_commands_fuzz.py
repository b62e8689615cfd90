"""Every reading command on damaged copies of a real run folder and a real comparison folder.

The folders are made by the commands themselves (``topoae train --epochs 2`` and ``topoae
compare --methods pca,ae --epochs 1 --seeds 1`` on digits). Each damaged copy (one file
truncated, bit-flipped, zeroed, extended, re-typed, or two files swapped) goes through every
command that reads it, in process, through ``topoae.cli.main``. Clean means: exit status 2
with a one-line ``topoae CMD: error:`` message, never a traceback; a command that does not
read the damaged file, or a manifest damaged in a way its schema accepts, may also succeed.

By default each file of the run folder gets 4 byte mutations (one of each kind: truncation,
bit flip, zeroed run, appended junk) and each JSON file 4 re-typings; the comparison folder's
files get 2 of each. ``TOPOAE_FUZZ_EXHAUSTIVE=1`` runs 20 and 10 (5 times the cases).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import traceback
from collections import Counter
from pathlib import Path

import pytest
from fuzz import folder_mutations, planted_files

from topoae.cli import main

EXHAUSTIVE = os.environ.get("TOPOAE_FUZZ_EXHAUSTIVE") == "1"
PER_FILE = 20 if EXHAUSTIVE else 4
TRAIN = ["--dataset", "digits", "--epochs", "2", "--snapshot-every", "20"]
COMPARE = ["--methods", "pca,ae", "--epochs", "1", "--seeds", "1", "--dataset", "digits"]
COMPARE += ["--no-figure"]


def cli(*argv: str) -> tuple[int | str, str]:
    """Exit status and stderr of ``topoae -q ARGV``; ``"crash"`` for an escaped exception."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            status: int | str = main(["-q", *argv])
        except SystemExit as error:
            status = error.code if isinstance(error.code, int) else 2
        except BaseException:  # what the fuzzer looks for: anything escaping main
            status = "crash"
            traceback.print_exc()
    return status, err.getvalue()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("made")
    assert cli("train", *TRAIN, "--out", str(base / "run"))[0] == 0
    assert cli("compare", *COMPARE, "--out", str(base / "cmp"))[0] == 0
    return {"run": base / "run", "cmp": base / "cmp"}


def _run_commands(copy: Path, work: Path) -> dict[str, tuple[list[str], str | None]]:
    """Each command on a damaged run folder, and the one file it must notice (None: all)."""
    return {
        "report": (["report", str(copy), "--out", str(work / "r.html"), "--subsample", "30"], None),
        "diagrams": (
            ["diagrams", str(copy), "--out", str(work / "d.png"), "--subsample", "30"],
            None,
        ),
        "animate": (
            ["animate", str(copy), "--out", str(work / "a.gif"), "--max-frames", "2"],
            None,
        ),
        "evaluate": (
            ["evaluate", str(copy / "embedding_test.csv"), "--dataset", "digits"],
            "embedding_test.csv",
        ),
        "train --resume": (["train", *TRAIN, "--out", str(copy), "--resume"], None),
    }


def _compare_commands(copy: Path, work: Path) -> dict[str, tuple[list[str], str | None]]:
    run = next(p for p in sorted((copy / "runs").iterdir()) if p.is_dir())
    return {
        "report": (["report", str(copy), "--out", str(work / "r.html"), "--subsample", "30"], None),
        "compare": (["compare", *COMPARE, "--out", str(copy)], None),
        "diagrams": (
            ["diagrams", str(run), "--out", str(work / "d.png"), "--subsample", "30"],
            f"runs/{run.name}/",
        ),
    }


def _must_refuse(damaged: str, notices: str | None) -> bool:
    """Whether a command must exit 2 for this damaged file (or swap)."""
    names = [part.strip() for part in damaged.split("<->")]
    if all(Path(name).name == "manifest.json" for name in names):
        return False  # a re-typed manifest may still be valid (a changed timestamp)
    if notices is None:
        return True
    return any(name == notices or name.startswith(notices) for name in names)


def _fuzz(folder: Path, work: Path, commands, seed: int, per_file: int) -> Counter:
    outcomes: Counter = Counter()
    failures = []
    for damaged, mutation, copy in folder_mutations(folder, work, seed, per_file):
        for name, (argv, notices) in commands(copy, work).items():
            status, err = cli(*argv)
            lines = err.strip().splitlines()
            clean = "Traceback" not in err and status in (0, 2)
            if status == 2:
                clean = clean and lines[-1].startswith(f"topoae {argv[0]}: error: ")
            elif _must_refuse(damaged, notices):
                clean = False
            outcomes["refused" if status == 2 else "accepted"] += 1
            if not clean:
                failures.append((damaged, mutation, name, status, err[-600:]))
        outcomes["copies"] += 1
    assert not failures, failures[:3]
    return outcomes


def test_every_command_on_a_damaged_run_folder(folders, tmp_path):
    outcomes = _fuzz(folders["run"], tmp_path, _run_commands, seed=11, per_file=PER_FILE)
    # 10 files x PER_FILE byte mutations, 4 JSON files x PER_FILE re-typings, 9 swaps; 5 commands
    assert outcomes["copies"] == 14 * PER_FILE + 9
    assert outcomes["refused"] + outcomes["accepted"] == 5 * outcomes["copies"]
    print(f"run folder: {dict(outcomes)}")


def test_every_command_on_a_damaged_comparison_folder(folders, tmp_path):
    per_file = PER_FILE // 2
    outcomes = _fuzz(folders["cmp"], tmp_path, _compare_commands, seed=23, per_file=per_file)
    # 15 files x per_file byte mutations, 6 JSON files x per_file re-typings, 25 swaps (26
    # pairs, one of two identical files: the AE's embedding CSV is its run's)
    assert outcomes["copies"] == 21 * per_file + 25
    assert outcomes["refused"] + outcomes["accepted"] == 3 * outcomes["copies"]
    print(f"comparison folder: {dict(outcomes)}")


@pytest.mark.parametrize("manifest", ["kept", "deleted"])
def test_planted_code_in_every_loaded_file_never_runs(folders, tmp_path, manifest):
    """Each payload in place of each file the commands load; without the manifest too."""
    marker = tmp_path / "MARKER"
    payloads = planted_files(marker)
    copy = tmp_path / "copy"
    cases = 0
    for target in ("checkpoint.pt", "model.pt", "embedding_test.npz", "snapshots.npz"):
        for trick, data in payloads.items():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(folders["run"], copy)
            if manifest == "deleted":
                (copy / "manifest.json").unlink()
            (copy / target).write_bytes(data)
            if target == "model.pt":  # no command loads it: its reader, before train rewrites it
                from topoae.errors import DataFileError
                from topoae.runs import load_run_model

                with pytest.raises(DataFileError):
                    load_run_model(copy)
                assert not marker.exists()
            for name, (argv, _) in _run_commands(copy, tmp_path).items():
                status, err = cli(*argv)
                assert "Traceback" not in err, (target, trick, name, err)
                assert status in (0, 2), (target, trick, name, status, err)
                assert not marker.exists(), (target, trick, name)
                cases += 1
            if target in ("checkpoint.pt", "model.pt") or manifest == "kept":
                # the file's readers refuse it: train --resume reads the checkpoint, the
                # others (and the manifest) the rest
                assert cli("train", *TRAIN, "--out", str(copy), "--resume")[0] == 2 or (
                    target == "model.pt" and manifest == "deleted"
                )
    assert cases == 4 * len(payloads) * 5
