"""Persistence diagrams and barcodes of data and embedding, with their distances.

Pictures only: the diagrams and distances are computed by :mod:`topoae.metrics.diagrams`
(``compare_persistence``, ``compare_persistence_each``) and handed in as arrays.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from topoae.errors import InputError
from topoae.plotting.style import PANEL_SIZE, new_figure, save_figure, style_context

__all__ = ["draw_barcode", "draw_diagram", "plot_diagram_panels", "plot_persistence"]

#: One colour and marker per homology dimension (H0, H1, H2).
DIMENSION_STYLE = (("#1f77b4", "o"), ("#d62728", "^"), ("#2ca02c", "s"))


def _as_diagrams(diagrams: Sequence[Any], name: str) -> list[np.ndarray]:
    """Each dimension's ``(birth, death)`` pairs as a float array of shape (k, 2)."""
    out = [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in diagrams]
    if not out:
        raise InputError(f"{name} must hold the diagram of at least dimension 0.")
    return out


def _limit(*diagram_lists: list[np.ndarray]) -> float:
    """5 % above the largest finite death of all diagrams: one scale for every panel."""
    finite = [d[np.isfinite(d).all(axis=1)] for dgms in diagram_lists for d in dgms]
    return 1.05 * max([float(d.max()) for d in finite if len(d)] + [1e-12])


def _caption(n_points: int, seed: int | None, what: str = "Vietoris–Rips") -> str:
    seed_text = "" if seed is None else f", seed {seed}"
    return f"{what} on {n_points} points{seed_text}"


def _fmt(value: float) -> str:
    """3 significant digits; 0 for the ~1e-308 that gudhi reports for identical diagrams."""
    return "0" if abs(value) < 1e-12 else f"{value:.3g}"


def draw_diagram(ax: Any, diagrams: list[np.ndarray], *, limit: float | None = None) -> None:
    """Persistence diagram on ``ax``: one marker per class and dimension, and the diagonal.

    Parameters
    ----------
    diagrams : list of ndarray of shape (k, 2)
        Finite ``(birth, death)`` pairs per dimension.
    limit : float, optional
        Upper end of both axes (default: 5 % above the largest death).
    """
    finite = [d[np.isfinite(d).all(axis=1)] for d in diagrams]
    limit = limit if limit is not None else _limit(finite)
    ax.plot([0, limit], [0, limit], color="0.5", linewidth=0.7, zorder=1)
    for dim, points in enumerate(finite):
        color, marker = DIMENSION_STYLE[dim % len(DIMENSION_STYLE)]
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=9,
            c=color,
            marker=marker,
            alpha=0.7,
            linewidths=0,
            label=f"H{dim} ({len(points)})",
            zorder=2 + dim,
        )
    ax.set_xlim(-0.02 * limit, limit)
    ax.set_ylim(-0.02 * limit, limit)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", frameon=False, handletextpad=0.1, markerscale=1.3)


