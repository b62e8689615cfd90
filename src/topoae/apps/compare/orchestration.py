"""``compare()``: every method on every seed, stored as each pair finishes, then the table.

The work is a list of (seed, method) pairs not yet in the result store; a :class:`_Session`
runs them one by one or in spawned worker processes and stores each result (embedding CSV,
record, ``results.json``) as it arrives, so an interrupted comparison resumes where it
stopped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from topoae._io import atomic_write_text
from topoae._lock import RunFolder
from topoae.apps.compare.methods import MethodResult, check_protocol, run_method
from topoae.apps.compare.results import Comparison, jsonable, resume, save_results
from topoae.datasets import Dataset
from topoae.errors import InputError
from topoae.paper import AUTOENCODERS, DEFAULT_METHODS, METHODS, PAPER_SEEDS
from topoae.runs.experiment import resolve_preset
from topoae.runs.folder import check_run, record_run

__all__ = ["ISOMAP_MAX_TRAIN", "compare", "paper_seeds"]

#: Isomap is skipped (with a note) above this many training points: its geodesic distances
#: and eigendecomposition grow quadratically in memory and cubically in time, hours beyond it.
ISOMAP_MAX_TRAIN = 20_000

Log = Callable[[str], None]


def paper_seeds(n: int) -> list[int]:
    """The first ``n`` of the paper's five repetition seeds (:data:`topoae.paper.PAPER_SEEDS`)."""
    if not 1 <= n <= len(PAPER_SEEDS):
        raise InputError(
            f"The paper has {len(PAPER_SEEDS)} repetition seeds; ask for 1 to "
            f"{len(PAPER_SEEDS)}, got {n} (give explicit seeds for more)."
        )
    return list(PAPER_SEEDS[:n])


def _quiet(message: str) -> None:
    pass


def _checked_request(
    methods: Sequence[str], seeds: Sequence[int] | int, protocol: str, jobs: int
) -> tuple[list[str], list[int]]:
    """Methods without repeats and the seed list; a ValueError for anything unusable."""
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise InputError("No methods given; choose from " + ", ".join(METHODS) + ".")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(
            f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}."
        )
    check_protocol(protocol)
    seeds = paper_seeds(seeds) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"Seeds must be a non-empty list without repeats, got {seeds}.")
    if jobs < 1:
        raise InputError(f"jobs must be >= 1, got {jobs}.")
    return methods, seeds


class _Data:
    """The data of each seed: a registered data set loaded per seed, or one fixed Dataset."""

    def __init__(self, dataset: str | Dataset, kwargs: dict[str, Any]) -> None:
        self.fixed = dataset if isinstance(dataset, Dataset) else None
        self.name = dataset.name if isinstance(dataset, Dataset) else dataset
        self.kwargs = kwargs
        self._cache: dict[int, Dataset] = {}

    def __call__(self, seed: int) -> Dataset:
        from topoae import datasets

        if self.fixed is not None:
            return self.fixed
        if seed not in self._cache:
            self._cache[seed] = datasets.load(self.name, seed=seed, **self.kwargs)
        return self._cache[seed]


