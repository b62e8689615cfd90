"""What a tune leaves in its folder: best.json, best_trial.json, trials.csv, tuning.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from topoae._io import atomic_write_text, write_json
from topoae.apps.tune.space import optuna_module

__all__ = ["best_config", "trials_table", "write_outputs"]

# TrainConfig names -> the estimator's, so that one best.json serves both.
_ESTIMATOR_NAMES = {"seed": "random_state"}


def best_config(study, settings) -> dict[str, Any]:
    """The best trial's training settings, as ``topoae train --config`` and the estimator take them.

    Keys are keyword arguments of :class:`topoae.TopologicalAutoencoder` (``lam``,
    ``learning_rate``, ``batch_size``, ``max_epochs``, ``patience``, ``random_state``, and
    ``architecture`` for the linear model); ``topoae train --config`` accepts the same names.
    """
    trial = study.best_trial
    config = trial.user_attrs.get("config", {})
    values: dict[str, Any] = {}
    for name in ("lam", "learning_rate", "batch_size", "max_epochs", "patience", "seed"):
        if name in config:
            values[_ESTIMATOR_NAMES.get(name, name)] = config[name]
    if settings.model == "linear-topoae":
        values["architecture"] = "linear"
    return values


def trials_table(study) -> str:
    """CSV of every trial: number, state, value, parameters, epochs, validation measures."""
    trials = study.get_trials(deepcopy=False)
    params = sorted({k for t in trials for k in t.params})
    measures = sorted({k for t in trials for k in t.user_attrs.get("validation", {})})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["number", "state", "value", *params, "epochs", "seconds", *measures])
    for t in trials:
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else ""
        )
        validation = t.user_attrs.get("validation", {})
        writer.writerow(
            [t.number, t.state.name, "" if t.value is None else repr(t.value)]
            + [t.params.get(k, "") for k in params]
            + [t.user_attrs.get("epochs", ""), seconds]
            + [validation.get(k, "") for k in measures]
        )
    return buffer.getvalue()


def write_outputs(study, settings, out: Path) -> dict[str, Any] | None:
    """Write best.json (when a trial completed), trials.csv and the figure; return the best."""
    optuna = optuna_module()
    atomic_write_text(out / "trials.csv", trials_table(study))
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    best = best_config(study, settings)
    # best.json holds only settings, so that TopologicalAutoencoder(**params) takes it whole.
    write_json(out / "best.json", best)
    write_json(
        out / "best_trial.json",
        {
            "trial": study.best_trial.number,
            "objective": settings.objective,
            "direction": study.direction.name.lower(),
            "value": study.best_value,
            "validation": study.best_trial.user_attrs.get("validation", {}),
            "dataset": settings.dataset,
            "model": settings.model,
            "study": settings.study_name,
            "storage": settings.storage,
        },
    )
    try:
        _figure(study, settings, out / "tuning.png")
    except ImportError:
        pass  # the figure needs the plot extra; the numbers are in trials.csv
    return best


def _figure(study, settings, path: Path) -> None:
    from topoae.plotting.tuning import plot_tuning

    optuna = optuna_module()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    names = sorted({k for t in complete for k in t.params})
    plot_tuning(
        [t.number for t in complete],
        [t.value for t in complete],
        {name: [t.params.get(name) for t in complete] for name in names},
        objective=settings.objective,
        maximise=study.direction == optuna.study.StudyDirection.MAXIMIZE,
        path=path,
    )
