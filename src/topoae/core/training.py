"""Training: one readable loop with early stopping, exact resume and a per-epoch history.

The protocol is METHOD.md §6: Adam with weight decay, shuffled minibatches with
the incomplete last batch dropped, early stopping on the validation *total* loss,
the best weights restored at the end. By default the model is trained on the
training split only; ``train_on_validation=True`` reproduces the reference
implementation's quirk of also training on the validation split it stops on.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from topoae import __version__
from topoae._io import save_torch
from topoae.core.models import (
    Autoencoder,
    TopologicallyRegularizedAutoencoder,
    build_autoencoder,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "build_model",
    "embed",
    "make_optimizer",
    "reconstruct",
    "resolve_device",
    "train",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and a remedy."""


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved with every checkpoint).

    Defaults are the paper's TopoAE settings for Spheres (METHOD.md §6).

    Attributes
    ----------
    architecture : {"mlp", "deep", "linear"}
        Built-in autoencoder (ignored when :func:`train` is given a model).
    hidden_sizes : tuple of int or None
        Hidden widths; ``None`` keeps the architecture's default.
    latent_dim : int
    lam : float
        Weight of the topological term; ``0`` trains a vanilla autoencoder.
    match_edges : str
        See :class:`~topoae.core.losses.TopologicalSignatureLoss`.
    data_scale : float or None
        Fixed data-distance normaliser (images), ``None`` for the batch maximum.
    learning_rate, weight_decay : float
        Adam's settings.
    batch_size : int
    max_epochs, patience : int
        Early stopping stops after ``patience`` epochs without a better validation loss.
    seed : int
        Seeds initialisation and shuffling: a CPU run repeats exactly.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    train_on_validation : bool
        Train on train + validation like the reference implementation (still stopping on
        validation). Off by default: it leaks the stopping data into training.
    snapshot_every : int
        Store the latent codes of the snapshot subset every this many steps (0: never).
    """

    architecture: str = "mlp"
    hidden_sizes: tuple[int, ...] | None = None
    latent_dim: int = 2
    lam: float = 0.43358
    match_edges: str = "symmetric"
    data_scale: float | None = None
    learning_rate: float = 2.7268e-4
    weight_decay: float = 1e-5
    batch_size: int = 28
    max_epochs: int = 100
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    train_on_validation: bool = False
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        if self.hidden_sizes is not None:
            self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        problems = []
        if self.batch_size < 2:
            problems.append(f"batch_size must be >= 2 (a batch needs pairs), got {self.batch_size}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            problems.append(f"learning_rate must be positive, got {self.learning_rate}")
        if not (self.lam >= 0 and math.isfinite(self.lam)):
            problems.append(f"lam must be >= 0, got {self.lam}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_epochs < 1:
            problems.append(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.patience < 1:
            problems.append(f"patience must be >= 1, got {self.patience}")
        if self.latent_dim < 1:
            problems.append(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.snapshot_every < 0:
            problems.append(f"snapshot_every must be >= 0, got {self.snapshot_every}")
        if problems:
            raise ValueError("Invalid training configuration: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = asdict(self)
        if out["hidden_sizes"] is not None:
            out["hidden_sizes"] = list(out["hidden_sizes"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
        return cls(**data)


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


def resolve_device(device: str) -> torch.device:
    """``"auto"`` becomes CUDA when available, else CPU; a missing CUDA is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} requested but CUDA is not available; use 'cpu'.")
    return resolved


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


