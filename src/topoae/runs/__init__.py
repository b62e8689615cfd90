"""The run layer: run folders on disk (``folder``) and the one path from data to a finished run
(``experiment``).

Built on the core layer; the estimator, the applications and the command line use it.
"""

from topoae.runs.experiment import (
    ExperimentResult,
    experiment_config,
    fit_model,
    kl_measures,
    run_experiment,
    snapshot_subset,
)
from topoae.runs.folder import RunRecord, embedding_to_csv, load_run, load_run_model, save_run

__all__ = [
    "ExperimentResult",
    "RunRecord",
    "embedding_to_csv",
    "experiment_config",
    "fit_model",
    "kl_measures",
    "load_run",
    "load_run_model",
    "run_experiment",
    "save_run",
    "snapshot_subset",
]
