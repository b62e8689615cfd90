"""Scatter plots of 2-D embeddings, one panel per method, coloured by class."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from topoae.errors import InputError
from topoae.plotting.style import (
    PANEL_SIZE,
    class_color_map,
    new_figure,
    save_figure,
    style_context,
)

__all__ = ["add_class_legend", "check_embedding", "draw_embedding", "plot_embeddings"]


def check_embedding(name: str, Z: Any, labels: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate one ``(Z, labels)`` entry; returns float64 ``Z (n, 2)`` and labels or None."""
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[1] != 2:
        raise InputError(
            f"Embedding {name!r} must have shape (n, 2), got {Z.shape}; "
            "project it to two dimensions first."
        )
    if not np.all(np.isfinite(Z)):
        raise InputError(f"Embedding {name!r} contains NaN or infinite values.")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(Z),):
            raise InputError(
                f"Labels of {name!r} must have shape ({len(Z)},) to match the embedding, "
                f"got {labels.shape}."
            )
    return Z, labels


def draw_embedding(
    ax: Any,
    Z: np.ndarray,
    labels: np.ndarray | None,
    colors: dict[Any, str] | None,
    *,
    muted_label: Any = None,
    point_size: float = 2.0,
    cmap: str = "viridis",
    norm: Any = None,
    seed: int = 0,
) -> tuple[Any, Any]:
    """Draw one embedding on ``ax``: the muted class underneath, the rest in random order.

    Random draw order keeps any one class from hiding the others where they overlap.

    Returns
    -------
    (muted, main) : matplotlib collections
        The scatter of the muted class (or None) and of everything else; animations
        move them with ``set_offsets`` and the same index arrays.
    """
    n = len(Z)
    muted_mask = np.zeros(n, dtype=bool)
    if labels is not None and muted_label is not None:
        muted_mask = labels == muted_label
    order = np.random.RandomState(seed).permutation(np.flatnonzero(~muted_mask))
    muted = None
    if muted_mask.any():
        muted = ax.scatter(
            Z[muted_mask, 0],
            Z[muted_mask, 1],
            s=point_size,
            c=colors[muted_label] if colors else "#c8c8c8",
            linewidths=0,
            rasterized=True,
            zorder=1,
        )
    if labels is None:
        point_colors: Any = "#1f77b4"
        kwargs: dict[str, Any] = {}
    elif colors is not None:
        point_colors = [
            colors[lab.item() if hasattr(lab, "item") else lab] for lab in labels[order]
        ]
        kwargs = {}
    else:
        point_colors = labels[order].astype(np.float64)
        kwargs = {"cmap": cmap, "norm": norm}
    main = ax.scatter(
        Z[order, 0],
        Z[order, 1],
        s=point_size,
        c=point_colors,
        linewidths=0,
        rasterized=True,
        zorder=2,
        **kwargs,
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.tick_params(length=2, pad=1)
    main.draw_order = order  # type: ignore[attr-defined]  # for animations
    if muted is not None:
        muted.draw_order = np.flatnonzero(muted_mask)  # type: ignore[attr-defined]
    return muted, main


def plot_embeddings(
    embeddings: Mapping[str, tuple[Any, Any]],
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    ncols: int | None = None,
    muted_label: Any = None,
    class_names: Mapping[Any, str] | None = None,
    point_size: float | None = None,
    panel_size: float = PANEL_SIZE,
    dpi: float | None = None,
    axis_labels: tuple[str, str] = ("dimension 1", "dimension 2"),
) -> Any:
    """Side-by-side scatter plots of 2-D embeddings, coloured by class label.

    Parameters
    ----------
    embeddings : mapping of str to (Z, labels)
        Method name to its embedding ``Z`` of shape (n, 2) and ``labels`` of shape (n,)
        or None; insertion order is panel order.
    path : str or PathLike, optional
        Where to save the figure (``.png``, ``.pdf`` or ``.svg``), written atomically.
    title : str, optional
        Figure title.
    ncols : int, optional
        Panels per row (default: all in one row up to 4, then rows of 4).
    muted_label : scalar, optional
        A class drawn in light grey underneath the rest, e.g. ``10`` for the enclosing
        sphere of Spheres.
    class_names : mapping, optional
        Legend text per label (default: the label itself).
    point_size : float, optional
        Marker area in points² (default: smaller for more points).
    panel_size : float
        Side of one panel in inches.
    dpi : float, optional
        Resolution of raster output (default :data:`topoae.plotting.style.DPI`).
    axis_labels : (str, str)
        Labels of the horizontal and vertical axes.

    Returns
    -------
    matplotlib.figure.Figure
        Size ``(ncols * panel_size, nrows * panel_size + legend)`` inches.

    Examples
    --------
    >>> import numpy as np
    >>> from topoae.plotting import plot_embeddings
    >>> Z = np.random.RandomState(0).normal(size=(100, 2))
    >>> fig = plot_embeddings({"PCA": (Z, np.arange(100) % 11)}, muted_label=10)
    >>> len(fig.axes)
    1
    """
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise InputError("embeddings must be a non-empty dict of name -> (Z, labels).")
    checked = {}
    for name, entry in embeddings.items():
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise InputError(
                f"embeddings[{name!r}] must be a pair (Z, labels); labels may be None."
            )
        checked[name] = check_embedding(name, *entry)
    n_panels = len(checked)
    if ncols is None:
        ncols = n_panels if n_panels <= 4 else 4
    if ncols < 1:
        raise InputError(f"ncols must be >= 1, got {ncols}.")
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)

    all_labels = [lab for _, lab in checked.values() if lab is not None]
    colors = None
    norm = None
    if all_labels:
        pooled = np.concatenate(all_labels)
        colors = class_color_map(pooled, muted_label)
        if colors is None:
            from matplotlib.colors import Normalize

            norm = Normalize(float(np.min(pooled)), float(np.max(pooled)))
    # A row of legend entries needs about 0.45 inch each; below the panels when they all fit
    # in one row, else in a column on the right.
    legend_below = colors is not None and 0.45 * len(colors) <= ncols * panel_size
    legend_right = colors is not None and not legend_below
    width = ncols * panel_size + (0.6 if norm is not None or legend_right else 0.0)
    height = nrows * panel_size + (0.45 if legend_below else 0.0) + (0.3 if title else 0.0)

    with style_context():
        fig = new_figure(width, height)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        mapped = None  # a scatter coloured through the colour map, for the colour bar
        for index, (name, (Z, labels)) in enumerate(checked.items()):
            ax = axes[index // ncols][index % ncols]
            size = point_size if point_size is not None else _default_point_size(len(Z))
            _, main = draw_embedding(
                ax, Z, labels, colors, muted_label=muted_label, point_size=size, norm=norm
            )
            if labels is not None:
                mapped = main
            ax.set_title(str(name))
            if index % ncols == 0:
                ax.set_ylabel(axis_labels[1])
            if index // ncols == nrows - 1 or index + ncols >= n_panels:
                ax.set_xlabel(axis_labels[0])
        for index in range(n_panels, nrows * ncols):
            axes[index // ncols][index % ncols].set_visible(False)
        if colors is not None:
            add_class_legend(fig, colors, class_names, below=legend_below)
        elif norm is not None and mapped is not None:
            fig.colorbar(mapped, ax=axes.ravel().tolist(), shrink=0.8, label="label")
        if title:
            fig.suptitle(title)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _default_point_size(n: int) -> float:
    """Marker area in points² that keeps dense clouds readable: 1 for 10^4 points, 8 for 100."""
    return float(np.clip(8.0 * (100.0 / max(n, 1)) ** 0.45, 0.8, 12.0))


def add_class_legend(
    fig: Any, colors: dict[Any, str], class_names: Mapping[Any, str] | None, *, below: bool
) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=5,
            markerfacecolor=color,
            markeredgewidth=0,
            label=str(class_names.get(label, label) if class_names else label),
        )
        for label, color in colors.items()
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center" if below else "outside right upper",
        ncols=len(handles) if below else 1,
        frameon=False,
        title="class",
        title_fontsize=7,
        handletextpad=0.1,
        columnspacing=0.8,
    )
