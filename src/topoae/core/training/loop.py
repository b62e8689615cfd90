"""The training loop: early stopping, exact resume and a per-epoch history.

The protocol is METHOD.md §6: Adam with weight decay, shuffled minibatches with
the incomplete last batch dropped, early stopping on the validation *total* loss,
the best weights restored at the end. By default the model is trained on the
training split only; ``train_on_validation=True`` reproduces the reference
implementation's quirk of also training on the validation split it stops on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topoae._io import save_torch
from topoae.core.evaluation import embed
from topoae.core.models import (
    Autoencoder,
    TopologicallyRegularizedAutoencoder,
    build_autoencoder,
)
from topoae.core.training.config import TrainConfig, resolve_device
from topoae.core.training.optim import make_optimizer
from topoae.core.training.state import TrainingState, read_checkpoint
from topoae.errors import InputError

__all__ = ["TrainResult", "TrainingDivergedError", "build_model", "train", "validation_loss"]

logger = logging.getLogger(__name__)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and a remedy."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : TopologicallyRegularizedAutoencoder
        With the best weights restored, in ``eval()`` mode.
    history : list of dict
        One record per epoch: ``epoch``, ``train_<component>`` and ``val_<component>``
        means, ``seconds``.
    best_epoch : int
    best_val_loss : float
    stopped_early : bool
    snapshots : list of dict
        ``{"step", "epoch", "latent"}`` when ``snapshot_every > 0``.
    """

    model: TopologicallyRegularizedAutoencoder
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    snapshots: list[dict[str, Any]] = field(default_factory=list)


def build_model(
    config: TrainConfig, input_shape: tuple[int, ...], autoencoder: Autoencoder | None = None
) -> TopologicallyRegularizedAutoencoder:
    """Seed torch with ``config.seed`` and build the (regularised) autoencoder."""
    torch.manual_seed(config.seed)
    if autoencoder is None:
        autoencoder = build_autoencoder(
            config.architecture, input_shape, config.latent_dim, config.hidden_sizes
        )
    return TopologicallyRegularizedAutoencoder(
        autoencoder, config.lam, match_edges=config.match_edges, data_scale=config.data_scale
    )


def _as_tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    tensor = torch.as_tensor(x)
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.to(device=device, dtype=torch.float32)


