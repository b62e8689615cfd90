"""The Vietoris–Rips filtration demo: growing balls, edges and triangles, the diagram filling in.

The diagram is handed in (computed by :func:`topoae.metrics.diagrams.persistence_diagrams`);
this module draws.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from topoae.errors import InputError
from topoae.plotting.animation import check_animation_path, write_animation
from topoae.plotting.diagrams import DIMENSION_STYLE
from topoae.plotting.style import PANEL_SIZE, new_figure, style_context

__all__ = ["animate_filtration", "noisy_circle", "read_points_csv", "rips_simplices"]

#: Above this many points the triangles of a frame no longer read as a picture (and their
#: number, n³/6, makes frames slow).
MAX_POINTS = 150


def noisy_circle(n: int = 40, *, noise: float = 0.1, radius: float = 1.0, seed: int = 0):
    """``n`` points at random angles on a circle, with Gaussian noise.

    Returns
    -------
    ndarray of shape (n, 2)
    """
    if n < 3:
        raise InputError(f"A circle needs at least 3 points, got n={n}.")
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, n)
    points = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    return points + noise * rng.normal(size=(n, 2))


def read_points_csv(path: str | os.PathLike) -> np.ndarray:
    """2-D points from a CSV file: the first two numeric columns, a header row allowed.

    A ``labels`` column (as in topoae's embedding files) is ignored.

    Returns
    -------
    ndarray of shape (n, 2)
    """
    text = Path(path).read_text()
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
    if not rows:
        raise InputError(f"{path} holds no rows; expected columns x,y (a header is optional).")
    header = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    keep = [i for i, name in enumerate(header or rows[0]) if header is None or name != "labels"]
    if len(keep) < 2:
        raise InputError(f"{path} needs at least two coordinate columns, found {len(keep)}.")
    try:
        points = np.array([[float(row[i]) for i in keep[:2]] for row in rows])
    except (ValueError, IndexError) as error:
        raise InputError(f"{path}: every row needs two numbers in columns {keep[:2]}.") from error
    if len(points) < 3 or not np.isfinite(points).all():
        raise InputError(f"{path} needs at least 3 points with finite coordinates.")
    return points


def rips_simplices(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges and triangles of the full Vietoris–Rips complex with their filtration values.

    Returns
    -------
    edges : ndarray of shape (m, 2)
        Vertex pairs ``i < j``.
    edge_values : ndarray of shape (m,)
        Their lengths: an edge enters at scale ε = its length.
    triangles : ndarray of shape (t, 3)
    triangle_values : ndarray of shape (t,)
        Their longest edge: a triangle enters once all three edges are there.
    """
    from scipy.spatial.distance import cdist

    dist = cdist(points, points)
    n = len(points)
    edges = np.array(list(combinations(range(n), 2)), dtype=np.int64).reshape(-1, 2)
    edge_values = dist[edges[:, 0], edges[:, 1]]
    triangles = np.array(list(combinations(range(n), 3)), dtype=np.int64).reshape(-1, 3)
    a, b, c = triangles.T
    triangle_values = np.maximum(np.maximum(dist[a, b], dist[a, c]), dist[b, c])
    return edges, edge_values, triangles, triangle_values


def animate_filtration(
    points: Any,
    path: str | os.PathLike,
    *,
    diagrams: Sequence[Any],
    n_frames: int = 40,
    max_scale: float | None = None,
    fps: float = 6.0,
    dpi: float = 100,
    panel_size: float = PANEL_SIZE,
    hold_last: int = 0,
) -> Path:
    """Animate the Vietoris–Rips filtration of a 2-D point cloud next to its diagram.

    Frame ``i`` shows scale ε_i (evenly spaced from 0 to ``max_scale``): on the left,
    balls of radius ε/2 around the points (two balls touch exactly when their points are
    joined), the edges of length <= ε and the triangles whose three edges are there; on
    the right, the persistence diagram (H0, H1) with every class that has died by ε as a
    filled marker, classes still alive as open markers rising with the sweep line.

    Parameters
    ----------
    points : array-like of shape (n, 2)
        At most :data:`MAX_POINTS` points.
    path : str or PathLike
        ``.gif`` or ``.mp4`` (needs ffmpeg), written atomically.
    diagrams : sequence of array-like of shape (k, 2)
        The H0 and H1 ``(birth, death)`` pairs of ``points``
        (``topoae.metrics.diagrams.persistence_diagrams(points, 1)``).
    n_frames : int
        Number of scales shown (>= 2).
    max_scale : float, optional
        Largest ε (default: 10 % past the last death in H0 or H1).
    fps, dpi, panel_size, hold_last
        As in :func:`topoae.plotting.animation.animate_snapshots`.

    Returns
    -------
    Path
    """
    from matplotlib.collections import EllipseCollection, LineCollection, PolyCollection

    check_animation_path(path)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise InputError(f"points must have shape (n, 2) with n >= 3, got {points.shape}.")
    if not np.isfinite(points).all():
        raise InputError("points must not contain NaN or infinite values.")
    if len(points) > MAX_POINTS:
        raise InputError(
            f"{len(points)} points is too many to draw a filtration (at most {MAX_POINTS}); "
            "subsample them first."
        )
    if n_frames < 2:
        raise InputError(f"n_frames must be >= 2, got {n_frames}.")
    diagrams = [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in diagrams]
    if not 1 <= len(diagrams) <= len(DIMENSION_STYLE):
        raise InputError(f"diagrams must hold 1 to 3 dimensions, got {len(diagrams)}.")
    deaths = np.concatenate([d[:, 1] for d in diagrams])
    deaths = deaths[np.isfinite(deaths)]
    if max_scale is None:
        max_scale = 1.1 * float(deaths.max()) if len(deaths) else 1.0
    if not max_scale > 0:
        raise InputError(f"max_scale must be positive, got {max_scale}.")
    scales = np.linspace(0.0, max_scale, n_frames)
    edges, edge_values, triangles, triangle_values = rips_simplices(points)

    with style_context():
        fig = new_figure(2 * panel_size + 0.3, panel_size + 0.35)
        ax, ax_dgm = fig.subplots(1, 2)
        margin = 0.55 * max_scale
        low, high = points.min(axis=0) - margin, points.max(axis=0) + margin
        half = (high - low).max() / 2
        centre = (low + high) / 2
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        balls = EllipseCollection(
            widths=np.zeros(len(points)),
            heights=np.zeros(len(points)),
            angles=0,
            units="xy",
            offsets=points,
            offset_transform=ax.transData,
            facecolors="#1f77b4",
            alpha=0.12,
            zorder=1,
        )
        ax.add_collection(balls)
        faces = PolyCollection([], facecolors="#ff7f0e", alpha=0.35, linewidths=0, zorder=2)
        ax.add_collection(faces)
        lines = LineCollection([], colors="0.25", linewidths=0.6, zorder=3)
        ax.add_collection(lines)
        ax.scatter(points[:, 0], points[:, 1], s=8, c="black", zorder=4)
        ax.set_title("Vietoris–Rips complex")

        limit = 1.05 * max_scale
        ax_dgm.plot([0, limit], [0, limit], color="0.5", linewidth=0.7)
        sweep = ax_dgm.axhline(0, color="0.6", linewidth=0.7, linestyle="--")
        dead, alive = [], []
        for dim in range(len(diagrams)):
            color, marker = DIMENSION_STYLE[dim]
            dead.append(ax_dgm.scatter([], [], s=14, c=color, marker=marker, label=f"H{dim}"))
            alive.append(
                ax_dgm.scatter([], [], s=14, marker=marker, facecolors="none", edgecolors=color)
            )
        ax_dgm.set_xlim(-0.02 * limit, limit)
        ax_dgm.set_ylim(-0.02 * limit, limit)
        ax_dgm.set_aspect("equal")
        ax_dgm.set_xlabel("birth (ε)")
        ax_dgm.set_ylabel("death (ε)")
        ax_dgm.legend(loc="lower right", frameon=False)
        ax_dgm.set_title("persistence diagram")
        caption = fig.suptitle(" ")

    def update(frame: int) -> None:
        eps = scales[frame]
        balls.set_widths(np.full(len(points), eps))
        balls.set_heights(np.full(len(points), eps))
        lines.set_segments(points[edges[edge_values <= eps]])
        faces.set_verts(points[triangles[triangle_values <= eps]])
        sweep.set_ydata([eps, eps])
        for dim, dgm in enumerate(diagrams):
            born = dgm[:, 0] <= eps
            finished = born & (dgm[:, 1] <= eps)
            open_ = born & ~finished
            dead[dim].set_offsets(dgm[finished].reshape(-1, 2))
            alive[dim].set_offsets(np.column_stack([dgm[open_, 0], np.full(open_.sum(), eps)]))
        n_edges = int((edge_values <= eps).sum())
        n_triangles = int((triangle_values <= eps).sum())
        caption.set_text(
            f"ε = {eps:.2f}: balls of radius ε/2, {n_edges} edges, {n_triangles} triangles"
        )

    update(n_frames - 1)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    return write_animation(
        fig,
        lambda f: update(min(f, n_frames - 1)),
        n_frames + hold_last,
        path,
        fps=fps,
        dpi=dpi,
    )
