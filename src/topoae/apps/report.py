"""One self-contained HTML page for a ``topoae train`` run or a ``topoae compare`` folder.

The page needs no network and no other file: figures are rendered with
:mod:`topoae.plotting` and embedded as base64 ``data:`` URIs, styles are inline, and
there is no script. Sections whose inputs are missing are left out (a note says why),
so a partial or interrupted folder still gets a report.

A train run folder (see :mod:`topoae.runs`) gives: configuration, measures
(``summary.json``), the test embedding, loss curves per component, persistence
diagrams of the test data and its embedding (the data set is reloaded by name), and
the training animation when ``snapshots.npz`` exists.

A compare folder (see :mod:`topoae.apps.compare`, read with its ``load_results``) gives:
settings, the measures table, the embeddings figure, loss curves and training animations
of its autoencoder runs (``runs/<method>-seed<seed>/``), and diagrams of every method's
embedding.

Measures tables read like the command line's (:mod:`topoae.apps.compare.tables`): one
column per measure, ``mean ± std`` to 3 significant digits, the paper's rows beside ours.
The page pieces (tables, images, styles) are in :mod:`topoae.apps.page`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from topoae._io import atomic_write_text
from topoae._safe_files import read_json
from topoae._version import __version__
from topoae.apps.compare.tables import ESTIMATE_NOTE, format_number, has_estimates, table_rows
from topoae.apps.page import (
    Section,
    esc,
    figure_html,
    flatten,
    image,
    measures_table,
    note,
    render_page,
    table,
)
from topoae.errors import DataFileError, InputError
from topoae.paper import COLUMNS, METHODS
from topoae.runs.folder import ADVICE, check_run, read_test_embedding

__all__ = ["Section", "build_report", "detect_kind", "render_page"]

logger = logging.getLogger(__name__)

#: Data sets whose class 10 is the enclosing sphere, drawn muted.
_MUTED = {"spheres": 10}


def detect_kind(path: str | os.PathLike) -> str:
    """``"run"`` for a train run folder, ``"compare"`` for a compare folder.

    Raises
    ------
    ValueError
        If ``path`` is neither.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path} is not a folder; give a `topoae train` or `compare` --out.")
    if (path / "results.json").exists() or (path / "embeddings").is_dir():
        return "compare"
    if (path / "config.json").exists() and (
        (path / "embedding_test.npz").exists() or (path / "history.json").exists()
    ):
        return "run"
    raise InputError(
        f"{path} holds neither a train run (config.json with embedding_test.npz or "
        "history.json) nor a comparison (results.json or embeddings/); point at the --out "
        "folder of `topoae train` or `topoae compare`."
    )


# --------------------------------------------------------------------------- reading


def _read_json(path: Path, expect: type = dict) -> Any:
    """A JSON file of the folder, checked (:func:`topoae._safe_files.read_json`); None if absent."""
    if not path.exists():
        return None
    return read_json(path, kind=path.stem, expect=expect, advice=ADVICE)


