"""The state of a training run as one object; its checkpoint is the file format.

A checkpoint (``checkpoint.pt``, written after every epoch) is a dictionary of plain
tensors, lists, dictionaries, strings and numbers only, written with
:func:`topoae._safe_files.save_checked_torch` (a SHA-256 header) and read with
:func:`~topoae._safe_files.load_checked_torch` (``torch.load(weights_only=True)``: nothing
in it is unpickled as code), then checked against :data:`CHECKPOINT_SCHEMA` and, before
anything is loaded into the model and optimiser, against their shapes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topoae._safe_files import load_checked_torch, save_checked_torch
from topoae._schema import DictOf, ListOf, Optional, StateDictLike, Tensor, problem
from topoae._version import __version__
from topoae.core.training.config import TrainConfig
from topoae.errors import DataFileError, RunFolderError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_SCHEMA",
    "TrainingState",
    "read_checkpoint",
    "write_checkpoint",
]

#: Version of the checkpoint layout; bumped whenever :meth:`TrainingState.to_checkpoint` changes.
CHECKPOINT_FORMAT = 1
#: What to do about a damaged checkpoint.
_ADVICE = "delete it to start the run over, or rerun with --overwrite"
_NUMBER = (int, float)
#: The structure of a checkpoint (shapes against the model: :func:`check_against`).
CHECKPOINT_SCHEMA = {
    "format": int,
    "config": dict,
    "epoch": int,
    "step": int,
    "model": DictOf(Tensor()),
    "optimizer": {
        "state": DictOf(DictOf((torch.Tensor, *_NUMBER)), keys=int),
        "param_groups": ListOf(dict),
    },
    "generator": Tensor(dtype=torch.uint8, ndim=1),
    "history": ListOf(DictOf(_NUMBER)),
    "snapshots": ListOf({"step": int, "epoch": int, "latent": (torch.Tensor, np.ndarray)}),
    "best_state": Optional(DictOf(Tensor())),
    "best_val": float,
    "best_epoch": int,
    "bad_epochs": int,
    "finished": bool,
    "train_seconds": Optional(float),
    "stop_reason": Optional(str),
}


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
        """Load ``checkpoint`` into the given model, optimiser and generator; the state.

        Call :func:`check_against` first (:func:`read_checkpoint` with ``model`` does).
        """
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        generator.set_state(checkpoint["generator"])
        snapshots = [{**s, "latent": np.asarray(s["latent"])} for s in checkpoint["snapshots"]]
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


def write_checkpoint(path: Path, state: TrainingState, config: TrainConfig) -> Path:
    """Write ``state`` to ``path`` as a checked torch file (atomically)."""
    return save_checked_torch(path, state.to_checkpoint(config))


def check_against(
    path: Path,
    checkpoint: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """Refuse a checkpoint whose weights, optimiser state or RNG state do not fit.

    Raises
    ------
    topoae.errors.DataFileError
        Naming the file and the first mismatch (a key, a shape, a dtype).
    """

    def fail(what: str) -> DataFileError:
        return DataFileError(f"{path}: not a checkpoint of this model ({what}); {_ADVICE}.")

    reference = model.state_dict()
    for key in ("model", "best_state"):
        if checkpoint[key] is not None:
            found = problem(checkpoint[key], StateDictLike(reference), key)
            if found is not None:
                raise fail(found)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    groups = checkpoint["optimizer"]["param_groups"]
    saved = [i for g in groups for i in (g.get("params") or [])]
    if len(groups) != len(optimizer.param_groups) or len(saved) != len(params):
        raise fail(f"optimizer state for {len(saved)} parameters, the model has {len(params)}")
    for index, entry in checkpoint["optimizer"]["state"].items():
        if not 0 <= index < len(params):
            raise fail(f"optimizer state of parameter {index}, the model has {len(params)}")
        for name, value in entry.items():
            if (
                isinstance(value, torch.Tensor)
                and value.ndim
                and value.shape != params[index].shape
            ):
                raise fail(
                    f"optimizer.state.{index}.{name} of shape {tuple(value.shape)}, the "
                    f"parameter has shape {tuple(params[index].shape)}"
                )
    shapes = {tuple(np.shape(s["latent"])) for s in checkpoint["snapshots"]}
    if len(shapes) > 1 or any(len(shape) != 2 for shape in shapes):
        raise fail(f"snapshots of shapes {sorted(shapes)}, expected one (s, latent_dim)")
    if checkpoint["generator"].shape != generator.get_state().shape:
        raise fail(f"a random generator state of {checkpoint['generator'].numel()} bytes")


def read_checkpoint(
    path: Path,
    config: TrainConfig,
    *,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Read a checkpoint written with ``config`` (the device may differ).

    Parameters
    ----------
    path : Path
    config : TrainConfig
    model, optimizer, generator : optional
        Given all three, the weights, optimiser state and RNG state are checked against
        them (:func:`check_against`).

    Raises
    ------
    topoae.errors.DataFileError
        If the file is damaged, refused (it holds code), not a topoae training checkpoint,
        or does not fit the model.
    topoae.errors.RunFolderError
        If it was written with other settings.
    """
    state = load_checked_torch(
        path, kind="training checkpoint", schema=CHECKPOINT_SCHEMA, advice=_ADVICE
    )
    if state["format"] != CHECKPOINT_FORMAT:
        raise DataFileError(
            f"{path}: checkpoint format {state['format']}, this topoae reads "
            f"{CHECKPOINT_FORMAT}; {_ADVICE}."
        )
    try:
        saved = TrainConfig.from_dict(state["config"])
    except (TypeError, ValueError) as error:
        raise DataFileError(
            f"{path}: its training settings are invalid ({error}); {_ADVICE}."
        ) from None
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
    if model is not None and optimizer is not None and generator is not None:
        check_against(path, state, model, optimizer, generator)
    return state
