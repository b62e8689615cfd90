"""One self-contained HTML page for a ``topoae train`` run or a ``topoae compare`` folder.

The page needs no network and no other file: figures are rendered with
:mod:`topoae.plotting` and embedded as base64 ``data:`` URIs, styles are inline, and
there is no script. Sections whose inputs are missing are left out (a note says why),
so a partial or interrupted folder still gets a report.

A train run folder (see :mod:`topoae.runs`) gives: configuration, measures
(``summary.json``), the test embedding, loss curves per component, persistence
diagrams of the test data and its embedding (the data set is reloaded by name), and
the training animation when ``snapshots.npz`` exists.

A compare folder (see :mod:`topoae.apps.compare`) gives: settings, the measures table,
the embeddings figure, loss curves and training animations of its autoencoder runs
(``runs/<method>-seed<seed>/``), and diagrams of every method's embedding.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from topoae import __version__
from topoae._io import atomic_write_text

__all__ = ["Section", "build_report", "detect_kind", "render_page"]

logger = logging.getLogger(__name__)

#: Data sets whose class 10 is the enclosing sphere, drawn muted.
_MUTED = {"spheres": 10}


@dataclass
class Section:
    """One part of the page: a heading and its HTML body (already escaped)."""

    title: str
    body: str


def detect_kind(path: str | os.PathLike) -> str:
    """``"run"`` for a train run folder, ``"compare"`` for a compare folder.

    Raises
    ------
    ValueError
        If ``path`` is neither.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder; give a `topoae train` or `compare` --out.")
    if (path / "results.json").exists() or (path / "embeddings").is_dir():
        return "compare"
    if (path / "config.json").exists() and (
        (path / "embedding_test.npz").exists() or (path / "history.json").exists()
    ):
        return "run"
    raise ValueError(
        f"{path} holds neither a train run (config.json with embedding_test.npz or "
        "history.json) nor a comparison (results.json or embeddings/); point at the --out "
        "folder of `topoae train` or `topoae compare`."
    )


