"""The study of a tune: its database, its identity, its workers, and resuming it.

The study is stored by Optuna in a database: by default ``sqlite:///<out>/study.db``; any URL
Optuna accepts (``postgresql://...``, ``mysql://...``) lets workers on several machines share
it. ``<out>/study.json`` names the study and records what defines it (data set, model, space,
objective, fixed settings): a tune with other settings is refused instead of being mixed into
it (``new_study=True`` starts a fresh study beside the old one, which is kept).

Finished trials (complete or pruned) are what counts: a tune started again runs only as many
trials as are missing. A trial that was running when its process was killed is marked failed
on the next start (with the default SQLite file, which no other machine uses) or, in a shared
database, once its heartbeat is older than the grace period.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topoae._io import write_json
from topoae.apps.tune.space import SearchSpace, direction_of, optuna_module, study_signature
from topoae.errors import InputError

__all__ = ["TuneSettings", "count_finished", "make_sampler", "open_study", "run_tune"]

logger = logging.getLogger("topoae.tune")

#: Seconds between a running trial's heartbeats, and after which a silent one counts as dead.
HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 60


@dataclass
class TuneSettings:
    """Everything a tune's workers need (picklable: workers are separate processes).

    Attributes
    ----------
    dataset : str
        Registered name or file path, loaded by each worker.
    dataset_options : dict
        Keyword arguments of :func:`topoae.datasets.load` (data folder, subsets, ...).
    model : {"topoae", "ae", "linear-topoae"}
    preset : str
        Whose paper settings fill what the space and ``fixed`` leave open.
    space : SearchSpace
    fixed : dict
        TrainConfig settings held for every trial (epochs, patience, seed, device, ...).
    objective : str
    n_trials : int
        Finished trials to reach.
    sampler : {"random", "tpe"}
    seed : int
        Seeds the sampler (offset by worker and by the trials already in the study).
    prune : bool
    timeout : float or None
        Seconds after which each worker starts no new trial.
    """

    dataset: str
    dataset_options: dict[str, Any]
    model: str
    preset: str
    space: SearchSpace
    fixed: dict[str, Any]
    objective: str = "kl_0.1"
    n_trials: int = 20
    sampler: str = "random"
    seed: int = 0
    prune: bool = True
    timeout: float | None = None
    storage: str = ""
    study_name: str = ""
    log_to_stderr: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def signature(self) -> str:
        """What makes two tunes one study (not the trial count, sampler or timeout)."""
        return study_signature(
            dataset=self.dataset,
            dataset_options=self.dataset_options,
            model=self.model,
            preset=self.preset,
            space=self.space.to_dict(),
            fixed=self.fixed,
            objective=self.objective,
        )


def make_sampler(name: str, seed: int):
    """Optuna's random sampler (the paper's search) or TPE, seeded."""
    optuna = optuna_module()
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise InputError(f"Unknown sampler {name!r}; choose random or tpe.")


def count_finished(study) -> int:
    """Complete and pruned trials: the ones a tune counts towards its target."""
    optuna = optuna_module()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _storage(url: str):
    optuna = optuna_module()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental by Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS
            )
    except Exception as error:  # sqlalchemy raises many types for a bad URL or server
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"Cannot open the study storage {url!r} ({reason}); give a URL Optuna accepts, "
            "e.g. sqlite:///study.db or postgresql://user@host/db."
        ) from None


def open_study(settings: TuneSettings, out: Path, *, new_study: bool = False):
    """Create or reopen the tune's study, refusing one made with other settings.

    Returns
    -------
    optuna.Study
        ``settings.storage`` and ``settings.study_name`` are filled in.
    """
    optuna = optuna_module()
    settings.storage = settings.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    storage = _storage(settings.storage)
    record_path = out / "study.json"
    record = _read_record(record_path) if record_path.exists() else {}
    name = record.get("study_name") or f"topoae-{Path(settings.dataset).stem}-{settings.model}"
    signature = settings.signature()
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if name in existing:
        made_with = existing[name].user_attrs.get("signature")
        if made_with != signature and not new_study:
            raise InputError(
                f"The study {name!r} in {settings.storage} was made with other settings (data "
                "set, model, search space, objective or fixed flags); pass --new-study to start "
                "a new study beside it, or choose another --out / --storage."
            )
        if made_with != signature:
            suffix = 2
            while f"{name}-{suffix}" in existing:
                suffix += 1
            name = f"{name}-{suffix}"
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        load_if_exists=True,
        direction=direction_of(settings.objective),
    )
    study.set_user_attr("signature", signature)
    study.set_user_attr("objective", settings.objective)
    settings.study_name = name
    write_json(
        record_path, {"study_name": name, "storage": settings.storage, "signature": signature}
    )
    if (
        settings.storage.startswith("sqlite:///")
        and Path(settings.storage[10:]).parent == out.resolve()
    ):
        _fail_interrupted(study)
    return study


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"Cannot read {path} ({error}); delete it to start a new study.") from None
    if not isinstance(record, dict) or not isinstance(record.get("study_name", ""), str):
        raise InputError(f"{path} is not a topoae tune record; delete it to start a new study.")
    return record


def _fail_interrupted(study) -> None:
    """Mark trials left RUNNING by a killed tune as failed (only for our own SQLite file)."""
    optuna = optuna_module()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        logger.info("trial %d was interrupted; it is marked failed", trial.number)


def _worker(settings: TuneSettings, worker: int, threads: int) -> None:
    """One worker process: load the data, then run trials until the study has enough."""
    import torch

    from topoae import datasets
    from topoae.apps.tune.trial import run_trial

    optuna = optuna_module()
    torch.set_num_threads(threads)
    if settings.log_to_stderr and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # one line per trial, not a second one from the root logger
    data = datasets.load(
        settings.dataset, seed=settings.fixed.get("seed", 0), **settings.dataset_options
    )
    storage = _storage(settings.storage)
    started = len(optuna.load_study(study_name=settings.study_name, storage=storage).trials)
    # A fresh seed per worker and per restart: a resumed random search must not redraw the
    # settings of the trials it already ran.
    sampler = make_sampler(settings.sampler, settings.seed + 7919 * worker + 104729 * started)
    study = optuna.load_study(study_name=settings.study_name, storage=storage, sampler=sampler)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    study.pruner = pruner

    def objective(trial) -> float:
        return run_trial(
            trial,
            data=data,
            model=settings.model,
            preset=settings.preset,
            space=settings.space,
            fixed=settings.fixed,
            objective=settings.objective,
            prune=settings.prune,
        )

    def announce(study, trial) -> None:
        logger.info("%s", trial_line(study, trial, settings))

    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    while count_finished(study) < settings.n_trials:
        if deadline is not None and time.monotonic() >= deadline:
            break
        study.optimize(objective, n_trials=1, callbacks=[announce], catch=())


def trial_line(study, trial, settings: TuneSettings) -> str:
    """One line per finished trial, for the command line."""
    params = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial.params.items()
    )
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete
        else 0
    )
    done = count_finished(study)
    if trial.state.name == "COMPLETE":
        outcome = f"{settings.objective} {trial.value:.4g}"
    else:
        outcome = trial.state.name.lower()
    try:
        best = f"best {study.best_value:.4g} (#{study.best_trial.number})"
    except ValueError:
        best = "no complete trial yet"
    progress = f"[{done}/{settings.n_trials}]"
    return f"trial {trial.number:3d} {progress}: {outcome} ({params}) {seconds:.0f}s, {best}"


def run_tune(settings: TuneSettings, *, jobs: int = 1) -> None:
    """Run the study's missing trials with ``jobs`` worker processes (1: in this process)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        _worker(settings, 0, threads)
        return
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(settings, worker, threads)) for worker in range(jobs)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise InputError(
            f"{len(failed)} of {jobs} tune workers failed (exit codes {failed}); see above."
        )