@torch.no_grad()
def validation_loss(model, x_val: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Size-weighted mean of the loss components over validation batches (eval mode)."""
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    for start in range(0, len(x_val), batch_size):
        batch = x_val[start : start + batch_size]
        if len(batch) < 2:  # a single point has no pairs and BatchNorm needs none here
            continue
        _, components = model(batch)
        for key, value in components.items():
            totals[key] = totals.get(key, 0.0) + value * len(batch)
        count += len(batch)
    model.train()
    return {key: value / count for key, value in totals.items()}


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _training_tensors(
    x_train, x_val, config: TrainConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked float32 tensors on ``device`` (training with the validation split if asked)."""
    x_train_t = _as_tensor(x_train, torch.device("cpu"))
    x_val_t = _as_tensor(x_val, torch.device("cpu"))
    for name, tensor in (("x_train", x_train_t), ("x_val", x_val_t)):
        if tensor.ndim < 2:
            raise InputError(f"{name} must have shape (n, features...), got {tuple(tensor.shape)}.")
        if not torch.isfinite(tensor).all():
            raise InputError(f"{name} contains NaN or inf; clean or impute the data first.")
    if x_train_t.shape[1:] != x_val_t.shape[1:]:
        raise InputError(
            f"x_train samples have shape {tuple(x_train_t.shape[1:])} but x_val samples "
            f"{tuple(x_val_t.shape[1:])}."
        )
    if len(x_val_t) < 2:
        raise InputError("x_val needs at least 2 samples for the validation loss.")
    if config.train_on_validation:
        x_train_t = torch.cat([x_train_t, x_val_t])
    if len(x_train_t) < config.batch_size:
        raise InputError(
            f"Only {len(x_train_t)} training samples for batch_size {config.batch_size}: "
            "with the last incomplete batch dropped no step would run. Lower batch_size."
        )
    return x_train_t.to(device), x_val_t.to(device)


def _start(
    config: TrainConfig,
    model: TopologicallyRegularizedAutoencoder,
    device: torch.device,
    checkpoint_path: Path | None,
    resume: bool,
) -> TrainingState:
    """A fresh training state, or the one of ``checkpoint_path`` when resuming."""
    model.to(device).train()
    optimizer = make_optimizer(model.parameters(), config.learning_rate, config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        checkpoint = read_checkpoint(checkpoint_path, config)
        state = TrainingState.from_checkpoint(checkpoint, model, optimizer, generator)
        logger.info("Resumed from %s after epoch %d", checkpoint_path, state.epoch)
        return state
    return TrainingState(model, optimizer, generator)


def _diverged(what: str, value: float, epoch: int, config: TrainConfig, where: str = "") -> str:
    return (
        f"The {what} loss became {value} in epoch {epoch}{where}. Lower the learning rate "
        f"(now {config.learning_rate:g}) or lam (now {config.lam:g}), and check the data for "
        "extreme values."
    )


def _train_epoch(
    state: TrainingState,
    x_train: torch.Tensor,
    config: TrainConfig,
    epoch: int,
    take_snapshot: Callable[[int], None] | None,
) -> dict[str, float]:
    """One pass over shuffled full batches; the sums of the loss components."""
    model, n_batches = state.model, len(x_train) // config.batch_size
    order = torch.randperm(len(x_train), generator=state.generator).to(x_train.device)
    sums: dict[str, float] = {}
    for b in range(n_batches):
        batch = x_train[order[b * config.batch_size : (b + 1) * config.batch_size]]
        loss, components = model(batch)
        if not math.isfinite(components["loss"]):
            where = f" (batch {b + 1}/{n_batches})"
            raise TrainingDivergedError(
                _diverged("training", components["loss"], epoch, config, where)
            )
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.step += 1
        for key, value in components.items():
            sums[key] = sums.get(key, 0.0) + value
        if take_snapshot is not None and state.step % config.snapshot_every == 0:
            take_snapshot(epoch)
    return sums


def _end_epoch(
    state: TrainingState,
    epoch: int,
    record: dict[str, float],
    val_loss: float,
    config: TrainConfig,
) -> None:
    """Book the epoch: history, best weights, early-stopping count, whether the run ends."""
    state.history.append(record)
    state.epoch = epoch
    if val_loss < state.best_val:
        state.best_val, state.best_epoch, state.bad_epochs = val_loss, epoch, 0
        state.best_state = _state_copy(state.model)
    else:
        state.bad_epochs += 1
    state.finished = state.bad_epochs >= config.patience or epoch == config.max_epochs


def train(
    x_train,
    x_val,
    config: TrainConfig | None = None,
    *,
    model: TopologicallyRegularizedAutoencoder | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    callback: Callable[[dict[str, float]], None] | None = None,
    snapshot_data=None,
) -> TrainResult:
    """Train a (topologically regularised) autoencoder with early stopping.

    Parameters
    ----------
    x_train : array-like of shape (n, *input_shape)
        Training inputs (already preprocessed).
    x_val : array-like of shape (n_val, *input_shape)
        Validation inputs for early stopping; must hold at least 2 samples.
    config : TrainConfig, optional
        Defaults to the paper's Spheres TopoAE settings.
    model : TopologicallyRegularizedAutoencoder, optional
        A ready model (e.g. a custom encoder / decoder); else one is built from ``config``.
    checkpoint_path : path, optional
        Written atomically after every epoch: :meth:`TrainingState.to_checkpoint`.
    resume : bool
        Continue from ``checkpoint_path`` if it exists; the run ends exactly as an
        uninterrupted one would.
    callback : callable, optional
        Called with each epoch's history record.
    snapshot_data : array-like of shape (s, *input_shape), optional
        Fixed subset whose latent codes are stored every ``config.snapshot_every`` steps.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDivergedError
        If a loss becomes NaN or infinite.
    topoae.errors.InputError
        If the inputs are empty, contain NaN / inf, or are too small for one batch.
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    x_train_t, x_val_t = _training_tensors(x_train, x_val, config, device)
    snapshot_t = _as_tensor(snapshot_data, device) if snapshot_data is not None else None
    if model is None:
        model = build_model(config, tuple(x_train_t.shape[1:]))
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    state = _start(config, model, device, checkpoint_path, resume)

    take_snapshot = None
    if snapshot_t is not None and config.snapshot_every:

        def take_snapshot(epoch: int) -> None:
            latent = embed(model, snapshot_t, batch_size=4096)
            state.snapshots.append({"step": state.step, "epoch": epoch, "latent": latent})

        if not state.snapshots:
            take_snapshot(0)

    n_batches = len(x_train_t) // config.batch_size
    for epoch in range(state.epoch + 1, config.max_epochs + 1):
        if state.finished:
            break
        started = time.perf_counter()
        sums = _train_epoch(state, x_train_t, config, epoch, take_snapshot)
        val = validation_loss(model, x_val_t, config.batch_size)
        if not math.isfinite(val["loss"]):
            raise TrainingDivergedError(_diverged("validation", val["loss"], epoch, config))
        record = {"epoch": epoch}
        record.update({f"train_{k}": v / n_batches for k, v in sums.items()})
        record.update({f"val_{k}": v for k, v in val.items()})
        record["seconds"] = time.perf_counter() - started
        _end_epoch(state, epoch, record, val["loss"], config)
        if checkpoint_path is not None:
            save_torch(checkpoint_path, state.to_checkpoint(config))
        logger.info("epoch %d: %s", epoch, record)
        if callback is not None:
            callback(record)

    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    history = state.history
    stopped_early = bool(history) and history[-1]["epoch"] < config.max_epochs
    return TrainResult(
        model, history, state.best_epoch, state.best_val, stopped_early, state.snapshots
    )
