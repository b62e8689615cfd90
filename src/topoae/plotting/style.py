"""Shared look of every topoae picture: colours, sizes, fonts, and how figures are saved.

matplotlib is the ``plot`` extra: it is imported only inside the functions that draw, and a
missing install raises an ImportError that names the extra. Figures are built on the Agg
canvas directly (no pyplot, no display, no global backend switch), so drawing works on a
headless machine and never leaks figures into a user's interactive session.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from topoae._io import atomic_write_bytes
from topoae.errors import InputError, MissingDependencyError

__all__ = [
    "CLASS_COLORS",
    "DPI",
    "MUTED_COLOR",
    "PANEL_SIZE",
    "class_color_map",
    "new_figure",
    "render_figure",
    "require_matplotlib",
    "save_figure",
]

#: Eleven distinguishable colours: matplotlib's ``tab10`` plus a dark slate for an 11th
#: class (Spheres has ten small spheres and one enclosing sphere).
CLASS_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
    "#2f4f4f",
)
#: Colour of the muted class (e.g. the enclosing sphere), drawn underneath the others.
MUTED_COLOR = "#c8c8c8"
#: Default resolution of raster output: sharp in print, small enough for a web page.
DPI = 150
#: Side of one square panel in inches (two panels fit a single column, six a full page).
PANEL_SIZE = 2.4
#: Font sizes that stay legible when a figure is scaled to a column width.
RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
INSTALL_HINT = "pip install 'topoae[plot]'"


def require_matplotlib() -> Any:
    """Import and return ``matplotlib``, or raise an ImportError naming the ``plot`` extra."""
    try:
        import matplotlib
    except ImportError as error:
        raise MissingDependencyError(f"Drawing needs matplotlib: {INSTALL_HINT}") from error
    return matplotlib


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure of ``width`` x ``height`` inches on an Agg canvas.

    Uses constrained layout, so the saved size is exactly ``width * dpi`` by
    ``height * dpi`` pixels (no tight-bbox cropping).
    """
    matplotlib = require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style_context() -> Any:
    """Context manager applying :data:`RC` while artists are created."""
    return require_matplotlib().rc_context(RC)


def class_color_map(labels: np.ndarray, muted_label: Any = None) -> dict[Any, str] | None:
    """Colour per class label, or None when ``labels`` look continuous.

    Parameters
    ----------
    labels : ndarray of shape (n,)
    muted_label : scalar, optional
        The class drawn in :data:`MUTED_COLOR`.

    Returns
    -------
    dict or None
        ``{label: colour}`` in sorted label order when there are at most 11 colourable
        classes (the muted one not counted) of integer or string type; None otherwise
        (the caller then draws a colour bar).
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        return None
    if labels.dtype.kind == "f" and not np.all(classes == np.round(classes)):
        return None
    colourable = [c for c in classes if muted_label is None or c != muted_label]
    if len(colourable) > len(CLASS_COLORS):
        return None
    colors = {}
    for i, c in enumerate(colourable):
        colors[c.item() if hasattr(c, "item") else c] = CLASS_COLORS[i]
    if muted_label is not None and np.any(classes == muted_label):
        colors[muted_label] = MUTED_COLOR
    return colors


def figure_format(path: str | os.PathLike) -> str:
    """The matplotlib format for ``path``'s suffix (png, pdf or svg)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(
            f"Cannot tell the image format of {str(path)!r}: use a .png, .pdf or .svg file name."
        )
    return _FORMATS[suffix]


def render_figure(fig: Any, fmt: str = "png", *, dpi: float | None = None) -> bytes:
    """Render ``fig`` to bytes in ``fmt`` (png, pdf or svg) without touching the disk.

    Creation dates are left out of PDF and SVG output (and SVG ids are salted with a
    constant) so that the same figure gives the same bytes every time.
    """
    metadata = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}[fmt]
    buffer = io.BytesIO()
    # A fixed salt makes SVG element ids repeatable.
    with require_matplotlib().rc_context({"svg.hashsalt": "topoae"}):
        fig.savefig(buffer, format=fmt, dpi=dpi or DPI, metadata=metadata)
    return buffer.getvalue()


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: float | None = None) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names."""
    return atomic_write_bytes(path, render_figure(fig, figure_format(path), dpi=dpi))
