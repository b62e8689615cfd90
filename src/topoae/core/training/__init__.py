"""Training: one readable loop with early stopping, exact resume and a per-epoch history.

``config`` holds :class:`TrainConfig` and the paper's settings, ``state`` the run's
state and its checkpoint format, ``loop`` the loop itself, ``optim`` the optimiser.
"""

from topoae.core.evaluation import embed, reconstruct
from topoae.core.training.config import TrainConfig, paper_config, resolve_device
from topoae.core.training.loop import (
    TrainingDivergedError,
    TrainResult,
    build_model,
    train,
    validation_loss,
)
from topoae.core.training.optim import make_optimizer
from topoae.core.training.state import CHECKPOINT_FORMAT, TrainingState, read_checkpoint

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingState",
    "build_model",
    "embed",
    "make_optimizer",
    "paper_config",
    "read_checkpoint",
    "reconstruct",
    "resolve_device",
    "train",
    "validation_loss",
]