def make_optimizer(parameters, learning_rate: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with L2 weight decay (METHOD.md §6), fused where torch has a fused kernel.

    The fused implementation updates all parameters in one kernel per step instead
    of about ten tensor operations per parameter: on a CPU it makes a step of the
    small Spheres MLP about a third faster. It computes the same update (up to
    floating-point rounding); where it is not available (e.g. an unusual device or
    dtype), the default implementation is used.

    Parameters
    ----------
    parameters : iterable of torch.nn.Parameter
    learning_rate, weight_decay : float

    Returns
    -------
    torch.optim.Adam
    """
    parameters = list(parameters)
    # Checked here: torch notices some unsupported parameters only at the first step.
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters)
    if fused:
        try:
            return torch.optim.Adam(
                parameters, lr=learning_rate, weight_decay=weight_decay, fused=True
            )
        except (RuntimeError, ValueError):  # this torch has no fused kernel for them
            pass
    return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)


def _as_tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    tensor = torch.as_tensor(x)
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.to(device=device, dtype=torch.float32)


@torch.no_grad()
def embed(model: torch.nn.Module, x, *, batch_size: int = 2048) -> np.ndarray:
    """Latent codes of ``x`` in eval mode, shape ``(n, latent_dim)``, as a NumPy array."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = _as_tensor(x, torch.device("cpu"))
    parts = [
        model.encode(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts).numpy()


@torch.no_grad()
def reconstruct(model: torch.nn.Module, x, *, batch_size: int = 2048) -> np.ndarray:
    """Reconstructions of ``x`` in eval mode, same shape as ``x``, as a NumPy array."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = _as_tensor(x, torch.device("cpu"))
    parts = [
        model.decode(model.encode(x[i : i + batch_size].to(device))).cpu()
        for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts).numpy()


@torch.no_grad()
def _validation_loss(model, x_val: torch.Tensor, batch_size: int) -> dict[str, float]:
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
        Written atomically after every epoch: weights, optimiser, epoch, best weights,
        history, random state and the config.
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
    ValueError
        If the inputs are empty, contain NaN / inf, or are too small for one batch.
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    x_train_t = _as_tensor(x_train, torch.device("cpu"))
    x_val_t = _as_tensor(x_val, torch.device("cpu"))
    for name, tensor in (("x_train", x_train_t), ("x_val", x_val_t)):
        if tensor.ndim < 2:
            raise ValueError(f"{name} must have shape (n, features...), got {tuple(tensor.shape)}.")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} contains NaN or inf; clean or impute the data first.")
    if x_train_t.shape[1:] != x_val_t.shape[1:]:
        raise ValueError(
            f"x_train samples have shape {tuple(x_train_t.shape[1:])} but x_val samples "
            f"{tuple(x_val_t.shape[1:])}."
        )
    if len(x_val_t) < 2:
        raise ValueError("x_val needs at least 2 samples for the validation loss.")
    if config.train_on_validation:
        x_train_t = torch.cat([x_train_t, x_val_t])
    if len(x_train_t) < config.batch_size:
        raise ValueError(
            f"Only {len(x_train_t)} training samples for batch_size {config.batch_size}: "
            "with the last incomplete batch dropped no step would run. Lower batch_size."
        )
    x_train_t, x_val_t = x_train_t.to(device), x_val_t.to(device)
    snapshot_t = _as_tensor(snapshot_data, device) if snapshot_data is not None else None

    if model is None:
        model = build_model(config, tuple(x_train_t.shape[1:]))
    model.to(device).train()
    optimizer = make_optimizer(model.parameters(), config.learning_rate, config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    snapshots: list[dict[str, Any]] = []
    best_state, best_val, best_epoch, bad_epochs, start_epoch, step = None, math.inf, 0, 0, 1, 0

    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        state = _load_checkpoint(checkpoint_path, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        history, snapshots = state["history"], state["snapshots"]
        best_state, best_val = state["best_state"], state["best_val"]
        best_epoch, bad_epochs, step = state["best_epoch"], state["bad_epochs"], state["step"]
        start_epoch = state["epoch"] + 1
        logger.info("Resumed from %s after epoch %d", checkpoint_path, state["epoch"])
        if state["finished"]:
            start_epoch = config.max_epochs + 1

    def take_snapshot(epoch: int) -> None:
        latent = embed(model, snapshot_t, batch_size=4096)
        snapshots.append({"step": step, "epoch": epoch, "latent": latent})

    if snapshot_t is not None and config.snapshot_every and not snapshots:
        take_snapshot(0)

    n_batches = len(x_train_t) // config.batch_size
    finished = start_epoch > config.max_epochs
    for epoch in range(start_epoch, config.max_epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(len(x_train_t), generator=generator).to(device)
        sums: dict[str, float] = {}
        for b in range(n_batches):
            batch = x_train_t[order[b * config.batch_size : (b + 1) * config.batch_size]]
            loss, components = model(batch)
            if not math.isfinite(components["loss"]):
                raise TrainingDivergedError(
                    f"The training loss became {components['loss']} in epoch {epoch} (batch "
                    f"{b + 1}/{n_batches}). Lower the learning rate (now {config.learning_rate:g})"
                    f" or lam (now {config.lam:g}), and check the data for extreme values."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            for key, value in components.items():
                sums[key] = sums.get(key, 0.0) + value
            if (
                snapshot_t is not None
                and config.snapshot_every
                and step % config.snapshot_every == 0
            ):
                take_snapshot(epoch)
        val = _validation_loss(model, x_val_t, config.batch_size)
        if not math.isfinite(val["loss"]):
            raise TrainingDivergedError(
                f"The validation loss became {val['loss']} in epoch {epoch}. Lower the learning "
                f"rate (now {config.learning_rate:g}) or lam (now {config.lam:g})."
            )
        record = {"epoch": epoch}
        record.update({f"train_{k}": v / n_batches for k, v in sums.items()})
        record.update({f"val_{k}": v for k, v in val.items()})
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if val["loss"] < best_val:
            best_val, best_epoch, bad_epochs = val["loss"], epoch, 0
            best_state = _state_copy(model)
        else:
            bad_epochs += 1
        finished = bad_epochs >= config.patience or epoch == config.max_epochs
        if checkpoint_path is not None:
            save_torch(
                checkpoint_path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "topoae_version": __version__,
                    "config": config.to_dict(),
                    "epoch": epoch,
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "history": history,
                    "snapshots": snapshots,
                    "best_state": best_state,
                    "best_val": best_val,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "finished": finished,
                },
            )
        logger.info("epoch %d: %s", epoch, record)
        if callback is not None:
            callback(record)
        if finished:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    stopped_early = bool(history) and history[-1]["epoch"] < config.max_epochs
    return TrainResult(model, history, best_epoch, best_val, stopped_early, snapshots)


def _load_checkpoint(path: Path, config: TrainConfig) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(
            f"Cannot read checkpoint {path} ({error}); it is damaged or not a topoae "
            "checkpoint. Delete it to start over."
        ) from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a topoae training checkpoint.")
    saved = TrainConfig.from_dict(state["config"])
    ours = copy.copy(config)
    ours.device = saved.device  # a run may resume on another device
    if saved != ours:
        diff = {
            f.name: (getattr(saved, f.name), getattr(ours, f.name))
            for f in fields(TrainConfig)
            if getattr(saved, f.name) != getattr(ours, f.name)
        }
        raise ValueError(
            f"Checkpoint {path} was written with other settings {diff} (saved, now); "
            "resume with the same settings or start a new output folder."
        )
    return state


#: Model variants of the paper: the non-linear TopoAE, the vanilla AE, the linear TopoAE.
MODEL_VARIANTS = ("topoae", "ae", "linear-topoae")


def paper_config(dataset: str, model: str = "topoae", **overrides: Any) -> TrainConfig:
    """The paper's settings (METHOD.md §5-§6) for ``model`` on ``dataset``, with overrides.

    Parameters
    ----------
    dataset : str
        Data set name (unknown names get the Spheres settings).
    model : {"topoae", "ae", "linear-topoae"}
    **overrides
        Any :class:`TrainConfig` field; ``None`` values are ignored.

    Returns
    -------
    TrainConfig
    """
    from topoae.paper import get_preset

    if model not in MODEL_VARIANTS:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(MODEL_VARIANTS)}.")
    preset = get_preset(dataset)
    settings = preset.models[model]
    values: dict[str, Any] = {
        "architecture": "linear" if model == "linear-topoae" else preset.architecture,
        "lam": settings.lam,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
