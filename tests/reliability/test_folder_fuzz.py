"""A whole run folder fuzzed: the new readers refuse or read back the same; the manifest refuses.

This is the pattern for the wired-up ``topoae.runs`` readers and the CLI commands: build a
folder, run every reader on each damaged copy, expect a DataFileError (exit code 2 at the
command line) or unchanged results, never another exception, never the planted marker.
"""

import numpy as np
import pytest
import torch
from fuzz import folder_mutations, planted_files

from topoae._io import save_npz, write_json
from topoae._lock import RunFolder, verify_manifest
from topoae._safe_files import load_checked_torch, read_json, read_npz, save_checked_torch
from topoae._schema import ListOf, StateDictLike
from topoae.errors import DataFileError


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))


def _write_run(path):
    rng = np.random.default_rng(0)
    # overwrite: the planted-code test rewrites a folder it damaged, which entering refuses
    with RunFolder(path, "train", overwrite=True) as folder:
        write_json(path / "config.json", {"dataset": "spheres", "train": {"seed": 0}})
        write_json(path / "history.json", [{"epoch": 1, "val_loss": 0.5}])
        save_checked_torch(path / "model.pt", {"state_dict": _model().state_dict()})
        save_npz(
            path / "embedding_test.npz",
            latent=rng.normal(size=(20, 2)).astype(np.float32),
            labels=np.arange(20) % 2,
        )
        folder.record("config.json", "history.json", "model.pt", "embedding_test.npz")
        folder.mark_complete()


def _read_run(path):
    """What a run reader built from the new readers does (no manifest check)."""
    schema = {"state_dict": StateDictLike(_model().state_dict())}
    return {
        "config": read_json(path / "config.json", required_keys=["dataset", "train"]),
        "history": read_json(path / "history.json", expect=list, schema=ListOf(dict)),
        "model": load_checked_torch(path / "model.pt", kind="run model", schema=schema),
        "embedding": read_npz(
            path / "embedding_test.npz",
            arrays={"latent": ("f", ("n", 2)), "labels": ("i", ("n",))},
        ),
    }


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, torch.Tensor | np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b


def test_every_damaged_copy_is_refused_or_reads_the_same(tmp_path):
    _write_run(tmp_path / "run")
    good = _read_run(tmp_path / "run")
    cases = refused = silent_changes = 0
    for name, kind, copy in folder_mutations(tmp_path / "run", tmp_path / "work", 0, 20):
        cases += 1
        try:
            data = _read_run(copy)
        except DataFileError as error:
            assert "\n" not in str(error), (name, kind)
            refused += 1
        else:
            silent_changes += not _same(data, good)  # a JSON value re-typed to a valid one
        if name != "manifest.json":
            with pytest.raises(DataFileError):  # the manifest notices any change
                verify_manifest(copy)
        else:  # a damaged manifest is refused, or still lists the files as they are
            try:
                verify_manifest(copy)
            except DataFileError:
                pass
    assert cases == 5 * 20 + 3 * 20 + 3  # byte damage, JSON re-typing, 3 same-suffix swaps
    assert refused > cases / 2
    assert silent_changes < cases / 5


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_planted_code_in_every_file_never_runs(tmp_path):
    _write_run(tmp_path / "run")
    marker = tmp_path / "MARKER"
    for name in ("model.pt", "embedding_test.npz", "config.json", "history.json"):
        for trick, data in planted_files(marker).items():
            (tmp_path / "run" / name).write_bytes(data)
            with pytest.raises(DataFileError):
                _read_run(tmp_path / "run")
            assert not marker.exists(), (name, trick)
        _write_run(tmp_path / "run")  # every file intact again for the next one
