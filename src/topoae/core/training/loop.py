"""The training loop: early stopping, exact resume and a per-epoch history.

The protocol is docs/method.md §6: Adam with weight decay, shuffled minibatches with
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

from topoae._threads import TRAIN_THREADS, fixed_threads
from topoae.core.distributed import DistributedContext
from topoae.core.evaluation import embed
from topoae.core.models import (
    Autoencoder,
    TopologicallyRegularizedAutoencoder,
    build_autoencoder,
)
from topoae.core.training.config import TrainConfig, resolve_device
from topoae.core.training.optim import make_optimizer
from topoae.core.training.state import TrainingState, read_checkpoint, write_checkpoint
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
    stop_reason : str
        ``"early_stopping"``, ``"max_epochs"``, ``"max_steps"`` or ``"time_budget"``.
    """

    model: TopologicallyRegularizedAutoencoder
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""


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
        autoencoder,
        config.lam,
        match_edges=config.match_edges,
        data_scale=config.data_scale,
        homology_dims=config.homology_dims,
        cycle_formulation=config.cycle_formulation,
        cycle_lam=config.cycle_lam,
    )


def _as_tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    tensor = torch.as_tensor(x)
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.to(device=device, dtype=torch.float32)


def _is_lazy(x: Any) -> bool:
    """Rows read on demand (a memory map, a lazy view of a file): gathered per batch."""
    if isinstance(x, torch.Tensor):
        return False
    if isinstance(x, np.memmap):
        return True
    return not isinstance(x, np.ndarray) and hasattr(x, "shape") and hasattr(x, "__getitem__")


#: Rows per block when a lazily read training set is checked for NaN / inf.
_CHECK_BLOCK = 65_536


class TrainingRows:
    """The training inputs as the loop reads them, batch by batch.

    Arrays in memory become one float32 tensor on the training device, indexed there.
    Memory maps and lazy views (:class:`topoae.datasets.files.Rows`) are never copied
    whole: each batch gathers its rows (in the batch's order, so the values are those of
    the in-memory path) and moves them to the device.

    Parameters
    ----------
    parts : list of array-like of shape (n_i, *input_shape)
        Concatenated in order (the validation split follows when training on it too).
    device : torch.device
    """

    def __init__(self, parts: list[Any], device: torch.device):
        self.device = device
        self.lazy = any(_is_lazy(part) for part in parts)
        if self.lazy:
            self.parts = parts
            self.offsets = np.cumsum([0] + [len(part) for part in parts])
            self.sample_shape = tuple(parts[0].shape[1:])
            self.tensor = None
        else:
            tensors = [_as_tensor(part, torch.device("cpu")) for part in parts]
            joined = tensors[0] if len(tensors) == 1 else torch.cat(tensors)
            self.tensor = joined.to(device)
            self.sample_shape = tuple(joined.shape[1:])

    def _in_memory(self) -> torch.Tensor:
        assert self.tensor is not None  # set for rows that are not lazy
        return self.tensor

    def __len__(self) -> int:
        return int(self.offsets[-1]) if self.lazy else len(self._in_memory())

    def check_finite(self, name: str) -> None:
        """Raise InputError on NaN / inf (lazy rows are read block by block)."""
        if not self.lazy:
            finite = bool(torch.isfinite(self._in_memory()).all())
        else:
            finite = all(
                np.isfinite(np.asarray(part[i : i + _CHECK_BLOCK])).all()
                for part in self.parts
                for i in range(0, len(part), _CHECK_BLOCK)
            )
        if not finite:
            raise InputError(f"{name} contains NaN or inf; clean or impute the data first.")

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (int64, on the CPU for lazy rows) as a float32 batch on the device."""
        if not self.lazy:
            return self._in_memory()[index]
        rows = index.numpy()
        if len(self.parts) == 1:
            gathered = np.asarray(self.parts[0][rows])
        else:
            part_of = np.searchsorted(self.offsets, rows, side="right") - 1
            gathered = np.empty((len(rows), *self.sample_shape), dtype=np.float32)
            for p, part in enumerate(self.parts):
                chosen = part_of == p
                if chosen.any():
                    gathered[chosen] = np.asarray(part[rows[chosen] - self.offsets[p]])
        return _as_tensor(np.ascontiguousarray(gathered, dtype=np.float32), self.device)

    def order(self, generator: torch.Generator) -> torch.Tensor:
        """One epoch's shuffled order (on the device for in-memory rows)."""
        order = torch.randperm(len(self), generator=generator)
        return order if self.lazy else order.to(self.device)