class _Session:
    """One call of :func:`compare`: the pairs to run, how to run one, where results go."""

    def __init__(
        self, comparison: Comparison, data: _Data, method_kwargs: dict[str, Any], say: Log
    ) -> None:
        self.comparison = comparison
        self.data = data
        self.method_kwargs = method_kwargs
        self.say = say
        self.started = time.perf_counter()
        self.earlier_wall = comparison.wall_seconds

    def todo(self) -> list[tuple[int, str]]:
        """Pairs not yet stored, method by method in the order given.

        A time-boxed run then has its first methods on all seeds (the table lists the
        methods in the paper's order regardless).
        """
        settings = self.comparison.settings
        pairs = [(s, m) for m in settings["methods"] for s in settings["seeds"]]
        todo = [(s, m) for s, m in pairs if self.comparison.record(m, s) is None]
        if len(todo) < len(pairs):
            self.say(
                f"resuming {self.comparison.out}: {len(pairs) - len(todo)} of {len(pairs)} "
                "method/seed pairs done"
            )
        return todo

    def task(self, seed: int, method: str) -> dict[str, Any]:
        """Keyword arguments of :func:`run_method` for one pair."""
        out = self.comparison.out
        run_dir = (
            out / "runs" / f"{method}-seed{seed}"
            if out is not None and method in AUTOENCODERS
            else None
        )
        return dict(
            method=method, data=self.data(seed), seed=seed, run_dir=run_dir, **self.method_kwargs
        )

    def store(self, result: MethodResult, run_dir: Path | None) -> None:
        """Add one finished pair to the comparison (and its folder) and report it."""
        comparison = self.comparison
        record = {
            "method": result.method,
            "seed": result.seed,
            "measures": result.measures,
            "seconds": result.seconds,
            "info": jsonable(result.info),
        }
        if comparison.out is not None:
            from topoae.runs.folder import embedding_to_csv

            path = comparison.out / "embeddings" / f"{result.method}_seed{result.seed}.csv"
            data = self.data(result.seed)
            labels = data.y_test if data.has_labels else None
            atomic_write_text(path, embedding_to_csv(result.latent, labels))
            record["embedding"] = str(path.relative_to(comparison.out))
            if run_dir is not None:
                record["run_dir"] = str(run_dir.relative_to(comparison.out))
        comparison.records.append(record)
        comparison.wall_seconds = self.earlier_wall + time.perf_counter() - self.started
        if comparison.out is not None:
            save_results(comparison)
        self.say(
            f"  {METHODS[result.method]} seed {result.seed}: KL_0.1 "
            f"{result.measures['kl_0.1']:.4f}, ℓ-Cont {result.measures['continuity']:.4f} "
            f"({result.seconds['total']:.0f}s)"
        )

    def run(self, todo: list[tuple[int, str]], jobs: int) -> None:
        """Run ``todo`` here (one job) or in ``jobs`` worker processes."""
        if jobs > 1 and len(todo) > 1:
            from topoae.apps.compare.parallel import run_parallel

            run_parallel(todo, self, jobs)
            return
        for index, (seed, method) in enumerate(todo, start=1):
            self.say(f"[{index}/{len(todo)}] {METHODS[method]} seed {seed}")
            kwargs = self.task(seed, method)
            self.store(run_method(**kwargs, log=self.say), kwargs["run_dir"])

    def finish(self, figure: bool) -> None:
        """The folder's final results.json, tables and figure."""
        out = self.comparison.out
        assert out is not None  # finish() runs for a comparison with a folder only
        save_results(self.comparison)
        atomic_write_text(out / "table.md", self.comparison.table_markdown() + "\n")
        atomic_write_text(out / "table.csv", self.comparison.table_csv())
        if figure:
            _figure(self.comparison, self.say)


def _settings(
    data: _Data, first: Dataset, methods: list[str], seeds: list[int], **options: Any
) -> dict[str, Any]:
    """The comparison's settings: what was asked for and the split sizes it ran on."""
    settings = {
        "dataset": data.name,
        "preset": data.name,
        "dataset_kwargs": jsonable(data.kwargs),
        "methods": methods,
        "seeds": seeds,
        **options,
        "n_train": len(first.x_train) + len(first.x_val),
        "n_test": len(first.x_test),
    }
    if first.source is not None:
        settings["data_source"] = first.source.to_dict()
    return settings


def _without_slow(methods: list[str], first: Dataset, say: Log) -> list[str]:
    """``methods`` without Isomap above :data:`ISOMAP_MAX_TRAIN` training points (a note)."""
    if "isomap" in methods and len(first.x_train) > ISOMAP_MAX_TRAIN:
        say(
            f"note: Isomap skipped: {len(first.x_train)} training points, above "
            f"{ISOMAP_MAX_TRAIN:,}, would take hours (its cost grows with n^2 to n^3)"
        )
        return [m for m in methods if m != "isomap"]
    return methods


