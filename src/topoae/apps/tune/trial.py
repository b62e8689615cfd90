"""One trial of a tune: train with the trial's settings, score on the validation split."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from topoae.apps.tune.space import SearchSpace, direction_of, optuna_module
from topoae.errors import InputError

__all__ = ["run_trial", "validation_measures"]


def validation_measures(model, data, objective: str) -> tuple[float, dict[str, float]]:
    """Score the trained model on the validation split (never the test split)."""
    from topoae import metrics
    from topoae.core.training import embed, reconstruct

    x_val = np.asarray(data.x_val)
    flat = x_val.reshape(len(x_val), -1)
    latent = embed(model, x_val)
    x_hat = reconstruct(model, x_val).reshape(len(x_val), -1)
    measures = metrics.evaluate(flat, latent, ks=metrics.usable_ks(len(flat)), X_hat=x_hat)
    if objective not in measures:
        raise InputError(
            f"Unknown objective {objective!r}; choose one of {', '.join(sorted(measures))}."
        )
    scalars = {k: float(cast(float, v)) for k, v in measures.items() if np.isscalar(v)}
    return float(measures[objective]), scalars


def run_trial(
    trial,
    *,
    data,
    model: str,
    preset: str,
    space: SearchSpace,
    fixed: dict[str, Any],
    objective: str,
    prune: bool,
) -> float:
    """Train one trial's autoencoder and return its validation objective."""
    optuna = optuna_module()
    from topoae.core.training import TrainingDivergedError, paper_config, train

    params = space.suggest(trial)
    overrides = {**fixed, **params, "data_scale": data.data_scale}
    if model == "ae":
        overrides["lam"] = 0.0
    config = paper_config(preset, model, **overrides)
    # Fewer training points than one batch: this trial's batch size cannot train.
    if len(data.x_train) < config.batch_size:
        raise optuna.TrialPruned(f"batch size {config.batch_size} > {len(data.x_train)} points")
    minimise = direction_of(objective) == "minimize"

    def report(record: dict[str, float]) -> None:
        if not prune:
            return
        value = record.get("val_reconstruction", record["val_loss"])
        # The pruner compares intermediate values in the study's direction.
        trial.report(value if minimise else -value, record["epoch"])
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

    try:
        result = train(data.x_train, data.x_val, config, callback=report)
    except TrainingDivergedError as error:
        # A diverging setting is as hopeless as a pruned one: it counts, and the search goes on.
        trial.set_user_attr("diverged", str(error))
        raise optuna.TrialPruned("the loss diverged") from None
    value, measures = validation_measures(result.model, data, objective)
    if not math.isfinite(value):
        raise InputError(f"The objective {objective} is {value} for trial {trial.number}.")
    trial.set_user_attr("validation", measures)
    trial.set_user_attr("epochs", len(result.history))
    trial.set_user_attr("best_epoch", result.best_epoch)
    trial.set_user_attr("config", config.to_dict())
    return value
