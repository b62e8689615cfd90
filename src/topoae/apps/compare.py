"""The paper's experiment: every method × seed, measured on the test split, tabulated.

:func:`compare` fits each baseline (:mod:`topoae.baselines`) and trains each
autoencoder (:mod:`topoae.core.training`) on the training split of each seed, embeds the
test split, scores it with :func:`topoae.metrics.evaluate`, and (with ``out``) writes::

    results.json                  settings, every measure of every method and seed, timings
    table.md / table.csv          mean ± std over seeds beside the paper's Table 1
    figure.png                    one panel per method (first seed), coloured by label
    embeddings/<method>_seed<s>.csv   the test embedding (columns 0, 1, labels)
    runs/<method>-seed<s>/        autoencoders only: a standard run folder (topoae.runs)

``results.json`` is rewritten atomically after every finished method/seed pair, so an
interrupted comparison resumes where it stopped (an interrupted autoencoder resumes
from its per-epoch checkpoint).

Protocols (METHOD.md §6): ``"clean"`` trains the autoencoders on the training split
and stops early on the validation split; ``"reference"`` also trains them on the
validation split, as the authors' code did. Baselines are fitted on the training
split in both, as in the paper (the validation split is not used by them).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topoae import __version__
from topoae._io import atomic_write_text, write_json
from topoae.datasets import Dataset
from topoae.paper import AUTOENCODERS, COLUMNS, DEFAULT_METHODS, METHODS, PAPER_SEEDS, PAPER_TABLE

__all__ = [
    "AUTOENCODERS",
    "COLUMNS",
    "DEFAULT_METHODS",
    "METHODS",
    "PAPER_TABLE",
    "PROTOCOLS",
    "Comparison",
    "compare",
    "paper_seeds",
    "read_embedding_csv",
    "run_method",
    "summarize",
]

logger = logging.getLogger(__name__)

RESULTS_FORMAT = 1

PROTOCOLS: tuple[str, ...] = ("clean", "reference")

# Settings that must agree for a resumed comparison to continue an earlier one.
_RESUME_KEYS = (
    "dataset",
    "dataset_kwargs",
    "protocol",
    "max_epochs",
    "patience",
    "ks",
    "sigmas",
    "n_train",
    "n_test",
)


def paper_seeds(n: int) -> list[int]:
    """The first ``n`` of the paper's five repetition seeds (:data:`topoae.paper.PAPER_SEEDS`)."""
    if not 1 <= n <= len(PAPER_SEEDS):
        raise ValueError(
            f"The paper has {len(PAPER_SEEDS)} repetition seeds; ask for 1 to "
            f"{len(PAPER_SEEDS)}, got {n} (give explicit seeds for more)."
        )
    return list(PAPER_SEEDS[:n])


# --------------------------------------------------------------------------- one method


@dataclass
class MethodResult:
    """One method on one seed.

    Attributes
    ----------
    method : str
    seed : int
    latent : ndarray of shape (n_test, 2)
        Test embedding.
    measures : dict
        :func:`topoae.metrics.evaluate` of the test split (``data_mse`` where the
        method reconstructs).
    seconds : dict
        ``fit``, ``embed``, ``evaluate`` and ``total`` wall-clock seconds.
    info : dict
        Method-specific facts (settings; epochs for autoencoders; the paper-style
        train-subsample scores of t-SNE under ``extras``).
    model : object
        The fitted baseline or trained model.
    """

    method: str
    seed: int
    latent: np.ndarray
    measures: dict[str, Any]
    seconds: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    model: Any = None


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).reshape(len(x), -1)


