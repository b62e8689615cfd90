"""Training animations: latent codes of a fixed subset, snapshot by snapshot, side by side.

Arrays in, files out: a run folder's ``snapshots.npz`` is read by
:func:`topoae.runs.snapshots.snapshots_from_run`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from topoae._io import atomic_write_bytes
from topoae.errors import InputError, MissingDependencyError
from topoae.plotting.embeddings import add_class_legend, draw_embedding
from topoae.plotting.style import (
    PANEL_SIZE,
    class_color_map,
    new_figure,
    style_context,
)

__all__ = ["Snapshots", "animate_snapshots", "check_animation_path", "write_animation"]


@dataclass
class Snapshots:
    """Latent codes of one run's fixed subset over training.

    Attributes
    ----------
    title : str
        Panel title.
    latent : ndarray of shape (S, s, k)
        Codes of ``s`` points at ``S`` moments (k >= 2; above 2, the first two principal
        axes of all snapshots together are drawn).
    epoch : ndarray of shape (S,)
        Epoch of each snapshot (0: before training).
    step : ndarray of shape (S,), optional
        Optimiser step of each snapshot.
    labels : ndarray of shape (s,), optional
        Class of each point.
    """

    title: str
    latent: np.ndarray
    epoch: np.ndarray
    step: np.ndarray | None = None
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.latent = np.asarray(self.latent, dtype=np.float64)
        if self.latent.ndim != 3 or self.latent.shape[0] < 1 or self.latent.shape[2] < 2:
            raise InputError(
                f"Snapshots of {self.title!r}: latent must have shape (S, s, k) with S >= 1 "
                f"and k >= 2, got {self.latent.shape}."
            )
        if not np.isfinite(self.latent).all():
            raise InputError(
                f"Snapshots of {self.title!r} contain NaN or infinite codes (did training "
                "diverge?)."
            )
        n_snapshots, n_points = self.latent.shape[:2]
        self.epoch = np.asarray(self.epoch)
        if self.epoch.shape != (n_snapshots,):
            raise InputError(
                f"Snapshots of {self.title!r}: epoch must have shape ({n_snapshots},), "
                f"got {self.epoch.shape}."
            )
        if self.step is not None:
            self.step = np.asarray(self.step)
            if self.step.shape != (n_snapshots,):
                raise InputError(
                    f"Snapshots of {self.title!r}: step must have shape ({n_snapshots},), "
                    f"got {self.step.shape}."
                )
        if self.labels is not None:
            self.labels = np.asarray(self.labels)
            if self.labels.shape != (n_points,):
                raise InputError(
                    f"Snapshots of {self.title!r}: labels must have shape ({n_points},), "
                    f"got {self.labels.shape}."
                )

    def thinned(self, max_frames: int) -> Snapshots:
        """At most ``max_frames`` (>= 2) snapshots, evenly spaced, the first and last kept."""
        if max_frames < 2:
            raise InputError(f"max_frames must be >= 2, got {max_frames}.")
        count = self.latent.shape[0]
        if count <= max_frames:
            return self
        keep = np.unique(np.linspace(0, count - 1, max_frames).round().astype(int))
        step = None if self.step is None else self.step[keep]
        return Snapshots(self.title, self.latent[keep], self.epoch[keep], step, self.labels)

    def planar(self) -> np.ndarray:
        """Codes as (S, s, 2): unchanged for k = 2, else projected on shared principal axes."""
        if self.latent.shape[2] == 2:
            return self.latent
        flat = self.latent.reshape(-1, self.latent.shape[2])
        centred = flat - flat.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return (centred @ vt[:2].T).reshape(*self.latent.shape[:2], 2)


def _square_limits(points: np.ndarray, margin: float = 0.05) -> tuple[tuple, tuple]:
    """Equal-length x and y ranges around all ``points`` (..., 2), so aspect 1 fits."""
    flat = points.reshape(-1, 2)
    low, high = flat.min(axis=0), flat.max(axis=0)
    centre = (low + high) / 2
    half = max(float((high - low).max()) / 2, 1e-9) * (1 + margin)
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def find_ffmpeg() -> str | None:
    """The ffmpeg that writes MP4: the one on the PATH, else imageio-ffmpeg's, else None.

    imageio-ffmpeg (in the ``plot`` extra) ships a static ffmpeg binary, so a plain
    ``pip install`` can write MP4 without a system package.
    """
    on_path = shutil.which("ffmpeg")
    if on_path is not None:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # no binary for this platform and none on the PATH
        return None


def check_animation_path(path: str | os.PathLike) -> str:
    """The suffix of an animation file name (``.gif`` or ``.mp4``), or a ValueError.

    Called before any drawing, so a wrong name or a missing ffmpeg fails at once.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise InputError(f"Cannot tell the animation format of {str(path)!r}: use .gif or .mp4.")
    if suffix == ".mp4" and find_ffmpeg() is None:
        raise MissingDependencyError(
            f"Writing {path.name} needs ffmpeg: install the plot extra "
            "(`pip install 'topoae[plot]'`, which brings imageio-ffmpeg) or put ffmpeg on the "
            "PATH; or write a .gif instead."
        )
    return suffix