def _read_embedding(folder: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A run's test embedding from ``embedding_test.npz``, else ``embedding_test.csv``."""
    if (folder / "embedding_test.npz").exists():
        return read_test_embedding(folder)
    if (folder / "embedding_test.csv").exists():
        from topoae.runs.folder import read_embedding_csv

        return read_embedding_csv(folder / "embedding_test.csv")
    return None


def _planar(latent: np.ndarray) -> tuple[np.ndarray, str]:
    """Codes as (n, 2) and a note when they had to be projected."""
    if latent.shape[1] == 2:
        return latent, ""
    centred = latent - latent.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, f"{latent.shape[1]}-dimensional codes, first two principal axes."


def _test_data(
    dataset: str, seed: int, kwargs: dict[str, Any], source: dict[str, Any] | None = None
) -> np.ndarray:
    """The test split the folder was measured on: a recorded file's, or a registered set's."""
    from topoae import datasets

    if source is not None:
        from topoae.datasets.files import reload

        data = reload(source)
        return data.x_test.reshape(len(data.x_test), -1)
    if dataset not in datasets.available():
        raise InputError(f"data set {dataset!r} is not registered in topoae.datasets")
    data = datasets.load(dataset, seed=seed, **kwargs)
    return data.x_test.reshape(len(data.x_test), -1)


def _section(
    sections: list[Section], title: str, build: Callable[[], str | None], notes: list[str]
) -> None:
    """Add a section built by ``build``; an expected failure becomes a note instead.

    ``build`` returns None when its inputs are simply absent (the section is left out
    silently); the errors caught are the ones missing extras or unloadable data give.
    """
    try:
        body = build()
    except DataFileError:
        raise  # a damaged file is an error, not a missing section
    except (ImportError, ValueError, FileNotFoundError, KeyError, OSError) as error:
        logger.warning("report: %s left out: %s", title, error)
        notes.append(f"{title} left out: {error}")
        return
    if body is not None:
        sections.append(Section(title, body))


def _gif_html(runs: list[Any], alt: str, *, muted_label: Any, max_frames: int) -> str:
    from topoae.plotting.animation import animate_snapshots

    trimmed = [run.thinned(max_frames) for run in runs]
    with tempfile.TemporaryDirectory() as tmp:
        path = animate_snapshots(
            trimmed, Path(tmp) / "animation.gif", muted_label=muted_label, fps=6, hold_last=6
        )
        data = path.read_bytes()
    frames = max(r.latent.shape[0] for r in trimmed)
    caption = f"<p>{frames} snapshots of a fixed test subset; axes fixed per panel.</p>"
    return caption + image(data, "image/gif", alt)


# --------------------------------------------------------------------------- run folder


def _run_sections(
    folder: Path,
    *,
    diagrams: bool,
    animation: bool,
    n_subsample: int | None,
    random_state: int,
    dpi: float,
    max_frames: int,
    data_kwargs: dict[str, Any],
) -> tuple[str, list[Section], list[str]]:
    from topoae.plotting import plot_embeddings, plot_persistence
    from topoae.plotting.curves import plot_history

    config = _read_json(folder / "config.json") or {}
    summary = _read_json(folder / "summary.json")
    history = _read_json(folder / "history.json", list)
    dataset = str(config.get("dataset", "?"))
    model = str(config.get("model", "?"))
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    seed = int(train.get("seed", 0))
    muted = _MUTED.get(dataset)
    title = f"topoae report: {model} on {dataset} (seed {seed})"
    sections: list[Section] = []
    notes: list[str] = []
    embedding = _read_embedding(folder)

    def configuration() -> str | None:
        if not config:
            return None
        return table(["setting", "value"], flatten(config))

    def measures() -> str | None:
        if not isinstance(summary, dict):
            return None
        return _run_measures(summary, model, dataset)

    def embedding_figure() -> str | None:
        if embedding is None:
            return None
        latent, labels = embedding
        planar, note = _planar(np.asarray(latent, dtype=np.float64))
        fig = plot_embeddings(
            {f"{model} (seed {seed})": (planar, labels)},
            muted_label=muted,
            axis_labels=("latent 1", "latent 2"),
            panel_size=3.2,
        )
        text = f"<p>Test split, {len(planar)} points, coloured by class. {esc(note)}</p>"
        return text + figure_html(fig, "test embedding", dpi)

    def curves() -> str | None:
        if not history:
            return None
        fig = plot_history({model: history})
        return figure_html(fig, "loss curves", dpi)

    def persistence() -> str | None:
        if not diagrams or embedding is None:
            return None
        latent = np.asarray(embedding[0], dtype=np.float64)
        X = _test_data(dataset, seed, data_kwargs, config.get("data_source"))
        if len(X) != len(latent):
            raise InputError(
                f"the reloaded {dataset} test split has {len(X)} points, the embedding "
                f"{len(latent)}"
            )
        from topoae.metrics.diagrams import compare_persistence

        c = compare_persistence(X, latent, n_subsample=n_subsample, random_state=random_state)
        fig = plot_persistence(
            c.diagrams_x,
            c.diagrams_z,
            c.distances,
            n_points=c.n_points,
            seed=random_state,
            normalized=c.normalized,
            names=(dataset, model),
        )
        return figure_html(fig, "persistence diagrams", dpi)

    def training_animation() -> str | None:
        if not animation or not (folder / "snapshots.npz").exists():
            return None
        from topoae.runs.snapshots import snapshots_from_run

        run = snapshots_from_run(folder, title=f"{model} (seed {seed})")
        return _gif_html([run], "training animation", muted_label=muted, max_frames=max_frames)

    _section(sections, "Configuration", configuration, notes)
    _section(sections, "Measures", measures, notes)
    _section(sections, "Embedding", embedding_figure, notes)
    _section(sections, "Loss curves", curves, notes)
    _section(sections, "Persistence diagrams", persistence, notes)
    _section(sections, "Training animation", training_animation, notes)
    return title, sections, notes


def _run_measures(summary: dict[str, Any], model: str, dataset: str) -> str:
    """The run's measures as one row of the comparison's table (beside the paper's row),
    then its other facts (epochs, losses, seconds) to 3 significant digits."""
    measured = {key: (float(summary[key]), 0.0, 1) for key, _ in COLUMNS if _number(summary, key)}
    # A sampled estimate's 95 % half-width, where the run recorded one.
    cis = {
        key: float(summary[f"{key}_ci95"]) for key in measured if _number(summary, f"{key}_ci95")
    }
    parts = []
    if measured:
        headers, rows = table_rows({model: measured}, [model], dataset, {model: cis})
        footer = ESTIMATE_NOTE if has_estimates(rows) else None
        parts.append(measures_table(headers, rows, seeds=False, note=footer))
    shown = {*measured, *(f"{key}_ci95" for key in cis)}
    facts = [
        (key, format_number(value) if isinstance(value, float) else value)
        for key, value in flatten(summary)
        if key not in shown
    ]
    if facts:
        parts.append(table(["", "value"], facts))
    return "".join(parts)


def _number(values: dict[str, Any], key: str) -> bool:
    return isinstance(values.get(key), int | float) and not isinstance(values[key], bool)


# --------------------------------------------------------------------------- compare folder


def _load_comparison(folder: Path, notes: list[str]) -> Any:
    """The folder's results (:func:`topoae.apps.compare.load_results`), or None with a note."""
    from topoae.apps.compare import load_results

    if not (folder / "results.json").exists():
        return None
    return load_results(folder)


def _first_seed_embeddings(
    folder: Path, comparison: Any, first_seed: int | None
) -> tuple[dict[str, Path], int | None]:
    """Method -> embedding CSV of the first seed (from the records, else the file names)."""
    files: dict[str, Path] = {}
    for record in comparison.records if comparison is not None else []:
        if record["seed"] == first_seed and "embedding" in record:
            files[record["method"]] = folder / record["embedding"]
    if not files and (folder / "embeddings").is_dir():
        for path in sorted((folder / "embeddings").glob("*_seed*.csv")):
            method, _, seed_text = path.stem.rpartition("_seed")
            if first_seed is None or seed_text == str(first_seed):
                files.setdefault(method, path)
                first_seed = int(seed_text) if seed_text.isdigit() else first_seed
    return {m: p for m, p in files.items() if p.exists()}, first_seed


def _compare_sections(
    folder: Path,
    *,
    diagrams: bool,
    animation: bool,
    n_subsample: int | None,
    random_state: int,
    dpi: float,
    max_frames: int,
    data_kwargs: dict[str, Any],
) -> tuple[str, list[Section], list[str]]:
    from topoae.plotting import plot_embeddings
    from topoae.plotting.curves import plot_history
    from topoae.runs.folder import read_embedding_csv

    sections: list[Section] = []
    notes: list[str] = []
    comparison = _load_comparison(folder, notes)
    settings = comparison.settings if comparison is not None else {}
    dataset = str(settings.get("dataset", "?"))
    muted = _MUTED.get(dataset)
    seeds = settings.get("seeds") or []
    files, first_seed = _first_seed_embeddings(folder, comparison, seeds[0] if seeds else None)
    title = f"topoae report: comparison on {dataset}"
    runs_dir = folder / "runs"
    run_folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    if first_seed is not None:
        run_folders = [p for p in run_folders if p.name.endswith(f"-seed{first_seed}")]

    def settings_table() -> str | None:
        if not settings:
            return None
        rows = flatten(settings)
        rows.append(("wall_seconds", format_number(comparison.wall_seconds)))
        return table(["setting", "value"], rows)

    def measures() -> str | None:
        if comparison is not None and comparison.records:
            headers, rows = comparison.table()
            footer = ESTIMATE_NOTE if has_estimates(rows) else None
            return measures_table(headers, rows, note=footer)
        if (folder / "table.md").exists():
            return f"<pre>{esc((folder / 'table.md').read_text())}</pre>"
        return None

    def embeddings() -> str | None:
        if (folder / "figure.png").exists():
            return image((folder / "figure.png").read_bytes(), "image/png", "embeddings")
        if not files:
            return None
        panels = {}
        for method, path in files.items():
            latent, labels = read_embedding_csv(path)
            panels[METHODS.get(method, method)] = (_planar(latent)[0], labels)
        fig = plot_embeddings(
            panels, muted_label=muted, title=f"{dataset}: test embeddings (seed {first_seed})"
        )
        return figure_html(fig, "embeddings", dpi)

    def curves() -> str | None:
        histories = {}
        for run in run_folders:
            history = _read_json(run / "history.json", list)
            if history:
                histories[run.name] = history
        if not histories:
            return None
        return figure_html(plot_history(histories), "loss curves", dpi)

    def persistence() -> str | None:
        if not diagrams or not files:
            return None
        kwargs = {**(settings.get("dataset_kwargs") or {}), **data_kwargs}
        X = _test_data(dataset, int(first_seed or 0), kwargs, settings.get("data_source"))
        latents = {METHODS.get(m, m): read_embedding_csv(p)[0] for m, p in files.items()}
        return _diagram_panels_html(X, latents, dataset, n_subsample, random_state, dpi)

    def training_animation() -> str | None:
        if not animation:
            return None
        from topoae.runs.snapshots import snapshots_from_run

        runs = [
            snapshots_from_run(run, title=run.name)
            for run in run_folders
            if (run / "snapshots.npz").exists()
        ]
        if not runs:
            return None
        return _gif_html(runs, "training animation", muted_label=muted, max_frames=max_frames)

    _section(sections, "Settings", settings_table, notes)
    _section(sections, "Measures", measures, notes)
    _section(sections, "Embeddings", embeddings, notes)
    _section(sections, "Loss curves", curves, notes)
    _section(sections, "Persistence diagrams", persistence, notes)
    _section(sections, "Training animations", training_animation, notes)
    return title, sections, notes


def _diagram_panels_html(
    X: np.ndarray,
    latents: dict[str, np.ndarray],
    dataset: str,
    n_subsample: int | None,
    random_state: int,
    dpi: float,
) -> str:
    """Diagrams of the test data beside each method's, computed then drawn."""
    from topoae.metrics.diagrams import compare_persistence_each
    from topoae.plotting.diagrams import plot_diagram_panels

    for name, latent in latents.items():
        if len(latent) != len(X):
            raise InputError(
                f"the reloaded {dataset} test split has {len(X)} points, the "
                f"{name} embedding {len(latent)}"
            )
    each = compare_persistence_each(X, latents, n_subsample=n_subsample, random_state=random_state)
    first = next(iter(each.values()))
    fig = plot_diagram_panels(
        first.diagrams_x,
        {name: (c.diagrams_z, c.distances) for name, c in each.items()},
        n_points=first.n_points,
        seed=random_state,
        normalized=first.normalized,
        data_name=dataset,
    )
    return figure_html(fig, "persistence diagrams", dpi)


# --------------------------------------------------------------------------- entry point


def build_report(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    diagrams: bool = True,
    animation: bool = True,
    n_subsample: int | None = 500,
    random_state: int = 0,
    dpi: float = 110,
    max_frames: int = 40,
    data_dir: str | os.PathLike | None = None,
) -> Path:
    """Write one self-contained HTML page describing a run or a comparison folder.

    Parameters
    ----------
    path : str or PathLike
        A ``topoae train --out`` folder or a ``topoae compare --out`` folder.
    out : str or PathLike, optional
        The HTML file (default ``path / "report.html"``), written atomically.
    diagrams : bool
        Include persistence diagrams (reloads the test data; needs the ``tda`` extra).
    animation : bool
        Include the training animation when snapshots exist.
    n_subsample : int or None
        Points the diagrams are computed on (None: the whole test split).
    random_state : int
        Seed of that subsample.
    dpi : float
        Resolution of the embedded figures.
    max_frames : int
        At most this many snapshots per animation (evenly spaced, first and last kept).
    data_dir : str or PathLike, optional
        Folder of downloaded data files, for reloading an image data set's test split.

    Returns
    -------
    Path
        The HTML file.
    """
    folder = Path(path)
    kind = detect_kind(folder)
    # A finished folder whose files changed is refused whole (docs/reliability.md).
    check_run(folder)
    runs = folder / "runs"
    for run in sorted(runs.iterdir()) if kind == "compare" and runs.is_dir() else []:
        if run.is_dir():
            check_run(run)
    if max_frames < 2:
        raise InputError(f"max_frames must be >= 2, got {max_frames}.")
    builder = _run_sections if kind == "run" else _compare_sections
    title, sections, notes = builder(
        folder,
        diagrams=diagrams,
        animation=animation,
        n_subsample=n_subsample,
        random_state=random_state,
        dpi=dpi,
        max_frames=max_frames,
        data_kwargs={} if data_dir is None else {"data_dir": data_dir},
    )
    if notes:
        sections.append(Section("Notes", "".join(note(n) for n in notes)))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kind_text = "train run" if kind == "run" else "comparison"
    meta = f"{kind_text} folder {folder.resolve().name} · topoae {__version__} · {stamp}"
    out = Path(out) if out is not None else folder / "report.html"
    atomic_write_text(out, render_page(title, sections, meta))
    return out
