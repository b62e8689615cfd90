"""Persistence diagrams and barcodes of data and embedding, with their distances."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from topoae.plotting.style import PANEL_SIZE, new_figure, save_figure, style_context

__all__ = [
    "PersistenceComparison",
    "compare_persistence",
    "diagram_distances",
    "draw_barcode",
    "draw_diagram",
    "plot_diagram_panels",
    "plot_persistence",
]

#: One colour and marker per homology dimension (H0, H1, H2).
DIMENSION_STYLE = (("#1f77b4", "o"), ("#d62728", "^"), ("#2ca02c", "s"))


@dataclass
class PersistenceComparison:
    """Diagrams of a data set and its embedding on the same points, and their distances.

    Attributes
    ----------
    diagrams_x, diagrams_z : list of ndarray of shape (k, 2)
        ``(birth, death)`` per dimension 0 … max_dimension (infinite H0 class left out).
    distances : dict of str to float
        ``bottleneck_h<d>`` and ``wasserstein_h<d>`` (order 1, L∞ ground metric).
    n_points : int
        Points the diagrams were computed on.
    normalized : bool
        Whether each space's distances were divided by their largest value.
    """

    diagrams_x: list[np.ndarray]
    diagrams_z: list[np.ndarray]
    distances: dict[str, float]
    n_points: int
    normalized: bool


def compare_persistence(
    X: Any,
    Z: Any,
    *,
    max_dimension: int = 1,
    n_subsample: int | None = 500,
    random_state: int | None = 0,
    normalize: bool = True,
) -> PersistenceComparison:
    """Vietoris–Rips diagrams of ``X`` and ``Z`` on one seeded subsample, and their distances.

    The subsample is drawn as :func:`topoae.metrics.diagram_distances` draws it (sorted
    indices from ``numpy.random.default_rng(random_state)``), so the same seed and size give
    the same points and distances.

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Data (flattened).
    Z : array-like of shape (n, q)
        Its embedding.
    max_dimension : int
        Highest homology dimension (1 or 2; dimension 1 and above need the ``tda`` extra).
    n_subsample : int or None
        Points to use (None: all). Vietoris–Rips H1 grows fast with n.
    random_state : int or None
        Seed of the subsample.
    normalize : bool
        Divide each space's distances by their largest value, so an embedding's arbitrary
        scale does not count.

    Returns
    -------
    PersistenceComparison
    """
    X, Z = _check_pair(X, Z, max_dimension)
    idx = _subsample(len(X), n_subsample, random_state)
    X, Z = X[idx], Z[idx]
    diagrams = [_diagrams(A, max_dimension, normalize) for A in (X, Z)]
    distances = diagram_distances(diagrams[0], diagrams[1])
    return PersistenceComparison(diagrams[0], diagrams[1], distances, len(X), normalize)


def _check_pair(X: Any, Z: Any, max_dimension: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    X = X.reshape(len(X), -1)
    if Z.ndim != 2 or len(Z) != len(X):
        raise ValueError(
            f"Z must have shape (n, q) with n = {len(X)} rows like X, got shape {Z.shape}."
        )
    if not (np.isfinite(X).all() and np.isfinite(Z).all()):
        raise ValueError("X and Z must not contain NaN or infinite values.")
    if not 0 <= max_dimension <= 2:
        raise ValueError(f"max_dimension must be 0, 1 or 2, got {max_dimension}.")
    if len(X) < 3:
        raise ValueError(f"Need at least 3 points for persistence diagrams, got {len(X)}.")
    return X, Z


def _subsample(n: int, n_subsample: int | None, random_state: int | None) -> np.ndarray:
    """Sorted indices of the seeded subsample (all points when n_subsample is None or >= n)."""
    if n_subsample is None or n_subsample >= n:
        return np.arange(n)
    if n_subsample < 3:
        raise ValueError(f"n_subsample must be >= 3, got {n_subsample}.")
    return np.sort(np.random.default_rng(random_state).choice(n, n_subsample, replace=False))


def _diagrams(A: np.ndarray, max_dimension: int, normalize: bool) -> list[np.ndarray]:
    from scipy.spatial.distance import cdist

    from topoae.core.topology import persistence_diagrams

    dist = cdist(A, A)
    if normalize:
        top = dist.max()
        if top == 0:
            raise ValueError("All points coincide; cannot normalise distances.")
        dist /= top
    return persistence_diagrams(dist, max_dimension, metric="precomputed")


def diagram_distances(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, float]:
    """``bottleneck_h<d>`` and ``wasserstein_h<d>`` (order 1, L∞) between two diagram lists."""
    try:
        import gudhi
    except ImportError as error:
        raise ImportError("Diagram distances need gudhi: pip install 'topoae[tda]'.") from error
    # The exact Hungarian matching of topoae.metrics, not gudhi.hera: hera's auction can
    # fail to terminate on (near-)identical diagrams.
    from topoae.metrics import wasserstein_distance

    distances = {}
    for dim, (x, z) in enumerate(zip(a, b, strict=True)):
        distances[f"bottleneck_h{dim}"] = float(gudhi.bottleneck_distance(x, z))
        distances[f"wasserstein_h{dim}"] = wasserstein_distance(x, z, order=1.0)
    return distances


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
    top = max([float(d.max()) for d in finite if len(d)] + [1e-12])
    limit = limit if limit is not None else 1.05 * top
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
    top = max([float(d.max()) for d in finite if len(d)] + [1e-12])
    limit = limit if limit is not None else 1.05 * top
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
        ax.add_collection(LineCollection(segments, colors=color, linewidths=linewidth))
        handles.append(Line2D([], [], color=color, label=f"H{dim}"))
        row += len(bars)
    ax.set_xlim(0, limit)
    ax.set_ylim(-1, max(row, 1))
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.legend(handles=handles, loc="upper right", frameon=False)


def plot_persistence(
    X: Any,
    Z: Any,
    path: str | os.PathLike | None = None,
    *,
    max_dimension: int = 1,
    n_subsample: int | None = 500,
    random_state: int | None = 0,
    normalize: bool = True,
    names: tuple[str, str] = ("data", "embedding"),
    title: str | None = None,
    panel_size: float = PANEL_SIZE,
    dpi: float | None = None,
    comparison: PersistenceComparison | None = None,
) -> Any:
    """Diagrams (top) and barcodes (bottom) of data and embedding, distances in the title.

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Data.
    Z : array-like of shape (n, q)
        Its embedding.
    path : str or PathLike, optional
        Save the figure there (``.png``, ``.pdf``, ``.svg``), atomically.
    max_dimension, n_subsample, random_state, normalize
        As in :func:`compare_persistence`.
    names : (str, str)
        Panel titles of the two spaces.
    title : str, optional
        First line of the figure title (the distances follow).
    panel_size : float
        Side of one panel in inches; the figure is 2 x 2 panels.
    dpi : float, optional
        Resolution of raster output.
    comparison : PersistenceComparison, optional
        Precomputed diagrams (then X, Z and the other computing options are ignored).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if comparison is None:
        comparison = compare_persistence(
            X,
            Z,
            max_dimension=max_dimension,
            n_subsample=n_subsample,
            random_state=random_state,
            normalize=normalize,
        )
    c = comparison
    n_dims = len(c.diagrams_x)
    finite = [d[np.isfinite(d).all(axis=1)] for d in (*c.diagrams_x, *c.diagrams_z)]
    limit = 1.05 * max([float(d.max()) for d in finite if len(d)] + [1e-12])
    unit = "distance / max distance" if c.normalized else "distance"
    lines = [title] if title else []
    lines.append(
        "bottleneck  "
        + ", ".join(f"H{d} {_fmt(c.distances[f'bottleneck_h{d}'])}" for d in range(n_dims))
        + "    Wasserstein-1  "
        + ", ".join(f"H{d} {_fmt(c.distances[f'wasserstein_h{d}'])}" for d in range(n_dims))
    )
    seed_text = "" if random_state is None else f", seed {random_state}"
    lines.append(f"Vietoris–Rips on {c.n_points} points{seed_text}")
    with style_context():
        fig = new_figure(2 * panel_size + 0.2, 2 * panel_size + 0.25 * len(lines) + 0.1)
        axes = fig.subplots(2, 2)
        for col, (name, diagrams) in enumerate(
            zip(names, (c.diagrams_x, c.diagrams_z), strict=True)
        ):
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
    X: Any,
    embeddings: dict[str, Any],
    path: str | os.PathLike | None = None,
    *,
    max_dimension: int = 1,
    n_subsample: int | None = 500,
    random_state: int | None = 0,
    normalize: bool = True,
    data_name: str = "data",
    ncols: int | None = None,
    panel_size: float = PANEL_SIZE,
    dpi: float | None = None,
) -> Any:
    """Diagram of the data next to the diagram of each embedding, distances in each title.

    All diagrams use the same seeded subsample of points (as :func:`compare_persistence`).

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Data.
    embeddings : dict of str to array-like of shape (n, q)
        Method name to its embedding of the same points.
    path : str or PathLike, optional
        Save the figure there, atomically.
    max_dimension, n_subsample, random_state, normalize
        As in :func:`compare_persistence`.
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

    if not embeddings:
        raise ValueError("embeddings must name at least one method.")
    checked = {name: _check_pair(X, Z, max_dimension) for name, Z in embeddings.items()}
    X = next(iter(checked.values()))[0]
    idx = _subsample(len(X), n_subsample, random_state)
    dgm_x = _diagrams(X[idx], max_dimension, normalize)
    panels = [(data_name, dgm_x, None)]
    for name, (_, Z) in checked.items():
        dgm_z = _diagrams(Z[idx], max_dimension, normalize)
        panels.append((name, dgm_z, diagram_distances(dgm_x, dgm_z)))
    finite = [d[np.isfinite(d).all(axis=1)] for _, dgms, _ in panels for d in dgms]
    limit = 1.05 * max([float(d.max()) for d in finite if len(d)] + [1e-12])
    n_panels = len(panels)
    ncols = min(ncols or 4, n_panels)
    nrows = math.ceil(n_panels / ncols)
    unit = "distance / max distance" if normalize else "distance"
    seed_text = "" if random_state is None else f", seed {random_state}"
    with style_context():
        fig = new_figure(ncols * panel_size, nrows * (panel_size + 0.3) + 0.3)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (name, dgms, dist) in zip(axes, panels, strict=False):
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
            f"Vietoris–Rips persistence on {len(idx)} points{seed_text}\n"
            "under each method: bottleneck distance of its diagrams to the data's"
        )
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
