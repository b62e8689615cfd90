"""Loss curves: every component of the training history, train and validation."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from topoae.errors import InputError
from topoae.plotting.style import CLASS_COLORS, new_figure, save_figure, style_context

__all__ = ["COMPONENTS", "plot_history"]

#: History components in drawing order, with their panel titles.
COMPONENTS = (
    ("loss", "total loss"),
    ("reconstruction", "reconstruction (MSE)"),
    ("topological", "topological term"),
    ("x_to_z", "topological: X → Z"),
    ("z_to_x", "topological: Z → X"),
    ("shared_edges", "shared MST edges"),
    ("latent_norm", "latent norm"),
)


def plot_history(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    path: str | os.PathLike | None = None,
    *,
    components: Sequence[str] | None = None,
    ncols: int = 3,
    panel_size: tuple[float, float] = (2.4, 1.8),
    dpi: float | None = None,
    title: str | None = None,
) -> Any:
    """One panel per loss component; one colour per run, solid train and dashed validation.

    Parameters
    ----------
    histories : mapping of str to list of dict
        Run name to its per-epoch records (``epoch``, ``train_<component>``,
        ``val_<component>``), as in a run folder's ``history.json``.
    path : str or PathLike, optional
        Save the figure there (``.png``, ``.pdf``, ``.svg``), atomically.
    components : sequence of str, optional
        Which components to draw (default: those of :data:`COMPONENTS` that any run has).
    ncols : int
        Panels per row.
    panel_size : (float, float)
        Width and height of one panel in inches.
    dpi : float, optional
        Resolution of raster output.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not histories or not any(histories.values()):
        raise InputError("histories must map at least one run name to a non-empty history.")
    keys = {key for history in histories.values() for record in history for key in record}
    if components is None:
        components = [
            name for name, _ in COMPONENTS if f"train_{name}" in keys or f"val_{name}" in keys
        ]
    if not components:
        raise InputError(
            "No loss components found in the histories (expected keys like 'train_loss')."
        )
    titles = dict(COMPONENTS)
    ncols = max(1, min(ncols, len(components)))
    nrows = math.ceil(len(components) / ncols)
    from matplotlib.ticker import MaxNLocator

    with style_context():
        fig = new_figure(
            ncols * panel_size[0], nrows * panel_size[1] + 0.35 + (0.3 if title else 0.0)
        )
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, name in zip(axes, components, strict=False):
            for index, history in enumerate(histories.values()):
                color = CLASS_COLORS[index % len(CLASS_COLORS)]
                epochs = np.array([r.get("epoch", i + 1) for i, r in enumerate(history)])
                for split, style in (("train", "-"), ("val", "--")):
                    values = np.array([r.get(f"{split}_{name}", np.nan) for r in history], float)
                    if np.isfinite(values).any():
                        ax.plot(
                            epochs,
                            values,
                            style,
                            color=color,
                            linewidth=1.0,
                            marker=".",
                            markersize=3 if len(epochs) < 30 else 0,
                        )
            ax.set_title(titles.get(name, name))
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(name)
        for ax in axes[len(components) :]:
            ax.set_visible(False)
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], color=CLASS_COLORS[i % len(CLASS_COLORS)], label=run)
            for i, run in enumerate(histories)
        ]
        handles += [
            Line2D([], [], color="0.3", linestyle="-", label="train"),
            Line2D([], [], color="0.3", linestyle="--", label="validation"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        if title:
            fig.suptitle(title)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
