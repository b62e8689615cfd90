"""``topoae tune``: the paper's hyperparameter search for any data, in a resumable Optuna study.

Modules: ``space`` (ranges, directions), ``trial`` (one trial: train, score on validation),
``study`` (database, identity, workers, resume), ``outputs`` (best.json, trials.csv, figure),
``estimator_search`` (:func:`tune` for arrays in memory). Optuna is the ``tune`` extra.
"""

from topoae.apps.tune.estimator_search import tune
from topoae.apps.tune.outputs import best_config, trials_table, write_outputs
from topoae.apps.tune.space import PAPER_SPACE, Range, SearchSpace, direction_of
from topoae.apps.tune.study import TuneSettings, count_finished, open_study, run_tune

__all__ = [
    "PAPER_SPACE",
    "Range",
    "SearchSpace",
    "TuneSettings",
    "best_config",
    "count_finished",
    "direction_of",
    "open_study",
    "run_tune",
    "trials_table",
    "tune",
    "write_outputs",
]
