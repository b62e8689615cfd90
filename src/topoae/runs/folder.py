"""Run folders: what ``topoae train`` writes, and how later commands read it back.

A run folder holds::

    config.json           data set, model variant, TrainConfig, topoae version
    history.json / .csv   one record per epoch, every loss component
    model.pt              best weights + config (enough to rebuild the model)
    checkpoint.pt         the last epoch's full training state (for --resume)
    embedding_test.csv    latent codes of the test split: columns 0..k-1, labels
    embedding_test.npz    the same as arrays ``latent`` and ``labels``
    snapshots.npz         optional: latent codes of a fixed subset during training
    summary.json          best epoch, losses, test reconstruction error, measures

    manifest.json         what the run wrote (name, size, SHA-256) and whether it finished

Every file is written atomically; ``model.pt`` and ``checkpoint.pt`` are checked torch
files (:mod:`topoae._safe_files`). Commands write a run folder inside a
:class:`topoae._lock.RunFolder` (one writer, whole-run overwrite) and end it with
:func:`record_run`; every reader here checks a finished run against its manifest
(:func:`check_run`) and each file's structure before using it (``docs/reliability.md``).
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topoae._io import atomic_write_text, save_npz, write_json
from topoae._lock import MANIFEST, RunFolder, read_manifest, verify_manifest
from topoae._safe_files import load_checked_torch, read_json, read_npz, save_checked_torch
from topoae._schema import DictOf, ListOf, StateDictLike, Tensor, problem
from topoae._version import __version__
from topoae.core.models import TopologicallyRegularizedAutoencoder
from topoae.core.training import TrainConfig, build_model
from topoae.errors import DataFileError

__all__ = [
    "RunRecord",
    "check_run",
    "embedding_to_csv",
    "load_run",
    "load_run_data",
    "load_run_model",
    "read_config",
    "read_embedding_csv",
    "record_run",
    "save_run",
    "write_config",
]

#: What to do about a damaged file of a run folder.
ADVICE = "rerun `topoae train` with --overwrite to write the run again"
#: The schemas of the run folder's files (more keys are allowed).
CONFIG_SCHEMA = {"dataset": str, "model": str, "train": dict}
HISTORY_SCHEMA = ListOf(DictOf((int, float)))
MODEL_SCHEMA = {
    "config": dict,
    "input_shape": ListOf(int, min_len=1),
    "state_dict": DictOf(Tensor()),
}
EMBEDDING_ARRAYS = {"latent": ("f", ("n", None)), "labels": ("i", ("n",))}
SNAPSHOT_ARRAYS = {
    "latent": ("f", ("S", "s", None)),
    "step": ("i", ("S",)),
    "epoch": ("i", ("S",)),
    "labels": ("i", ("s",)),
}
#: The largest input a model file may ask to build (elements per sample).
_MAX_INPUT = 1 << 26


def check_run(path: str | os.PathLike, names: list[str] | None = None) -> None:
    """Refuse a finished run (or comparison) folder whose files changed since it was written.

    Only a folder whose manifest says ``complete`` is checked: an interrupted run's files
    are mid-update by design (each is still validated by its reader). ``names``: only these
    files, those the manifest lists (default: all).

    Raises
    ------
    topoae.errors.DataFileError
    """
    manifest = read_manifest(path)
    if manifest is None or manifest["state"] != "complete":
        return
    if names is not None:
        names = [name for name in names if name in manifest["files"]]
    verify_manifest(path, names)


def record_run(folder: RunFolder, skip: tuple[str, ...] = ()) -> None:
    """Record every file of ``folder`` in its manifest and mark the run complete.

    Dot files (the lock, temporaries), the manifest and the folders in ``skip`` (a
    comparison's ``runs``, which have their own manifests) are left out.
    """
    names = sorted(
        p.relative_to(folder.path).as_posix()
        for p in folder.path.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder.path).parts)
        and p.name != MANIFEST
        and p.relative_to(folder.path).parts[0] not in skip
    )
    folder.record(*names)
    folder.mark_complete()


def embedding_to_csv(latent: np.ndarray, labels: np.ndarray | None) -> str:
    """CSV text with columns ``0, 1, ..., labels`` (the authors' format)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = [str(i) for i in range(latent.shape[1])]
    writer.writerow([*header, "labels"] if labels is not None else header)
    for i, row in enumerate(latent):
        values = [repr(float(v)) for v in row]
        writer.writerow([*values, int(labels[i])] if labels is not None else values)
    return buffer.getvalue()


def read_embedding_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an embedding written elsewhere.

    Accepts the authors' format (header ``0,1,labels``; labels may be written as
    floats like ``10.0``), a header ``0,1`` without labels, any header whose label
    column is named ``label``, ``labels``, ``y`` or ``target``, or plain numeric
    columns without a header.

    Parameters
    ----------
    path : path

    Returns
    -------
    latent : ndarray of shape (n, q), float64
    labels : ndarray of shape (n,), int64, or None
        ``None`` when there is no label column.

    Raises
    ------
    DataFileError
        A missing or empty file, ragged rows, or values that are not numbers.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path} does not exist.")
    if not path.is_file():
        raise DataFileError(f"{path} is a folder or a special file, not a CSV file.")
    if (path.parent / MANIFEST).is_file():
        check_run(path.parent, [path.name])
    try:
        text = path.read_text(encoding="utf-8")
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataFileError(f"{path}: not a readable CSV file ({error}).") from None
    if not rows:
        raise DataFileError(f"{path} is empty.")
    header = None
    first = [v.strip() for v in rows[0]]
    try:
        [float(v) for v in first]
        # A numeric first row is a header only when it reads 0, 1, ..., q-1 (our format).
        if first == [str(i) for i in range(len(first))]:
            header, rows = first, rows[1:]
    except ValueError:
        header, rows = [h.lower() for h in first], rows[1:]
    if not rows:
        raise DataFileError(f"{path} has a header but no rows.")
    widths = {len(row) for row in rows}
    if len(widths) != 1 or (header is not None and widths != {len(header)}):
        raise DataFileError(f"{path} has rows of different lengths; expected a rectangular CSV.")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError as error:
        raise DataFileError(f"{path} holds values that are not numbers ({error}).") from error
    label_column = None
    if header is not None:
        for name in ("labels", "label", "y", "target"):
            if name in header:
                label_column = header.index(name)
                break
    labels = None
    if label_column is not None:
        raw = values[:, label_column]
        if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise DataFileError(f"The label column of {path} holds values that are not integers.")
        labels = raw.astype(np.int64)
        values = np.delete(values, label_column, axis=1)
    if values.shape[1] == 0:
        raise DataFileError(f"{path} has no embedding columns.")
    return values, labels