def run_method(
    method: str,
    data: Dataset,
    *,
    seed: int,
    preset: str | None = None,
    max_epochs: int = 100,
    patience: int = 10,
    device: str = "auto",
    protocol: str = "clean",
    ks: Iterable[int] | None = None,
    sigmas: Iterable[float] | None = None,
    run_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> MethodResult:
    """Fit or train one method on ``data``'s training split and score its test embedding.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.
    data : Dataset
    seed : int
        Seeds the method's randomness (initialisation, shuffling, t-SNE, UMAP).
    preset : str, optional
        Whose paper settings to use (default ``data.name``).
    max_epochs, patience : int
        Autoencoders' training length and early stopping.
    device : str
        Autoencoders' device.
    protocol : {"clean", "reference"}
        See the module docstring.
    ks, sigmas : iterable, optional
        Passed to :func:`topoae.metrics.evaluate` (defaults: the paper's).
    run_dir : path, optional
        Autoencoders: write a standard run folder there (and resume from its checkpoint).
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    MethodResult
    """
    from topoae import metrics

    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {', '.join(METHODS)}.")
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown protocol {protocol!r}; choose 'clean' or 'reference'.")
    preset = preset or data.name
    ks = tuple(metrics.DEFAULT_KS if ks is None else ks)
    sigmas = tuple(metrics.DEFAULT_SIGMAS if sigmas is None else sigmas)
    say = log or (lambda message: None)
    x_test = _flat(data.x_test)
    info: dict[str, Any] = {}
    started = time.perf_counter()
    if method in AUTOENCODERS:
        model, latent, x_hat, info, fit_seconds, embed_seconds = _run_autoencoder(
            method,
            data,
            seed=seed,
            preset=preset,
            max_epochs=max_epochs,
            patience=patience,
            device=device,
            protocol=protocol,
            run_dir=run_dir,
            say=say,
        )
    else:
        from topoae.baselines import make_baseline

        model = make_baseline(method, preset, random_state=seed)
        info["params"] = model.get_params()
        model.fit(data.x_train)
        fit_seconds = time.perf_counter() - started
        latent = np.asarray(model.transform(data.x_test))
        x_hat = model.inverse_transform(latent) if model.reconstructs else None
        embed_seconds = time.perf_counter() - started - fit_seconds
        if method == "tsne":
            # The paper's way to score t-SNE: a random training subsample of test size.
            rng = np.random.RandomState(seed % 2**32)
            chosen = np.sort(rng.choice(len(data.x_train), len(x_test), replace=False))
            subsample = metrics.evaluate(
                _flat(data.x_train)[chosen], model.embedding_[chosen], ks=ks, sigmas=sigmas
            )
            info["extras"] = {"train_subsample": subsample}
    before = time.perf_counter()
    measures = metrics.evaluate(x_test, latent, ks=ks, sigmas=sigmas, X_hat=x_hat)
    if run_dir is not None and method in AUTOENCODERS:
        _finish_run_folder(Path(run_dir), measures)
    evaluate_seconds = time.perf_counter() - before
    seconds = {
        "fit": fit_seconds,
        "embed": embed_seconds,
        "evaluate": evaluate_seconds,
        "total": time.perf_counter() - started,
    }
    return MethodResult(method, seed, np.asarray(latent), measures, seconds, info, model)


def _run_autoencoder(
    method, data, *, seed, preset, max_epochs, patience, device, protocol, run_dir, say
):
    from topoae.core.training import embed, paper_config, reconstruct, train
    from topoae.runs import save_run

    overrides = {
        "max_epochs": max_epochs,
        "patience": patience,
        "seed": seed,
        "device": device,
        "train_on_validation": protocol == "reference",
        "data_scale": data.data_scale,
    }
    if method == "ae":
        overrides["lam"] = 0.0
    config = paper_config(preset, method, **overrides)
    say(
        f"  {method}: lam={config.lam:g}, lr={config.learning_rate:g}, "
        f"batch={config.batch_size}, up to {config.max_epochs} epochs"
    )

    def progress(record: dict) -> None:
        if record["epoch"] % 10 == 0 or record["epoch"] == 1:
            say(
                f"  {method} seed {seed}: epoch {record['epoch']:3d}/{config.max_epochs} "
                f"loss {record['train_loss']:.4f} val {record['val_loss']:.4f} "
                f"({record['seconds']:.1f}s/epoch)"
            )

    checkpoint = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
    started = time.perf_counter()
    result = train(
        data.x_train,
        data.x_val,
        config,
        checkpoint_path=checkpoint,
        resume=checkpoint is not None,
        callback=progress,
    )
    fit_seconds = time.perf_counter() - started
    latent = embed(result.model, data.x_test)
    x_hat = _flat(reconstruct(result.model, data.x_test))
    embed_seconds = time.perf_counter() - started - fit_seconds
    info = {
        "config": config.to_dict(),
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
    }
    say(f"  {method} seed {seed}: best epoch {result.best_epoch} of {len(result.history)}")
    if run_dir is not None:
        summary = {
            "dataset": data.name,
            "model": method,
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "stopped_early": result.stopped_early,
            "test_reconstruction_mse": float(np.mean((x_hat - _flat(data.x_test)) ** 2)),
            "train_seconds": fit_seconds,
        }
        save_run(
            run_dir,
            meta={"dataset": data.name, "model": method, "protocol": protocol},
            config=config,
            model=result.model,
            history=result.history,
            latent_test=latent,
            labels_test=data.y_test,
            summary=summary,
        )
    return result.model, latent, x_hat, info, fit_seconds, embed_seconds


def _finish_run_folder(run_dir: Path, measures: dict[str, Any]) -> None:
    """Add the headline measures to the run folder's summary (as ``topoae train`` does)."""
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    summary.update({key: measures[key] for key, _ in COLUMNS if key in measures})
    write_json(path, summary)


# --------------------------------------------------------------------------- many methods


@dataclass
class Comparison:
    """The records of a comparison and what was asked for.

    Attributes
    ----------
    settings : dict
        Data set, methods, seeds, protocol, epochs, measures' ks and sigmas.
    records : list of dict
        One per finished method/seed: ``method``, ``seed``, ``measures``, ``seconds``,
        ``info`` (JSON-ready).
    out : Path or None
    wall_seconds : float
        Time spent computing, summed over resumed sessions.
    """

    settings: dict[str, Any]
    records: list[dict[str, Any]]
    out: Path | None = None
    wall_seconds: float = 0.0

    def record(self, method: str, seed: int) -> dict[str, Any] | None:
        """The record of ``method`` on ``seed``, or ``None``."""
        for record in self.records:
            if record["method"] == method and record["seed"] == seed:
                return record
        return None

    def summary(self) -> dict[str, dict[str, tuple[float, float, int]]]:
        """Method -> measure -> (mean, std, n) over the requested seeds (see :func:`summarize`)."""
        return summarize(self.records, self.settings["methods"], self.settings["seeds"])

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows of the Markdown table: ours (mean ± std) and the paper's."""
        return _table(self.summary(), self.table_methods, self.settings.get("preset"))

    def table_markdown(self) -> str:
        """The table as Markdown (what ``topoae compare`` prints)."""
        from topoae.cli._common import format_table

        headers, rows = self.table()
        return format_table(headers, rows)

    def table_csv(self) -> str:
        """Machine-readable table: one row per method and source (ours / paper)."""
        return _table_csv(self.summary(), self.table_methods, self.settings.get("preset"))

    @property
    def table_methods(self) -> list[str]:
        """The requested methods in the paper's table order (:data:`METHODS`)."""
        return [m for m in METHODS if m in self.settings["methods"]]


def summarize(
    records: Sequence[dict[str, Any]],
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Mean, sample standard deviation (0 for one seed) and count of each measure.

    Parameters
    ----------
    records : sequence of dict
        :attr:`Comparison.records`.
    methods, seeds : sequence, optional
        Restrict to these (default: all present).

    Returns
    -------
    dict
        ``{method: {measure: (mean, std, n)}}`` for the table's measures present.
    """
    methods = (
        list(methods) if methods is not None else list(dict.fromkeys(r["method"] for r in records))
    )
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for method in methods:
        chosen = [
            r for r in records if r["method"] == method and (seeds is None or r["seed"] in seeds)
        ]
        out[method] = {}
        for key, _ in COLUMNS:
            values = np.array([r["measures"][key] for r in chosen if key in r["measures"]])
            if len(values):
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                out[method][key] = (float(values.mean()), std, len(values))
    return out


def _cell(mean: float, std: float, n: int) -> str:
    if n > 1:
        return f"{mean:.3g} ± {std:.2g}"
    return f"{mean:.3g}"


def _table(summary, methods, preset) -> tuple[list[str], list[list[str]]]:
    paper = PAPER_TABLE.get(preset or "", {})
    headers = ["method", "seeds", *[header for _, header in COLUMNS]]
    rows = []
    for method in methods:
        values = summary.get(method, {})
        n = max((v[2] for v in values.values()), default=0)
        rows.append(
            [
                METHODS.get(method, method),
                str(n),
                *[_cell(*values[key]) if key in values else "–" for key, _ in COLUMNS],
            ]
        )
        if method in paper:
            rows.append(
                [
                    f"{METHODS.get(method, method)} (paper)",
                    "5",
                    *[
                        f"{paper[method][key]:.3g}" if key in paper[method] else "–"
                        for key, _ in COLUMNS
                    ],
                ]
            )
    return headers, rows


def _table_csv(summary, methods, preset) -> str:
    paper = PAPER_TABLE.get(preset or "", {})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["method", "source", "n_seeds"]
    for key, _ in COLUMNS:
        header += [f"{key}_mean", f"{key}_std"]
    writer.writerow(header)
    for method in methods:
        values = summary.get(method, {})
        n = max((v[2] for v in values.values()), default=0)
        row: list[Any] = [method, "ours", n]
        for key, _ in COLUMNS:
            row += [repr(values[key][0]), repr(values[key][1])] if key in values else ["", ""]
        writer.writerow(row)
        if method in paper:
            row = [method, "paper", 5]
            for key, _ in COLUMNS:
                row += [repr(paper[method][key]) if key in paper[method] else "", ""]
            writer.writerow(row)
    return buffer.getvalue()


def _jsonable(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


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
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Run every method on every seed, measure on the test split, and tabulate.

    Parameters
    ----------
    dataset : str or Dataset
        A registered data set (loaded per seed: the validation split follows the
        seed) or a ready :class:`~topoae.datasets.Dataset` used for every seed.
    methods : sequence of str
        Keys of :data:`METHODS`, in the order to run them (each on all seeds before the
        next); tables and figure list them in the paper's order.
    seeds : int or sequence of int
        A count (the first of the paper's seeds) or the seeds themselves.
    out : path, optional
        Output folder (see the module docstring); with it, finished method/seed pairs
        found there are skipped.
    max_epochs, patience, device, protocol, ks, sigmas
        See :func:`run_method`.
    dataset_kwargs : dict, optional
        Extra arguments of :func:`topoae.datasets.load` (e.g. ``data_dir``).
    figure : bool
        Draw ``figure.png`` (needs the ``plot`` extra; skipped with a warning without it).
    jobs : int
        Run up to this many method/seed pairs at once, each in its own process (spawned,
        with ``cpu_count // jobs`` torch threads); results are stored by this process as
        they finish, so resuming works the same.
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
    from topoae import datasets, metrics

    methods = list(dict.fromkeys(methods))
    if not methods:
        raise ValueError("No methods given; choose from " + ", ".join(METHODS) + ".")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(
            f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}."
        )
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown protocol {protocol!r}; choose 'clean' or 'reference'.")
    seeds = paper_seeds(seeds) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"Seeds must be a non-empty list without repeats, got {seeds}.")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    say = log or (lambda message: None)
    dataset_kwargs = dict(dataset_kwargs or {})

    if isinstance(dataset, Dataset):
        fixed: Dataset | None = dataset
        name = dataset.name

        def load(seed: int) -> Dataset:
            return dataset
    else:
        fixed, name = None, dataset

        def load(seed: int) -> Dataset:
            return datasets.load(dataset, seed=seed, **dataset_kwargs)

    first = fixed if fixed is not None else load(seeds[0])
    # The paper's k = 10…200 unless the test split is too small for them.
    ks = metrics.usable_ks(len(first.x_test)) if ks is None else tuple(int(k) for k in ks)
    sigmas = tuple(float(s) for s in (metrics.DEFAULT_SIGMAS if sigmas is None else sigmas))
    settings: dict[str, Any] = {
        "dataset": name,
        "preset": name,
        "dataset_kwargs": _jsonable(dataset_kwargs),
        "methods": methods,
        "seeds": seeds,
        "protocol": protocol,
        "max_epochs": max_epochs,
        "patience": patience,
        "device": device,
        "ks": list(ks),
        "sigmas": list(sigmas),
        "n_train": len(first.x_train) + len(first.x_val),
        "n_test": len(first.x_test),
    }
    comparison = Comparison(settings, [], Path(out) if out is not None else None)
    if out is not None:
        _resume(comparison)
    data_cache = {seeds[0]: first}

    def data_for(seed: int) -> Dataset:
        if seed not in data_cache:
            data_cache[seed] = load(seed)
        return data_cache[seed]

    # Method by method, in the order given: a time-boxed run has its first methods on all
    # seeds (the table lists the methods in the paper's order regardless).
    todo = [(s, m) for m in methods for s in seeds if comparison.record(m, s) is None]
    done = len(seeds) * len(methods) - len(todo)
    if done:
        say(f"resuming {out}: {done} of {len(seeds) * len(methods)} method/seed pairs done")
    session_start, earlier_wall = time.perf_counter(), comparison.wall_seconds

    def task(seed: int, method: str) -> dict[str, Any]:
        run_dir = (
            comparison.out / "runs" / f"{method}-seed{seed}"
            if comparison.out is not None and method in AUTOENCODERS
            else None
        )
        return dict(
            method=method,
            data=data_for(seed),
            seed=seed,
            preset=name,
            max_epochs=max_epochs,
            patience=patience,
            device=device,
            protocol=protocol,
            ks=ks,
            sigmas=sigmas,
            run_dir=run_dir,
        )

    def store(result: MethodResult, run_dir: Path | None) -> None:
        record = {
            "method": result.method,
            "seed": result.seed,
            "measures": result.measures,
            "seconds": result.seconds,
            "info": _jsonable(result.info),
        }
        if comparison.out is not None:
            from topoae.runs import embedding_to_csv

            path = comparison.out / "embeddings" / f"{result.method}_seed{result.seed}.csv"
            labels = data_for(result.seed).y_test
            atomic_write_text(path, embedding_to_csv(result.latent, labels))
            record["embedding"] = str(path.relative_to(comparison.out))
            if run_dir is not None:
                record["run_dir"] = str(run_dir.relative_to(comparison.out))
        comparison.records.append(record)
        comparison.wall_seconds = earlier_wall + time.perf_counter() - session_start
        if comparison.out is not None:
            _save_results(comparison)
        say(
            f"  {METHODS[result.method]} seed {result.seed}: KL_0.1 "
            f"{result.measures['kl_0.1']:.4f}, ℓ-Cont {result.measures['continuity']:.4f} "
            f"({result.seconds['total']:.0f}s)"
        )

    if jobs == 1 or len(todo) <= 1:
        for index, (seed, method) in enumerate(todo, start=1):
            say(f"[{index}/{len(todo)}] {METHODS[method]} seed {seed}")
            kwargs = task(seed, method)
            store(run_method(**kwargs, log=say), kwargs["run_dir"])
    else:
        _run_parallel(todo, task, store, jobs, say)

    if comparison.out is not None:
        _save_results(comparison)
        atomic_write_text(comparison.out / "table.md", comparison.table_markdown() + "\n")
        atomic_write_text(comparison.out / "table.csv", comparison.table_csv())
        if figure:
            _figure(comparison, first, say)
    return comparison


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _worker(kwargs: dict[str, Any], queue, header: str) -> MethodResult:
    queue.put(header)
    result = run_method(**kwargs, log=queue.put)
    result.model = None  # the parent needs measures and the embedding only
    return result


def _run_parallel(todo, task, store, jobs: int, say) -> None:
    """Run ``todo`` pairs in ``jobs`` spawned processes; ``store`` each result as it finishes."""
    import concurrent.futures
    import multiprocessing
    import os
    import threading

    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with context.Manager() as manager:
        queue = manager.Queue()

        def relay() -> None:
            while (message := queue.get()) is not None:
                say(message)

        relay_thread = threading.Thread(target=relay, daemon=True)
        relay_thread.start()
        try:
            with concurrent.futures.ProcessPoolExecutor(
                jobs, mp_context=context, initializer=_worker_init, initargs=(threads,)
            ) as pool:
                futures = {}
                for index, (seed, method) in enumerate(todo, start=1):
                    kwargs = task(seed, method)
                    header = f"[{index}/{len(todo)}] {METHODS[method]} seed {seed}"
                    future = pool.submit(_worker, kwargs, queue, header)
                    futures[future] = kwargs["run_dir"]
                try:
                    for future in concurrent.futures.as_completed(futures):
                        store(future.result(), futures[future])
                except BaseException:
                    for future in futures:  # do not start the rest after a failure
                        future.cancel()
                    raise
        finally:
            queue.put(None)
            relay_thread.join()


def _resume(comparison: Comparison) -> None:
    path = comparison.out / "results.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is damaged ({error}); delete it or choose another --out."
        ) from error
    if saved.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not a topoae comparison; choose another --out.")
    ours = comparison.settings
    diff = {
        key: (saved["settings"].get(key), ours[key])
        for key in _RESUME_KEYS
        if saved["settings"].get(key) != ours[key]
    }
    if diff:
        raise ValueError(
            f"{comparison.out} holds results made with other settings {diff} (saved, now); "
            "use the same settings to resume, or another --out."
        )
    comparison.records = list(saved["records"])
    comparison.wall_seconds = float(saved.get("wall_seconds", 0.0))
    # Keep earlier pairs that this call did not ask for in the file (and the table order ours).
    for key in ("methods", "seeds"):
        ours[f"all_{key}"] = list(
            dict.fromkeys(
                [*saved["settings"].get(f"all_{key}", saved["settings"][key]), *ours[key]]
            )
        )


def _save_results(comparison: Comparison) -> None:
    settings = dict(comparison.settings)
    settings.setdefault("all_methods", settings["methods"])
    settings.setdefault("all_seeds", settings["seeds"])
    write_json(
        comparison.out / "results.json",
        {
            "format": RESULTS_FORMAT,
            "topoae_version": __version__,
            "settings": settings,
            "wall_seconds": comparison.wall_seconds,
            "summary": {
                method: {key: {"mean": m, "std": s, "n": n} for key, (m, s, n) in values.items()}
                for method, values in comparison.summary().items()
            },
            "records": comparison.records,
        },
    )


def _figure(comparison: Comparison, data: Dataset, say: Callable[[str], None]) -> None:
    try:
        from topoae.plotting import plot_embeddings
    except ImportError as error:
        say(f"no figure: {error}")
        return
    seed = comparison.settings["seeds"][0]
    panels = {}
    for method in comparison.table_methods:
        record = comparison.record(method, seed)
        if record is None or "embedding" not in record:
            continue
        latent, labels = read_embedding_csv(comparison.out / record["embedding"])
        panels[METHODS[method]] = (latent[:, :2], labels)
    if not panels:
        return
    try:
        fig = plot_embeddings(
            panels,
            comparison.out / "figure.png",
            title=f"{comparison.settings['dataset']}: test embeddings (seed {seed})",
            muted_label=10 if comparison.settings["dataset"] == "spheres" else None,
        )
    except ImportError as error:
        say(f"no figure: {error}")
        return
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------------------- embeddings


def read_embedding_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an embedding written elsewhere.

    Accepts the authors' format (header ``0,1,labels``; labels may be written as
    floats like ``10.0``), a header ``0,1`` without labels, any header whose label
    column is named ``label``, ``labels``, ``y`` or ``target``, or plain numeric
    columns without a header.

    Parameters
    ----------
    path : path

    Returns
    -------
    latent : ndarray of shape (n, q), float64
    labels : ndarray of shape (n,), int64, or None
        ``None`` when there is no label column.

    Raises
    ------
    ValueError
        Empty file, ragged rows, or values that are not numbers.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist.")
    rows = [row for row in csv.reader(io.StringIO(path.read_text())) if row]
    if not rows:
        raise ValueError(f"{path} is empty.")
    header = None
    first = [v.strip() for v in rows[0]]
    try:
        [float(v) for v in first]
        # A numeric first row is a header only when it reads 0, 1, ..., q-1 (our format).
        if first == [str(i) for i in range(len(first))]:
            header, rows = first, rows[1:]
    except ValueError:
        header, rows = [h.lower() for h in first], rows[1:]
    if not rows:
        raise ValueError(f"{path} has a header but no rows.")
    widths = {len(row) for row in rows}
    if len(widths) != 1 or (header is not None and widths != {len(header)}):
        raise ValueError(f"{path} has rows of different lengths; expected a rectangular CSV.")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path} holds values that are not numbers ({error}).") from error
    label_column = None
    if header is not None:
        for name in ("labels", "label", "y", "target"):
            if name in header:
                label_column = header.index(name)
                break
    labels = None
    if label_column is not None:
        raw = values[:, label_column]
        if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise ValueError(f"The label column of {path} holds values that are not integers.")
        labels = raw.astype(np.int64)
        values = np.delete(values, label_column, axis=1)
    if values.shape[1] == 0:
        raise ValueError(f"{path} has no embedding columns.")
    return values, labels