def compare(
    dataset: str | Dataset = "spheres",
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    seeds: Sequence[int] | int = 5,
    out: str | Path | None = None,
    max_epochs: int = 100,
    patience: int = 10,
    device: str = "auto",
    protocol: str = "clean",
    ks: Iterable[int] | None = None,
    sigmas: Iterable[float] | None = None,
    dataset_kwargs: dict[str, Any] | None = None,
    figure: bool = True,
    jobs: int = 1,
    preset: str | None = None,
    log: Log | None = None,
) -> Comparison:
    """Run every method on every seed, measure on the test split, and tabulate.

    Parameters
    ----------
    dataset : str or Dataset
        A registered data set (loaded per seed: the validation split follows the
        seed) or a ready :class:`~topoae.datasets.Dataset` used for every seed.
    methods : sequence of str
        Keys of :data:`topoae.paper.METHODS`, in the order to run them (each on all seeds
        before the next); tables and figure list them in the paper's order.
    seeds : int or sequence of int
        A count (the first of the paper's seeds) or the seeds themselves.
    out : path, optional
        Output folder (see :mod:`topoae.apps.compare`); with it, finished method/seed
        pairs found there are skipped.
    max_epochs, patience, device, protocol, ks, sigmas
        See :func:`~topoae.apps.compare.run_method`.
    dataset_kwargs : dict, optional
        Extra arguments of :func:`topoae.datasets.load` (e.g. ``data_dir``).
    figure : bool
        Draw ``figure.png`` (needs the ``plot`` extra; skipped with a warning without it).
    jobs : int
        Run up to this many method/seed pairs at once, each in its own process (spawned,
        with ``cpu_count // jobs`` torch threads for the baselines and measures; the
        autoencoders train with :data:`topoae._threads.TRAIN_THREADS` whatever ``jobs``, so
        their results do not depend on it); results are stored by this process as they
        finish, so resuming works the same.
    preset : str, optional
        Whose settings the methods use: a name of :func:`topoae.paper.get_preset` or
        ``"auto"`` (:func:`topoae.runs.experiment.resolve_preset`; default the data set's
        name, ``"auto"`` for a user's file). Isomap is left out, with a note, above
        :data:`ISOMAP_MAX_TRAIN` training points.
    log : callable, optional
        Receives progress lines (the command line prints them to stderr).

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        Unknown methods or protocol, bad seeds, or an ``out`` folder holding results
        made with other settings.
    """
    methods, seeds = _checked_request(methods, seeds, protocol, jobs)
    with _folder(out) as folder:
        comparison = _compare(
            dataset,
            methods,
            seeds,
            folder,
            max_epochs,
            patience,
            device,
            protocol,
            ks,
            sigmas,
            dataset_kwargs,
            figure,
            jobs,
            preset,
            log,
        )
        if folder is not None:
            record_run(folder, skip=("runs",))
    return comparison


def _folder(out: str | Path | None):
    """The comparison folder held for writing (none without ``out``)."""
    if out is None:
        return contextlib.nullcontext()
    folder = RunFolder(out, "compare")
    runs = Path(out) / "runs"
    if runs.is_dir():  # the autoencoders' own run folders: a damaged one is not reused
        for run in sorted(runs.iterdir()):
            if run.is_dir():
                check_run(run)
    return folder


def _compare(
    dataset,
    methods,
    seeds,
    folder,
    max_epochs,
    patience,
    device,
    protocol,
    ks,
    sigmas,
    dataset_kwargs,
    figure,
    jobs,
    preset,
    log,
) -> Comparison:
    """:func:`compare` in its held folder (``folder`` None: no files)."""
    from topoae import metrics

    out = folder.path if folder is not None else None
    data = _Data(dataset, dict(dataset_kwargs or {}))
    first = data(seeds[0])
    preset = resolve_preset(first, preset)
    methods = _without_slow(methods, first, log or _quiet)
    if not methods:
        raise InputError("No methods left to run (Isomap was skipped for the size).")
    # The paper's k = 10…200 unless the test split is too small for them.
    ks = metrics.usable_ks(len(first.x_test)) if ks is None else tuple(int(k) for k in ks)
    sigmas = tuple(float(s) for s in (metrics.DEFAULT_SIGMAS if sigmas is None else sigmas))
    options = dict(protocol=protocol, max_epochs=max_epochs, patience=patience, device=device)
    settings = _settings(data, first, methods, seeds, **options, ks=list(ks), sigmas=list(sigmas))
    settings["preset"] = preset
    comparison = Comparison(settings, [], Path(out) if out is not None else None)
    if comparison.out is not None:
        resume(comparison)
        folder.begin()
    method_kwargs = dict(preset=preset, ks=ks, sigmas=sigmas, **options)
    session = _Session(comparison, data, method_kwargs, log or _quiet)
    session.run(session.todo(), jobs)
    if comparison.out is not None:
        session.finish(figure)
    return comparison


def _figure(comparison: Comparison, say: Log) -> None:
    """``figure.png``: the first seed's test embedding of each method, coloured by label."""
    try:
        from topoae.plotting import plot_embeddings
    except ImportError as error:
        say(f"no figure: {error}")
        return
    from topoae.runs.folder import read_embedding_csv

    out = comparison.out
    assert out is not None  # the figure is drawn into the comparison's folder
    seed = comparison.settings["seeds"][0]
    panels = {}
    for method in comparison.table_methods:
        record = comparison.record(method, seed)
        if record is None or "embedding" not in record:
            continue
        latent, labels = read_embedding_csv(out / record["embedding"])
        panels[METHODS[method]] = (latent[:, :2], labels)
    if not panels:
        return
    try:
        fig = plot_embeddings(
            panels,
            out / "figure.png",
            title=f"{comparison.settings['dataset']}: test embeddings (seed {seed})",
            muted_label=10 if comparison.settings["dataset"] == "spheres" else None,
        )
    except ImportError as error:
        say(f"no figure: {error}")
        return
    import matplotlib.pyplot as plt

    plt.close(fig)