def _history_csv(history: list[dict[str, float]]) -> str:
    keys: list[str] = []
    for record in history:
        keys += [k for k in record if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def write_config(out_dir: str | Path, meta: dict[str, Any], config: TrainConfig) -> Path:
    """Write ``config.json``: ``meta`` (data set, model, data source, ...), the TrainConfig.

    :func:`save_run` writes it with the finished run; the experiment path writes it before
    training too, so that an interrupted run on a file can be resumed from its record.
    """
    return write_json(
        Path(out_dir) / "config.json",
        {**meta, "train": config.to_dict(), "topoae_version": __version__},
    )


def read_config(out_dir: str | Path) -> dict[str, Any] | None:
    """``config.json`` of a run folder (finished or not), or ``None`` when there is none."""
    path = Path(out_dir) / "config.json"
    if not path.exists():
        return None
    config: dict[str, Any] = read_json(path, kind="run config", schema=CONFIG_SCHEMA)
    return config


def load_run_data(config: dict[str, Any], *, data_dir: str | None = None, **options: Any):
    """The data set a run (its ``config.json``) was trained on, with the same split.

    A user's file is reloaded from its ``data_source`` record
    (:func:`topoae.datasets.files.reload`: a changed file is refused); a registered data set
    by name and the run's seed.

    Parameters
    ----------
    config : dict
        ``config.json`` of the run.
    data_dir : str, optional
        Folder of downloaded files (image data sets).
    **options
        Passed to :func:`~topoae.datasets.files.reload` (``lazy``, ``min_train``).

    Returns
    -------
    Dataset
    """
    from topoae import datasets
    from topoae.datasets import files

    record = config.get("data_source")
    if record is not None:
        data = files.reload(record, **options)
        data.name = str(config.get("dataset", data.name))
        return data
    name = config.get("dataset")
    if not isinstance(name, str) or name not in datasets.available():
        raise DataFileError(
            f"The run's data set {name!r} is not registered in topoae.datasets and the run "
            "records no data file."
        )
    seed = int(config.get("train", {}).get("seed", 0))
    kwargs: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    return datasets.load(name, seed=seed, **kwargs)


def save_run(
    out_dir: str | Path,
    *,
    meta: dict[str, Any],
    config: TrainConfig,
    model: TopologicallyRegularizedAutoencoder,
    history: list[dict[str, float]],
    latent_test: np.ndarray,
    labels_test: np.ndarray | None,
    summary: dict[str, Any],
    snapshots: list[dict[str, Any]] | None = None,
    snapshot_labels: np.ndarray | None = None,
) -> Path:
    """Write a finished run's files to ``out_dir`` (see the module docstring)."""
    out = Path(out_dir)
    write_config(out, meta, config)
    write_json(out / "history.json", history)
    atomic_write_text(out / "history.csv", _history_csv(history))
    save_checked_torch(
        out / "model.pt",
        {
            "topoae_version": __version__,
            "config": config.to_dict(),
            "input_shape": list(model.autoencoder.input_shape),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
    )
    labels = None if labels_test is None else np.asarray(labels_test)
    atomic_write_text(out / "embedding_test.csv", embedding_to_csv(latent_test, labels))
    arrays = {"latent": latent_test}
    if labels is not None:
        arrays["labels"] = labels
    save_npz(out / "embedding_test.npz", **arrays)
    if snapshots:
        extra = {} if snapshot_labels is None else {"labels": np.asarray(snapshot_labels)}
        save_npz(
            out / "snapshots.npz",
            latent=np.stack([s["latent"] for s in snapshots]),
            step=np.array([s["step"] for s in snapshots]),
            epoch=np.array([s["epoch"] for s in snapshots]),
            **extra,
        )
    write_json(out / "summary.json", summary)
    return out


@dataclass
class RunRecord:
    """A run folder read back.

    Attributes
    ----------
    path : Path
    config : dict
        Contents of ``config.json`` (``train`` holds the TrainConfig).
    history : list of dict
    latent_test : ndarray of shape (n_test, k)
    labels_test : ndarray of shape (n_test,) or None
    summary : dict
    snapshots : dict of str to ndarray or None
        ``latent (S, s, k)``, ``step (S,)``, ``epoch (S,)`` and maybe ``labels (s,)``.
    """

    path: Path
    config: dict[str, Any]
    history: list[dict[str, float]]
    latent_test: np.ndarray
    labels_test: np.ndarray | None
    summary: dict[str, Any]
    snapshots: dict[str, np.ndarray] | None = field(default=None)


def load_run(path: str | Path) -> RunRecord:
    """Read a run folder written by :func:`save_run`.

    Raises
    ------
    topoae.errors.DataFileError
        A missing, damaged or changed file (the message names it).
    """
    path = Path(path)
    if not (path / "config.json").exists() or not (path / "embedding_test.npz").exists():
        raise DataFileError(
            f"{path} is not a finished topoae run folder (config.json and embedding_test.npz "
            "are missing); point at the --out folder of `topoae train`."
        )
    check_run(path)
    config = read_json(path / "config.json", kind="run config", schema=CONFIG_SCHEMA, advice=ADVICE)
    history = read_json(
        path / "history.json", kind="run history", expect=list, schema=HISTORY_SCHEMA, advice=ADVICE
    )
    summary = read_json(path / "summary.json", kind="run summary", advice=ADVICE)
    latent, labels = read_test_embedding(path)
    snapshots = None
    if (path / "snapshots.npz").exists():
        snapshots = read_npz(
            path / "snapshots.npz",
            arrays=SNAPSHOT_ARRAYS,
            allow_missing=["labels"],
            kind="training snapshots",
            advice=ADVICE,
        )
    return RunRecord(path, config, history, latent, labels, summary, snapshots)


def read_test_embedding(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A run folder's ``embedding_test.npz``, checked: ``latent (n, k)`` and ``labels (n,)``."""
    arrays = read_npz(
        Path(path) / "embedding_test.npz",
        arrays=EMBEDDING_ARRAYS,
        allow_missing=["labels"],
        kind="test embedding",
        advice=ADVICE,
    )
    return arrays["latent"], arrays.get("labels")


def load_run_model(path: str | Path, *, device: str = "cpu") -> torch.nn.Module:
    """Rebuild the trained model of a run folder (best weights, eval mode).

    Raises
    ------
    topoae.errors.DataFileError
        ``model.pt`` is missing, damaged, refused (it holds code) or does not fit the model
        its settings describe.
    """
    path = Path(path)
    file = path / "model.pt"
    check_run(path, ["model.pt"])
    state = load_checked_torch(file, kind="run model", schema=MODEL_SCHEMA, advice=ADVICE)
    shape = tuple(state["input_shape"])
    if any(n < 1 for n in shape) or math.prod(shape) > _MAX_INPUT:
        raise DataFileError(f"{file}: not a valid run model (input shape {shape}); {ADVICE}.")
    try:
        config = TrainConfig.from_dict(state["config"])
        model = build_model(config, shape)
    except (TypeError, ValueError) as error:
        raise DataFileError(f"{file}: its settings are invalid ({error}); {ADVICE}.") from None
    found = problem(state["state_dict"], StateDictLike(model.state_dict()), "state_dict")
    if found is not None:
        raise DataFileError(f"{file}: weights of another model ({found}); {ADVICE}.")
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval()