# --------------------------------------------------------------------------- html pieces


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(_format(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def _image(data: bytes, mime: str, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:{mime};base64,{encoded}" alt="{_esc(alt)}">'


def _figure_html(fig: Any, alt: str, dpi: float) -> str:
    from topoae.plotting.style import render_figure

    return _image(render_figure(fig, "png", dpi=dpi), "image/png", alt)


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #666; font-size: 0.9em; }
.note { color: #8a6d3b; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
nav a { margin-right: 1em; }
"""


def render_page(title: str, sections: Sequence[Section], meta: str = "") -> str:
    """The whole HTML document: title, a table of contents, and the sections."""
    anchors = [f"s{i}" for i in range(len(sections))]
    nav = " ".join(
        f'<a href="#{a}">{_esc(s.title)}</a>' for a, s in zip(anchors, sections, strict=True)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">{_esc(meta)}</p>' if meta else "",
        f"<nav>{nav}</nav>",
    ]
    for anchor, section in zip(anchors, sections, strict=True):
        parts.append(f'<section id="{anchor}"><h2>{_esc(section.title)}</h2>')
        parts.append(section.body)
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(p for p in parts if p)


# --------------------------------------------------------------------------- reading


def _read_json(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        logger.warning("skipping %s: %s", path, error)
        return None


def _read_embedding(folder: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A run's test embedding from ``embedding_test.npz``, else ``embedding_test.csv``."""
    if (folder / "embedding_test.npz").exists():
        with np.load(folder / "embedding_test.npz") as data:
            return data["latent"], (data["labels"] if "labels" in data else None)
    if (folder / "embedding_test.csv").exists():
        from topoae.apps.compare import read_embedding_csv

        return read_embedding_csv(folder / "embedding_test.csv")
    return None


def _planar(latent: np.ndarray) -> tuple[np.ndarray, str]:
    """Codes as (n, 2) and a note when they had to be projected."""
    if latent.shape[1] == 2:
        return latent, ""
    centred = latent - latent.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, f"{latent.shape[1]}-dimensional codes, first two principal axes."


def _test_data(dataset: str, seed: int, kwargs: dict[str, Any]) -> np.ndarray:
    from topoae import datasets

    if dataset not in datasets.available():
        raise ValueError(f"data set {dataset!r} is not registered in topoae.datasets")
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
    except (ImportError, ValueError, FileNotFoundError, KeyError, OSError) as error:
        logger.warning("report: %s left out: %s", title, error)
        notes.append(f"{title} left out: {error}")
        return
    if body is not None:
        sections.append(Section(title, body))


def _gif_html(runs: list[Any], alt: str, *, muted_label: Any, max_frames: int) -> str:
    from topoae.plotting.animation import Snapshots, animate_snapshots

    trimmed = []
    for run in runs:
        count = run.latent.shape[0]
        keep = np.unique(np.linspace(0, count - 1, min(count, max_frames)).round().astype(int))
        trimmed.append(
            Snapshots(
                run.title,
                run.latent[keep],
                run.epoch[keep],
                None if run.step is None else run.step[keep],
                run.labels,
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = animate_snapshots(
            trimmed, Path(tmp) / "animation.gif", muted_label=muted_label, fps=6, hold_last=6
        )
        data = path.read_bytes()
    frames = max(r.latent.shape[0] for r in trimmed)
    note = f"<p>{frames} snapshots of a fixed test subset; axes fixed per panel.</p>"
    return note + _image(data, "image/gif", alt)


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
    history = _read_json(folder / "history.json")
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
        return _table(["setting", "value"], _flatten(config))

    def measures() -> str | None:
        if not isinstance(summary, dict):
            return None
        return _table(["measure", "value"], _flatten(summary))

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
        text = f"<p>Test split, {len(planar)} points, coloured by class. {_esc(note)}</p>"
        return text + _figure_html(fig, "test embedding", dpi)

    def curves() -> str | None:
        if not history:
            return None
        fig = plot_history({model: history})
        return _figure_html(fig, "loss curves", dpi)

    def persistence() -> str | None:
        if not diagrams or embedding is None:
            return None
        latent = np.asarray(embedding[0], dtype=np.float64)
        X = _test_data(dataset, seed, data_kwargs)
        if len(X) != len(latent):
            raise ValueError(
                f"the reloaded {dataset} test split has {len(X)} points, the embedding "
                f"{len(latent)}"
            )
        fig = plot_persistence(
            X,
            latent,
            n_subsample=n_subsample,
            random_state=random_state,
            names=(dataset, model),
        )
        return _figure_html(fig, "persistence diagrams", dpi)

    def training_animation() -> str | None:
        if not animation or not (folder / "snapshots.npz").exists():
            return None
        from topoae.plotting.animation import snapshots_from_run

        run = snapshots_from_run(folder, title=f"{model} (seed {seed})")
        return _gif_html([run], "training animation", muted_label=muted, max_frames=max_frames)

    _section(sections, "Configuration", configuration, notes)
    _section(sections, "Measures", measures, notes)
    _section(sections, "Embedding", embedding_figure, notes)
    _section(sections, "Loss curves", curves, notes)
    _section(sections, "Persistence diagrams", persistence, notes)
    _section(sections, "Training animation", training_animation, notes)
    return title, sections, notes


# --------------------------------------------------------------------------- compare folder


def _csv_table(path: Path) -> str:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    if not rows:
        raise ValueError(f"{path.name} is empty")
    return _table(rows[0], rows[1:])


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
    from topoae.apps.compare import METHODS, read_embedding_csv
    from topoae.plotting import plot_embeddings
    from topoae.plotting.curves import plot_history

    results = _read_json(folder / "results.json")
    results = results if isinstance(results, dict) else {}
    settings = results.get("settings", {}) if isinstance(results.get("settings"), dict) else {}
    records = [r for r in results.get("records", []) if isinstance(r, dict)]
    dataset = str(settings.get("dataset", "?"))
    muted = _MUTED.get(dataset)
    seeds = settings.get("seeds") or sorted({r.get("seed") for r in records} - {None})
    first_seed = seeds[0] if seeds else None
    title = f"topoae report: comparison on {dataset}"
    sections: list[Section] = []
    notes: list[str] = []

    # Embeddings of the first seed, in the comparison's method order.
    files: dict[str, Path] = {}
    for record in records:
        if record.get("seed") == first_seed and "embedding" in record:
            files[str(record["method"])] = folder / str(record["embedding"])
    if not files and (folder / "embeddings").is_dir():
        for path in sorted((folder / "embeddings").glob("*_seed*.csv")):
            method, _, seed_text = path.stem.rpartition("_seed")
            if first_seed is None or seed_text == str(first_seed):
                files.setdefault(method, path)
                first_seed = int(seed_text) if seed_text.isdigit() else first_seed
    files = {m: p for m, p in files.items() if p.exists()}
    runs_dir = folder / "runs"
    run_folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    if first_seed is not None:
        run_folders = [p for p in run_folders if p.name.endswith(f"-seed{first_seed}")]

    def settings_table() -> str | None:
        if not settings:
            return None
        rows = _flatten(settings)
        if "wall_seconds" in results:
            rows.append(("wall_seconds", results["wall_seconds"]))
        return _table(["setting", "value"], rows)

    def measures() -> str | None:
        if (folder / "table.csv").exists():
            return _csv_table(folder / "table.csv")
        if (folder / "table.md").exists():
            return f"<pre>{_esc((folder / 'table.md').read_text())}</pre>"
        summary = results.get("summary")
        if not isinstance(summary, dict) or not summary:
            return None
        keys = list(dict.fromkeys(k for values in summary.values() for k in values))
        rows = [
            [METHODS.get(m, m)]
            + [
                f"{v[k]['mean']:.4g} ± {v[k]['std']:.2g}"
                if isinstance(v.get(k), dict) and v[k].get("mean") is not None
                else ""
                for k in keys
            ]
            for m, v in summary.items()
            if isinstance(v, dict) and v
        ]
        return _table(["method", *keys], rows)

    def embeddings() -> str | None:
        if (folder / "figure.png").exists():
            return _image((folder / "figure.png").read_bytes(), "image/png", "embeddings")
        if not files:
            return None
        panels = {}
        for method, path in files.items():
            latent, labels = read_embedding_csv(path)
            panels[METHODS.get(method, method)] = (_planar(latent)[0], labels)
        fig = plot_embeddings(
            panels, muted_label=muted, title=f"{dataset}: test embeddings (seed {first_seed})"
        )
        return _figure_html(fig, "embeddings", dpi)

    def curves() -> str | None:
        histories = {}
        for run in run_folders:
            history = _read_json(run / "history.json")
            if history:
                histories[run.name] = history
        if not histories:
            return None
        return _figure_html(plot_history(histories), "loss curves", dpi)

    def persistence() -> str | None:
        if not diagrams or not files:
            return None
        from topoae.plotting.diagrams import plot_diagram_panels

        kwargs = {**(settings.get("dataset_kwargs") or {}), **data_kwargs}
        X = _test_data(dataset, int(first_seed or 0), kwargs)
        panels = {}
        for method, path in files.items():
            latent, _ = read_embedding_csv(path)
            if len(latent) != len(X):
                raise ValueError(
                    f"the reloaded {dataset} test split has {len(X)} points, the "
                    f"{method} embedding {len(latent)}"
                )
            panels[METHODS.get(method, method)] = latent
        fig = plot_diagram_panels(
            X, panels, n_subsample=n_subsample, random_state=random_state, data_name=dataset
        )
        return _figure_html(fig, "persistence diagrams", dpi)

    def training_animation() -> str | None:
        if not animation:
            return None
        from topoae.plotting.animation import snapshots_from_run

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
    if max_frames < 2:
        raise ValueError(f"max_frames must be >= 2, got {max_frames}.")
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
        sections.append(Section("Notes", "".join(_note(n) for n in notes)))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kind_text = "train run" if kind == "run" else "comparison"
    meta = f"{kind_text} folder {folder.resolve().name} · topoae {__version__} · {stamp}"
    out = Path(out) if out is not None else folder / "report.html"
    atomic_write_text(out, render_page(title, sections, meta))
    return out
