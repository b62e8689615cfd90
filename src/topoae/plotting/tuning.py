"""The picture of a hyperparameter search: objective per trial, and against each parameter."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from topoae.plotting.style import PANEL_SIZE, new_figure, save_figure, style_context

__all__ = ["plot_tuning"]

#: Parameters searched on a log scale, drawn on one.
LOG_SCALED = ("learning_rate", "lam")


def plot_tuning(
    numbers: Sequence[int],
    values: Sequence[float],
    params: dict[str, Sequence[float]],
    *,
    objective: str,
    maximise: bool = False,
    path: str | os.PathLike | None = None,
):
    """Draw a search: each trial's objective with the best so far, then a panel per parameter.

    Parameters
    ----------
    numbers : sequence of int, length t
        Trial numbers of the completed trials.
    values : sequence of float, length t
        Their objective values.
    params : dict of str to sequence of float
        Each searched parameter's value per trial (length t each).
    objective : str
        Axis label.
    maximise : bool
        Whether larger objective values are better (for the best-so-far line).
    path : path, optional
        Also save the figure there (format from the suffix).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator, NullFormatter

    names = sorted(params)
    fig = new_figure(PANEL_SIZE * 1.3 * (1 + len(names)), PANEL_SIZE * 1.2)
    with style_context():
        axes = fig.subplots(1, 1 + len(names), squeeze=False)[0]
        best, running = [], None
        for value in values:
            if running is None:
                running = value
            else:
                running = max(running, value) if maximise else min(running, value)
            best.append(running)
        axes[0].plot(numbers, values, "o", color="0.45", label="trial")
        axes[0].step(numbers, best, where="post", color="C3", label="best so far")
        axes[0].set_xlabel("trial")
        axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].set_ylabel(f"validation {objective}")
        axes[0].legend(frameon=False)
        for ax, name in zip(axes[1:], names, strict=True):
            ax.plot(params[name], values, "o", color="C0")
            if name in LOG_SCALED:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide
            ax.set_xlabel(name)
            ax.set_ylabel(f"validation {objective}")
    if path is not None:
        save_figure(fig, Path(path))
    return fig
