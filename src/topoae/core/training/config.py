"""The settings of a training run (:class:`TrainConfig`), the paper's per data set, the device."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from topoae.core.cycles import check_homology_dims
from topoae.core.losses.cycles import CYCLE_FORMULATIONS
from topoae.errors import InputError
from topoae.paper import MODEL_VARIANTS, SPHERES_TOPOAE, preset_for_dataset

__all__ = ["TrainConfig", "paper_config", "resolve_device"]


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved with every checkpoint).

    Defaults are the paper's TopoAE settings for Spheres (docs/method.md §6), taken from
    :data:`topoae.paper.SPHERES_TOPOAE`.

    Attributes
    ----------
    architecture : {"mlp", "deep", "linear"}
        Built-in autoencoder (ignored when :func:`~topoae.core.training.train` is given a model).
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
    max_steps : int
        Stop after this many optimiser steps in all (0: no limit), for data too large for
        ``max_epochs`` full passes; the epoch it falls in ends there and is validated.
    time_budget : float
        Stop after this many seconds of training in all, resumed runs counted (0: none).
    max_validation : int
        Early stopping uses at most this many validation points (a seeded subset, so large
        validation splits stay cheap; smaller splits are used whole, as in the paper).
    pair_globally : bool
        Distributed training only: pair the latent codes of all ranks' batches together
        (the topology of the global batch); otherwise each rank pairs its own batch. See
        :mod:`topoae.core.distributed`.
    homology_dims : tuple of int
        Dimensions the topological term matches: ``(0,)`` (components, the paper) or
        ``(0, 1)`` (also cycles, docs/cycles.md); validated by
        :func:`~topoae.core.cycles.check_homology_dims` (dimension 2 is an error).
    cycle_formulation : str
        The dimension-1 term, one of :data:`~topoae.core.losses.CYCLE_FORMULATIONS`
        (``"persistence"``: the authors' ``use_cycles``; ``"cascade"``: TopoAE++).
    cycle_lam : float
        Weight λ1 of the dimension-1 term (``lam`` weighs dimension 0): the loss is
        ``MSE + (lam · L0 + cycle_lam · L1) / m``. Used only when 1 is in ``homology_dims``.
    """

    architecture: str = "mlp"
    hidden_sizes: tuple[int, ...] | None = None
    latent_dim: int = 2
    lam: float = SPHERES_TOPOAE.lam
    match_edges: str = "symmetric"
    data_scale: float | None = None
    learning_rate: float = SPHERES_TOPOAE.learning_rate
    weight_decay: float = 1e-5
    batch_size: int = SPHERES_TOPOAE.batch_size
    max_epochs: int = 100
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    train_on_validation: bool = False
    snapshot_every: int = 0
    max_steps: int = 0
    time_budget: float = 0.0
    max_validation: int = 10_000
    pair_globally: bool = False
    homology_dims: tuple[int, ...] = (0,)
    cycle_formulation: str = "persistence"
    cycle_lam: float = 1.0

    def __post_init__(self) -> None:
        if self.hidden_sizes is not None:
            self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        # A clear InputError for dimension 2 or a bad list; a JSON list becomes a tuple.
        self.homology_dims = check_homology_dims(self.homology_dims)
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
        if self.max_steps < 0:
            problems.append(f"max_steps must be >= 0 (0: no limit), got {self.max_steps}")
        if not (self.time_budget >= 0 and math.isfinite(self.time_budget)):
            problems.append(f"time_budget must be >= 0 seconds (0: none), got {self.time_budget}")
        if self.max_validation < 2:
            problems.append(f"max_validation must be >= 2, got {self.max_validation}")
        if not (self.cycle_lam >= 0 and math.isfinite(self.cycle_lam)):
            problems.append(f"cycle_lam must be >= 0, got {self.cycle_lam}")
        if self.cycle_formulation not in CYCLE_FORMULATIONS:
            problems.append(
                f"cycle_formulation must be one of {', '.join(CYCLE_FORMULATIONS)}, "
                f"got {self.cycle_formulation!r}"
            )
        if problems:
            raise InputError("Invalid training configuration: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = asdict(self)
        if out["hidden_sizes"] is not None:
            out["hidden_sizes"] = list(out["hidden_sizes"])
        out["homology_dims"] = list(out["homology_dims"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
        return cls(**data)


def paper_config(dataset: str, model: str = "topoae", **overrides: Any) -> TrainConfig:
    """The paper's settings (docs/method.md §5-§6) for ``model`` on ``dataset``, with overrides.

    Parameters
    ----------
    dataset : str
        Data set (or preset) name; one the paper did not use gets
        :data:`topoae.paper.GENERIC` (Spheres' settings), see
        :func:`topoae.paper.preset_for_dataset`.
    model : {"topoae", "ae", "linear-topoae"}
    **overrides
        Any :class:`TrainConfig` field; ``None`` values are ignored.

    Returns
    -------
    TrainConfig
    """
    if model not in MODEL_VARIANTS:
        raise InputError(f"Unknown model {model!r}; choose one of {', '.join(MODEL_VARIANTS)}.")
    preset = preset_for_dataset(dataset)
    settings = preset.models[model]
    values: dict[str, Any] = {
        "architecture": "linear" if model == "linear-topoae" else preset.architecture,
        "lam": settings.lam,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` becomes CUDA when available, else CPU; a missing CUDA is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"Unknown device {device!r}; use auto, cpu, cuda or cuda:N.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Device {device!r} requested but CUDA is not available; use 'cpu'.")
    return resolved