def draw_barcode(ax: Any, diagrams: list[np.ndarray], *, limit: float | None = None) -> None:
    """Barcode on ``ax``: one horizontal bar per class, H0 at the bottom, longest first."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    finite = [d[np.isfinite(d).all(axis=1)] for d in diagrams]
    limit = limit if limit is not None else _limit(finite)
    total = sum(len(d) for d in finite)
    linewidth = float(np.clip(150.0 / max(total, 1), 0.3, 2.0))
    row = 0
    handles = []
    for dim, bars in enumerate(finite):
        color, _ = DIMENSION_STYLE[dim % len(DIMENSION_STYLE)]
        bars = bars[np.argsort(bars[:, 0] - bars[:, 1], kind="stable")]
        rows = row + np.arange(len(bars))
        segments = np.stack(
            [np.column_stack([bars[:, 0], rows]), np.column_stack([bars[:, 1], rows])], axis=1
        )
        ax.add_collection(LineCollection(list(segments), colors=color, linewidths=linewidth))
        handles.append(Line2D([], [], color=color, label=f"H{dim}"))
        row += len(bars)
    ax.set_xlim(0, limit)
    ax.set_ylim(-1, max(row, 1))
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.legend(handles=handles, loc="upper right", frameon=False)


def plot_persistence(
    diagrams_x: Sequence[Any],
    diagrams_z: Sequence[Any],
    distances: dict[str, float],
    path: str | os.PathLike | None = None,
    *,
    n_points: int | None = None,
    seed: int | None = None,
    normalized: bool = True,
    names: tuple[str, str] = ("data", "embedding"),
    title: str | None = None,
    panel_size: float = PANEL_SIZE,
    dpi: float | None = None,
) -> Any:
    """Diagrams (top) and barcodes (bottom) of data and embedding, distances in the title.

    Parameters
    ----------
    diagrams_x, diagrams_z : sequence of array-like of shape (k, 2)
        ``(birth, death)`` per dimension of the data and of the embedding (as
        :class:`topoae.metrics.diagrams.PersistenceComparison` holds them).
    distances : dict of str to float
        ``bottleneck_h<d>`` and ``wasserstein_h<d>`` for each dimension drawn.
    path : str or PathLike, optional
        Save the figure there (``.png``, ``.pdf``, ``.svg``), atomically.
    n_points : int, optional
        Points the diagrams were computed on, for the caption (default: from H0, which
        has n - 1 finite classes).
    seed : int, optional
        Seed of their subsample, for the caption.
    normalized : bool
        Whether each space's distances were divided by their largest value (axis labels).
    names : (str, str)
        Panel titles of the two spaces.
    title : str, optional
        First line of the figure title (the distances follow).
    panel_size : float
        Side of one panel in inches; the figure is 2 x 2 panels.
    dpi : float, optional
        Resolution of raster output.

    Returns
    -------
    matplotlib.figure.Figure
    """
    diagrams_x = _as_diagrams(diagrams_x, "diagrams_x")
    diagrams_z = _as_diagrams(diagrams_z, "diagrams_z")
    n_dims = len(diagrams_x)
    n_points = len(diagrams_x[0]) + 1 if n_points is None else n_points
    limit = _limit(diagrams_x, diagrams_z)
    unit = "distance / max distance" if normalized else "distance"
    lines = [title] if title else []
    lines.append(
        "bottleneck  "
        + ", ".join(f"H{d} {_fmt(distances[f'bottleneck_h{d}'])}" for d in range(n_dims))
        + "    Wasserstein-1  "
        + ", ".join(f"H{d} {_fmt(distances[f'wasserstein_h{d}'])}" for d in range(n_dims))
    )
    lines.append(_caption(n_points, seed))
    with style_context():
        fig = new_figure(2 * panel_size + 0.2, 2 * panel_size + 0.25 * len(lines) + 0.1)
        axes = fig.subplots(2, 2)
        for col, (name, diagrams) in enumerate(zip(names, (diagrams_x, diagrams_z), strict=True)):
            draw_diagram(axes[0, col], diagrams, limit=limit)
            axes[0, col].set_title(f"{name}: diagram")
            axes[0, col].set_xlabel(f"birth ({unit})")
            axes[0, col].set_ylabel(f"death ({unit})")
            draw_barcode(axes[1, col], diagrams, limit=limit)
            axes[1, col].set_title(f"{name}: barcode")
            axes[1, col].set_xlabel(f"scale ({unit})")
        fig.suptitle("\n".join(lines))
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def plot_diagram_panels(
    data_diagrams: Sequence[Any],
    panels: dict[str, tuple[Sequence[Any], dict[str, float]]],
    path: str | os.PathLike | None = None,
    *,
    n_points: int | None = None,
    seed: int | None = None,
    normalized: bool = True,
    data_name: str = "data",
    ncols: int | None = None,
    panel_size: float = PANEL_SIZE,
    dpi: float | None = None,
) -> Any:
    """Diagram of the data next to the diagram of each embedding, distances in each title.

    Parameters
    ----------
    data_diagrams : sequence of array-like of shape (k, 2)
        The data's ``(birth, death)`` pairs per dimension.
    panels : dict of str to (diagrams, distances)
        Method name to its embedding's diagrams and their distances to the data's (as
        :func:`topoae.metrics.diagrams.compare_persistence_each` computes them).
    path : str or PathLike, optional
        Save the figure there, atomically.
    n_points, seed, normalized
        As in :func:`plot_persistence`.
    data_name : str
        Title of the data panel.
    ncols : int, optional
        Panels per row (default: up to 4).
    panel_size : float
        Side of one panel in inches.
    dpi : float, optional
        Resolution of raster output.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import math

    if not panels:
        raise InputError("panels must name at least one method.")
    data_diagrams = _as_diagrams(data_diagrams, "data_diagrams")
    drawn: list[tuple[str, list[np.ndarray], dict[str, float] | None]] = [
        (data_name, data_diagrams, None)
    ]
    for name, (diagrams, distances) in panels.items():
        drawn.append((name, _as_diagrams(diagrams, name), distances))
    limit = _limit(*(dgms for _, dgms, _ in drawn))
    n_points = len(data_diagrams[0]) + 1 if n_points is None else n_points
    n_panels = len(drawn)
    ncols = min(ncols or 4, n_panels)
    nrows = math.ceil(n_panels / ncols)
    unit = "distance / max distance" if normalized else "distance"
    with style_context():
        fig = new_figure(ncols * panel_size, nrows * (panel_size + 0.3) + 0.3)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (name, dgms, dist) in zip(axes, drawn, strict=False):
            draw_diagram(ax, dgms, limit=limit)
            text = name
            if dist is not None:
                text += "\n" + ", ".join(
                    f"H{d} {_fmt(dist[f'bottleneck_h{d}'])}" for d in range(len(dgms))
                )
            ax.set_title(text)
            ax.set_xlabel(f"birth ({unit})")
            if ax.get_subplotspec().is_first_col():
                ax.set_ylabel(f"death ({unit})")
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        fig.suptitle(
            f"{_caption(n_points, seed, 'Vietoris–Rips persistence')}\n"
            "under each method: bottleneck distance of its diagrams to the data's"
        )
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