@torch.no_grad()
def validation_loss(model, x_val: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Size-weighted mean of the loss components over validation batches (eval mode)."""
    model.eval()
    totals: dict[str, Any] = {}
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
    # Components are tensors on a GPU (read back here, once per validation pass).
    return {key: float(value) / count for key, value in totals.items()}


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _validation_subset(x_val: Any, config: TrainConfig) -> np.ndarray | torch.Tensor:
    """``x_val`` itself, or a seeded subset of ``max_validation`` points of a large one."""
    if len(x_val) <= config.max_validation:
        return x_val if not _is_lazy(x_val) else np.asarray(x_val[np.arange(len(x_val))])
    chosen = np.sort(
        np.random.RandomState(config.seed).choice(len(x_val), config.max_validation, False)
    )
    return np.asarray(x_val[chosen]) if not isinstance(x_val, torch.Tensor) else x_val[chosen]


def _training_tensors(
    x_train, x_val, config: TrainConfig, device: torch.device
) -> tuple[TrainingRows, torch.Tensor]:
    """Checked training rows and validation tensor (training on the validation split if asked)."""
    train_parts = [x_train, x_val] if config.train_on_validation else [x_train]
    rows = TrainingRows(train_parts, device)
    x_val_t = _as_tensor(_validation_subset(x_val, config), torch.device("cpu"))
    if len(rows.sample_shape) < 1 or x_val_t.ndim < 2:
        raise InputError(
            "x_train and x_val must have shape (n, features...), got "
            f"{(len(rows), *rows.sample_shape)} and {tuple(x_val_t.shape)}."
        )
    rows.check_finite("x_train" if not config.train_on_validation else "x_train or x_val")
    if not torch.isfinite(x_val_t).all():
        raise InputError("x_val contains NaN or inf; clean or impute the data first.")
    if rows.sample_shape != tuple(x_val_t.shape[1:]):
        raise InputError(
            f"x_train samples have shape {rows.sample_shape} but x_val samples "
            f"{tuple(x_val_t.shape[1:])}."
        )
    if len(x_val_t) < 2:
        raise InputError("x_val needs at least 2 samples for the validation loss.")
    if len(rows) < config.batch_size:
        raise InputError(
            f"Only {len(rows)} training samples for batch_size {config.batch_size}: "
            "with the last incomplete batch dropped no step would run. Lower batch_size."
        )
    return rows, x_val_t.to(device)


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
        checkpoint = read_checkpoint(
            checkpoint_path, config, model=model, optimizer=optimizer, generator=generator
        )
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


def _budget_left(state: TrainingState, config: TrainConfig, started: float) -> str:
    """``""`` while training may go on, else why it must stop (``max_steps``, ``time_budget``)."""
    if config.max_steps and state.step >= config.max_steps:
        return "max_steps"
    if config.time_budget and state.train_seconds + (time.perf_counter() - started) >= (
        config.time_budget
    ):
        return "time_budget"
    return ""


def _train_epoch(
    state: TrainingState,
    rows: TrainingRows,
    config: TrainConfig,
    epoch: int,
    take_snapshot: Callable[[int], None] | None,
    progress: Callable[[int, int], None] | None = None,
    shard: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    module: torch.nn.Module | None = None,
) -> tuple[dict[str, Any], int]:
    """One pass over shuffled full batches: the sums of the loss components, the steps taken.

    Stops early (setting ``state.stop_reason``) when ``max_steps`` or the time budget is
    reached. On a GPU the components are tensors and are summed on the device: the loop
    reads them back once per epoch, not once per step.
    """
    model = module if module is not None else state.model  # the DDP wrapper when distributed
    order = rows.order(state.generator)
    if shard is not None:  # distributed: this rank's slices of the global batches
        batches = shard(order)
    else:
        batches = [
            order[b * config.batch_size : (b + 1) * config.batch_size]
            for b in range(len(rows) // config.batch_size)
        ]
    started = time.perf_counter()
    sums: dict[str, Any] = {}
    taken = 0
    for b, index in enumerate(batches):
        loss, components = model(rows.take(index))
        value = components["loss"]
        if not isinstance(value, torch.Tensor) and not math.isfinite(value):
            where = f" (batch {b + 1}/{len(batches)})"
            raise TrainingDivergedError(_diverged("training", value, epoch, config, where))
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.step += 1
        taken += 1
        for key, part in components.items():
            sums[key] = sums.get(key, 0.0) + part
        if take_snapshot is not None and state.step % config.snapshot_every == 0:
            take_snapshot(epoch)
        if progress is not None:
            progress(b + 1, len(batches))
        reason = _budget_left(state, config, started)
        if reason:
            state.stop_reason = reason
            break
    state.train_seconds += time.perf_counter() - started
    means = {key: float(value) / max(taken, 1) for key, value in sums.items()}
    if not math.isfinite(means.get("loss", 0.0)):
        raise TrainingDivergedError(_diverged("training", means["loss"], epoch, config))
    return means, taken


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
    if not state.stop_reason:
        if state.bad_epochs >= config.patience:
            state.stop_reason = "early_stopping"
        elif epoch == config.max_epochs:
            state.stop_reason = "max_epochs"
    state.finished = bool(state.stop_reason)


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
    progress: Callable[[int, int], None] | None = None,
    distributed: DistributedContext | None = None,
) -> TrainResult:
    """Train a (topologically regularised) autoencoder with early stopping.

    Parameters
    ----------
    x_train : array-like of shape (n, *input_shape)
        Training inputs (already preprocessed). A NumPy memory map or a lazy view of a
        file is read batch by batch, never copied whole.
    x_val : array-like of shape (n_val, *input_shape)
        Validation inputs for early stopping; must hold at least 2 samples (at most
        ``config.max_validation`` of them are used).
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
    progress : callable, optional
        ``progress(batch, n_batches)`` after every step (for a progress bar).
    distributed : DistributedContext, optional
        Train as one rank of a process group (:mod:`topoae.core.distributed`): the model
        is wrapped in DistributedDataParallel, each rank takes its slices of the global
        batches, only rank 0 writes the checkpoint, and early stopping is rank 0's decision.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDivergedError
        If a loss becomes NaN or infinite.
    topoae.errors.InputError
        If the inputs are empty, contain NaN / inf, or are too small for one batch.
    topoae.errors.DataFileError
        If ``resume`` and the checkpoint is damaged or does not fit the model.

    Notes
    -----
    Training runs with :data:`topoae._threads.TRAIN_THREADS` torch threads whatever the
    caller set (so a seed gives the bit-identical run with any caller thread count,
    ``docs/reliability.md``); the caller's thread settings come back afterwards.
    """
    with fixed_threads(TRAIN_THREADS):
        return _train(
            x_train,
            x_val,
            config or TrainConfig(),
            model,
            checkpoint_path,
            resume,
            callback,
            snapshot_data,
            progress,
            distributed,
        )


def _train(
    x_train,
    x_val,
    config: TrainConfig,
    model: TopologicallyRegularizedAutoencoder | None,
    checkpoint_path: str | Path | None,
    resume: bool,
    callback: Callable[[dict[str, float]], None] | None,
    snapshot_data,
    progress: Callable[[int, int], None] | None,
    distributed: DistributedContext | None,
) -> TrainResult:
    """:func:`train`, under the caller's thread settings."""
    device = distributed.device if distributed is not None else resolve_device(config.device)
    rows, x_val_t = _training_tensors(x_train, x_val, config, device)
    snapshot_t = _as_tensor(snapshot_data, device) if snapshot_data is not None else None
    if model is None:
        model = build_model(config, rows.sample_shape)
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    state = _start(config, model, device, checkpoint_path, resume)
    module, shard = _distribute(model, config, len(rows), distributed)
    writes = distributed is None or distributed.is_main

    take_snapshot = None
    if snapshot_t is not None and config.snapshot_every:

        def take_snapshot(epoch: int) -> None:
            latent = embed(model, snapshot_t, batch_size=4096)
            state.snapshots.append({"step": state.step, "epoch": epoch, "latent": latent})

        if not state.snapshots:
            take_snapshot(0)

    for epoch in range(state.epoch + 1, config.max_epochs + 1):
        if state.finished:
            break
        started = time.perf_counter()
        means, _ = _train_epoch(
            state, rows, config, epoch, take_snapshot, progress, shard=shard, module=module
        )
        if distributed is not None:
            means = distributed.mean(means)
            distributed.sync_buffers(model)
        val = validation_loss(model, x_val_t, config.batch_size)
        if not math.isfinite(val["loss"]):
            raise TrainingDivergedError(_diverged("validation", val["loss"], epoch, config))
        record: dict[str, float] = {"epoch": epoch}
        record.update({f"train_{k}": v for k, v in means.items()})
        record.update({f"val_{k}": v for k, v in val.items()})
        record["seconds"] = time.perf_counter() - started
        _end_epoch(state, epoch, record, val["loss"], config)
        if distributed is not None:  # one decision for all ranks: rank 0's
            state.stop_reason = distributed.broadcast(state.stop_reason)
            state.finished = bool(state.stop_reason)
        if checkpoint_path is not None and writes:
            write_checkpoint(checkpoint_path, state, config)
        logger.info("epoch %d: %s", epoch, record)
        if callback is not None:
            callback(record)

    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.eval()
    history = state.history
    stopped_early = bool(history) and history[-1]["epoch"] < config.max_epochs
    return TrainResult(
        model,
        history,
        state.best_epoch,
        state.best_val,
        stopped_early,
        state.snapshots,
        stop_reason=state.stop_reason,
    )


def _distribute(
    model: torch.nn.Module,
    config: TrainConfig,
    n_train: int,
    distributed: DistributedContext | None,
) -> tuple[torch.nn.Module | None, Callable[[torch.Tensor], list[torch.Tensor]] | None]:
    """The module to train through and the batch sharding (both None on one process)."""
    if distributed is None:
        if config.pair_globally:
            raise InputError("pair_globally needs distributed training (torchrun).")
        return None, None
    from torch.nn.parallel import DistributedDataParallel

    from topoae.core.distributed import global_batch_slices

    distributed.check_same(config.to_dict() | {"device": distributed.device.type})
    global_batch_slices(torch.arange(n_train), config.batch_size, 0, distributed.world_size)
    if config.pair_globally and hasattr(model, "pair_globally"):
        setattr(model, "pair_globally", True)  # noqa: B010  # an attribute of our model class
    device_ids = [distributed.device.index] if distributed.device.type == "cuda" else None
    module = DistributedDataParallel(model, device_ids=device_ids)

    def shard(order: torch.Tensor) -> list[torch.Tensor]:
        return global_batch_slices(
            order, config.batch_size, distributed.rank, distributed.world_size
        )

    return module, shard
