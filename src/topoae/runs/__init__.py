"""The run layer: run folders on disk (``folder``) and the one path from data to a finished run.

Built on the core layer; the estimator, the applications and the command line use it.
"""

from topoae.runs.folder import RunRecord, embedding_to_csv, load_run, load_run_model, save_run

__all__ = ["RunRecord", "embedding_to_csv", "load_run", "load_run_model", "save_run"]
