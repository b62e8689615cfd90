"""``topoae.tune``: the search for estimator users, on an array in memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from topoae.apps.tune.space import SearchSpace, direction_of, optuna_module
from topoae.apps.tune.study import count_finished, make_sampler
from topoae.errors import InputError

__all__ = ["tune"]


def tune(
    X,
    *,
    n_trials: int = 20,
    objective: str = "kl_0.1",
    model: str = "topoae",
    space: dict[str, str] | None = None,
    sampler: str = "random",
    validation_fraction: float = 0.15,
    storage: str | None = None,
    study_name: str | None = None,
    random_state: int = 0,
    max_epochs: int = 100,
    patience: int = 10,
    timeout: float | None = None,
    callback: Callable[[Any, Any], None] | None = None,
):
    """Search the estimator's ``batch_size``, ``learning_rate`` and ``lam`` on your array.

    Each trial fits :class:`topoae.TopologicalAutoencoder` on a seeded training part of
    ``X`` and is scored on the held-out part (standardised with the fitted statistics).

    Parameters
    ----------
    X : array-like of shape (n, d)
    n_trials : int
        Finished (complete or pruned) trials to reach, counting earlier ones in ``storage``.
    objective : str
        A measure of :func:`topoae.metrics.evaluate` (its direction is chosen for you).
    model : {"topoae", "ae", "linear-topoae"}
    space : dict of str to str, optional
        ``{"lam": "0.05:5"}`` widens a range, ``{"batch_size": "64"}`` fixes a value.
    sampler : {"random", "tpe"}
    validation_fraction : float
    storage : str, optional
        An Optuna storage URL (default: in memory).
    study_name, random_state, max_epochs, patience, timeout, callback
        Passed on to the study / the estimator.

    Returns
    -------
    best_params : dict
        Keyword arguments of :class:`topoae.TopologicalAutoencoder`.
    study : optuna.Study
    """
    optuna = optuna_module()
    from topoae import metrics
    from topoae.estimator import TopologicalAutoencoder

    if n_trials < 1:
        raise InputError(f"n_trials must be >= 1, got {n_trials}.")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 8:
        raise InputError(f"X must have shape (n, d) with n >= 8, got {X.shape}.")
    search = SearchSpace.paper(space, model=model)
    order = np.random.RandomState(random_state).permutation(len(X))
    n_val = max(4, round(validation_fraction * len(X)))
    X_val, X_fit = X[order[:n_val]], X[order[n_val:]]
    architecture = "linear" if model == "linear-topoae" else "auto"

    def objective_of(trial) -> float:
        params: dict[str, Any] = search.suggest(trial)
        params["batch_size"] = int(params["batch_size"])
        estimator = TopologicalAutoencoder(
            architecture=architecture, max_epochs=max_epochs, patience=patience,
            random_state=random_state, **params,
        )  # fmt: skip
        estimator.fit(X_fit)
        scaled = (
            (X_val - estimator.mean_) / estimator.scale_ if estimator.mean_ is not None else X_val
        )
        measures = metrics.evaluate(
            scaled, estimator.transform(X_val), ks=metrics.usable_ks(len(X_val)), extra=False
        )
        if objective not in measures:
            raise InputError(
                f"Unknown objective {objective!r}; choose one of {', '.join(measures)}."
            )
        return float(measures[objective])

    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=True,
        direction=direction_of(objective),
        sampler=make_sampler(sampler, random_state),
    )
    finished = count_finished(study)
    if finished < n_trials:
        study.optimize(
            objective_of,
            n_trials=n_trials - finished,
            timeout=timeout,
            callbacks=[callback] if callback else None,
        )
    best = dict(study.best_params)
    if "batch_size" in best:
        best["batch_size"] = int(best["batch_size"])
    params = {
        **search.fixed,
        **best,
        "architecture": architecture,
        "max_epochs": max_epochs,
        "patience": patience,
        "random_state": random_state,
    }
    return params, study
