"""The state of a training run as one object; its checkpoint is the file format.

A checkpoint (``checkpoint.pt``, written after every epoch) is a dictionary of plain
tensors, lists, dictionaries, strings and numbers only, so it is read with
``torch.load(weights_only=True)``: nothing in it is unpickled as code.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topoae._version import __version__
from topoae.core.training.config import TrainConfig
from topoae.errors import DataFileError, RunFolderError

__all__ = ["CHECKPOINT_FORMAT", "TrainingState", "read_checkpoint"]

#: Version of the checkpoint layout; bumped whenever :meth:`TrainingState.to_checkpoint` changes.
CHECKPOINT_FORMAT = 1


@dataclass
class TrainingState:
    """Everything a training run carries from one epoch to the next.

    Attributes
    ----------
    model : torch.nn.Module
    optimizer : torch.optim.Optimizer
    generator : torch.Generator
        Shuffles the minibatches; its state makes a resumed run exact.
    epoch : int
        The last finished epoch (0 before the first).
    step : int
        Optimiser steps taken.
    history : list of dict
        One record per finished epoch.
    snapshots : list of dict
        ``{"step", "epoch", "latent"}``, ``latent`` a NumPy array of shape (s, latent_dim).
    best_state : dict of str to torch.Tensor or None
        CPU copy of the weights of the best validation epoch.
    best_val, best_epoch : float, int
    bad_epochs : int
        Epochs since the best one (early stopping counts them).
    finished : bool
        Early stopping, ``max_epochs``, ``max_steps`` or the time budget ended the run.
    train_seconds : float
        Seconds spent training so far, resumed runs included (for the time budget).
    stop_reason : str
        What ended the run: ``""`` (not ended), ``"early_stopping"``, ``"max_epochs"``,
        ``"max_steps"``, ``"time_budget"``.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    finished: bool = False
    train_seconds: float = 0.0
    stop_reason: str = ""

    def to_checkpoint(self, config: TrainConfig) -> dict[str, Any]:
        """The checkpoint dictionary (readable with ``torch.load(weights_only=True)``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "topoae_version": __version__,
            "config": config.to_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "history": self.history,
            "snapshots": [
                {**s, "latent": torch.from_numpy(np.asarray(s["latent"]))} for s in self.snapshots
            ],
            "best_state": self.best_state,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "finished": self.finished,
            "train_seconds": self.train_seconds,
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: dict[str, Any],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
    ) -> TrainingState:
        """Load ``checkpoint`` into the given model, optimiser and generator; the state."""
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        generator.set_state(checkpoint["generator"])
        snapshots = [{**s, "latent": s["latent"].numpy()} for s in checkpoint["snapshots"]]
        return cls(
            model,
            optimizer,
            generator,
            epoch=checkpoint["epoch"],
            step=checkpoint["step"],
            history=checkpoint["history"],
            snapshots=snapshots,
            best_state=checkpoint["best_state"],
            best_val=checkpoint["best_val"],
            best_epoch=checkpoint["best_epoch"],
            bad_epochs=checkpoint["bad_epochs"],
            finished=checkpoint["finished"],
            # Checkpoints of 0.1 carry neither; their runs had no budget to count against.
            train_seconds=float(checkpoint.get("train_seconds", 0.0)),
            stop_reason=str(checkpoint.get("stop_reason", "")),
        )


def read_checkpoint(path: Path, config: TrainConfig) -> dict[str, Any]:
    """Read a checkpoint written with ``config`` (the device may differ).

    Raises
    ------
    topoae.errors.DataFileError
        If the file is damaged or not a topoae training checkpoint.
    topoae.errors.RunFolderError
        If it was written with other settings.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged files
        raise DataFileError(
            f"Cannot read checkpoint {path} ({error}); it is damaged or not a topoae "
            "checkpoint. Delete it to start over."
        ) from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise DataFileError(f"{path} is not a topoae training checkpoint.")
    saved = TrainConfig.from_dict(state["config"])
    ours = copy.copy(config)
    ours.device = saved.device  # a run may resume on another device
    if saved != ours:
        diff = {
            f.name: (getattr(saved, f.name), getattr(ours, f.name))
            for f in fields(TrainConfig)
            if getattr(saved, f.name) != getattr(ours, f.name)
        }
        raise RunFolderError(
            f"Checkpoint {path} was written with other settings {diff} (saved, now); "
            "resume with the same settings or start a new output folder."
        )
    return state
