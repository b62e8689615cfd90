"""A run folder's training snapshots (``snapshots.npz``) as :class:`topoae.plotting.Snapshots`."""

from __future__ import annotations

import os
from pathlib import Path

from topoae.errors import InputError
from topoae.plotting.animation import Snapshots
from topoae.runs.folder import load_run

__all__ = ["snapshots_from_run"]


def snapshots_from_run(path: str | os.PathLike, title: str | None = None) -> Snapshots:
    """Read ``snapshots.npz`` of a ``topoae train --snapshot-every N`` run folder.

    Parameters
    ----------
    path : str or PathLike
        The run folder.
    title : str, optional
        Panel title (default: model and seed from ``config.json``).

    Returns
    -------
    Snapshots
    """
    run = load_run(Path(path))
    if run.snapshots is None:
        raise InputError(
            f"{path} has no snapshots.npz; train it with `topoae train --snapshot-every N` "
            "to record the latent codes during training."
        )
    if title is None:
        model = run.config.get("model", "run")
        seed = run.config.get("train", {}).get("seed")
        title = f"{model} (seed {seed})" if seed is not None else str(model)
    s = run.snapshots
    return Snapshots(title, s["latent"], s["epoch"], s.get("step"), s.get("labels"))