def write_animation(
    fig: Any, update: Any, n_frames: int, path: str | os.PathLike, *, fps: float, dpi: float
) -> Path:
    """Render ``n_frames`` frames (``update(i)`` redraws frame i) to a GIF or MP4, atomically.

    GIF uses Pillow; MP4 needs ffmpeg (:func:`find_ffmpeg`).
    """
    import matplotlib
    from matplotlib import animation

    path = Path(path)
    suffix = check_animation_path(path)
    if suffix == ".gif":
        # matplotlib's stubs ask for an int; its writers take any positive frame rate.
        writer: Any = animation.PillowWriter(fps=fps)  # type: ignore[arg-type]
    else:
        # "h264" (not "libx264"): matplotlib then rounds the frame to even pixel sizes and
        # asks for yuv420p, which players expect.
        writer = animation.FFMpegWriter(fps=fps, codec="h264")  # type: ignore[arg-type]
    # matplotlib looks the binary up in its rcParams when saving starts.
    ffmpeg = find_ffmpeg() if suffix == ".mp4" else None
    settings = matplotlib.rc_context({"animation.ffmpeg_path": ffmpeg} if ffmpeg else None)
    with tempfile.TemporaryDirectory() as tmp, settings:
        tmp_path = Path(tmp) / f"animation{suffix}"
        with writer.saving(fig, str(tmp_path), dpi):
            for frame in range(n_frames):
                update(frame)
                writer.grab_frame()
        return atomic_write_bytes(path, tmp_path.read_bytes())


def animate_snapshots(
    runs: Sequence[Snapshots],
    path: str | os.PathLike,
    *,
    fps: float = 8.0,
    dpi: float = 100,
    panel_size: float = PANEL_SIZE,
    muted_label: Any = None,
    point_size: float = 3.0,
    title: str | None = None,
    hold_last: int = 0,
    legend: bool = True,
) -> Path:
    """Animate the latent codes of one or more runs side by side.

    Frame ``i`` shows snapshot ``i`` of every run (a run with fewer snapshots holds its
    last one). Each panel's axes are fixed over all its snapshots, so motion is real
    motion and not rescaling; the panel title gives the run and the epoch.

    Parameters
    ----------
    runs : sequence of Snapshots
        One panel each, left to right.
    path : str or PathLike
        ``.gif`` (Pillow) or ``.mp4`` (needs ffmpeg), written atomically.
    fps : float
        Frames per second.
    dpi : float
        Pixels per inch of the frames.
    panel_size : float
        Side of one panel in inches.
    muted_label : scalar, optional
        Class drawn in light grey underneath (10 for the enclosing sphere of Spheres).
    point_size : float
        Marker area in points².
    title : str, optional
        Figure title above the panels.
    hold_last : int
        Extra copies of the last frame, so a looping GIF pauses on the result (a GIF
        stores them as one longer frame).
    legend : bool
        Add a class legend (below the panels when it fits in one row, else on the right).

    Returns
    -------
    Path
        ``path``.
    """
    check_animation_path(path)
    if not runs:
        raise InputError("animate_snapshots needs at least one run.")
    if fps <= 0 or dpi <= 0 or hold_last < 0:
        raise InputError("fps and dpi must be positive and hold_last >= 0.")
    planar = [run.planar() for run in runs]
    n_frames = max(p.shape[0] for p in planar)
    all_labels = [run.labels for run in runs if run.labels is not None]
    colors = class_color_map(np.concatenate(all_labels), muted_label) if all_labels else None
    norm = None
    if all_labels and colors is None:
        from matplotlib.colors import Normalize

        pooled = np.concatenate(all_labels).astype(np.float64)
        norm = Normalize(pooled.min(), pooled.max())

    width = len(runs) * panel_size
    legend_below = legend and colors is not None and 0.45 * len(colors) <= width
    legend_right = legend and colors is not None and not legend_below
    with style_context():
        fig = new_figure(
            width + (0.6 if legend_right else 0.0),
            panel_size + 0.45 + (0.3 if title else 0.0) + (0.45 if legend_below else 0.0),
        )
        axes = np.atleast_1d(fig.subplots(1, len(runs), squeeze=False)[0])
        artists = []
        for ax, run, points in zip(axes, runs, planar, strict=True):
            muted, main = draw_embedding(
                ax,
                points[0],
                run.labels,
                colors,
                muted_label=muted_label,
                point_size=point_size,
                norm=norm,
            )
            xlim, ylim = _square_limits(points)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_aspect("equal", adjustable="box")
            ax.set_xlabel("latent 1")
            ax.set_ylabel("latent 2")
            ax.set_title(f"{run.title}\n")
            artists.append((ax, run, points, muted, main))
        if title:
            fig.suptitle(title)
        if legend and colors is not None:
            add_class_legend(fig, colors, None, below=legend_below)

    def update(frame: int) -> None:
        for ax, run, points, muted, main in artists:
            i = min(frame, points.shape[0] - 1)
            main.set_offsets(points[i][main.draw_order])
            if muted is not None:
                muted.set_offsets(points[i][muted.draw_order])
            when = f"epoch {int(run.epoch[i])}"
            if run.step is not None:
                when += f", step {int(run.step[i])}"
            ax.title.set_text(f"{run.title}\n{when}")

    # Lay out once with the first frame's text, then freeze it: panels must not shift
    # between frames as the titles change.
    update(0)
    fig.canvas.draw()
    fig.set_layout_engine("none")
    total = n_frames + hold_last
    return write_animation(
        fig, lambda f: update(min(f, n_frames - 1)), total, path, fps=fps, dpi=dpi
    )
