"""Numeric guards: inputs checked for what they will become, so no inf or NaN passes silently.

Finite input can still overflow on the way: data scaled by 1e300 has a finite mean but an
infinite standard deviation (its squares overflow), an embedding near 1e308 has finite
coordinates but infinite squared distances, and values above 3.4e38 become inf when cast to
float32 for torch. Each guard raises :class:`~topoae.errors.InputError` with the numbers
and what to change; the estimator and the measures call them where the value is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from topoae.errors import InputError

__all__ = [
    "check_castable",
    "check_finite",
    "check_finite_results",
    "check_finite_scale",
    "check_squared_distances",
]


def check_finite(values, name: str) -> None:
    """Refuse NaN and inf in ``values`` (any shape), counting each."""
    values = np.asarray(values)
    if values.dtype.kind not in "fc" or np.isfinite(values).all():
        return
    n_nan = int(np.isnan(values).sum())
    n_inf = int(np.isinf(values).sum())
    raise InputError(
        f"{name} holds {n_nan} NaN and {n_inf} infinite values (of {values.size}); remove or "
        "impute them first."
    )


def check_finite_scale(scale, name: str = "the data") -> None:
    """Refuse a standardisation scale (per-feature std) that is infinite or NaN.

    Parameters
    ----------
    scale : array-like of shape (d,)
        What standardisation divides by.
    name : str
        What was standardised, for the message.
    """
    scale = np.asarray(scale, dtype=np.float64)
    bad = ~np.isfinite(scale)
    if bad.any():
        feature = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"The standard deviation of {name} overflows float64 in {int(bad.sum())} of "
            f"{scale.size} features (first: feature {feature}, std = {scale.flat[feature]}); "
            "its values are too large to standardise. Divide the data by a constant (e.g. "
            "its largest absolute value) first."
        )


def check_castable(values, dtype, name: str) -> None:
    """Refuse finite ``values`` that overflow to inf when cast to ``dtype`` (e.g. float32)."""
    values = np.asarray(values)
    limit = float(np.finfo(dtype).max)
    if values.size == 0 or values.dtype.kind not in "fiu":
        return
    largest = float(np.max(np.abs(values[np.isfinite(values)]), initial=0.0))
    if largest > limit:
        raise InputError(
            f"{name} holds values up to {largest:.3g}, beyond {np.dtype(dtype).name}'s largest "
            f"{limit:.3g}; they would become infinite. Rescale the data first."
        )


def squared_distance_bound(points, *, from_origin: bool = False) -> float:
    """An upper bound on the squared Euclidean distance of two rows of ``points`` (n, d).

    It is the sum over coordinates of their squared spans (at most ``d`` times the true
    maximum), computed so that it overflows only to ``inf``, never to a warning or NaN.
    With ``from_origin``, it also covers every squared norm (the Gram trick computes
    ``|x|² + |y|² - 2 x·y``).
    """
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    if points.size == 0:
        return 0.0
    high, low = points.max(axis=0), points.min(axis=0)
    with np.errstate(over="ignore"):
        reach = 2 * (high / 2 - low / 2)  # the span, in halves: never inf - inf
        if from_origin:
            reach = np.maximum(reach, np.maximum(np.abs(high), np.abs(low)))
        top = float(np.max(reach))
        if top == 0.0:
            return 0.0
        if not np.isfinite(top):
            return float("inf")
        return float(top * top * np.sum((reach / top) ** 2))


def check_squared_distances(
    points, name: str, *, dtype=np.float64, from_origin: bool = False
) -> None:
    """Refuse ``points`` (n, d) whose squared pairwise distances overflow ``dtype``.

    Parameters
    ----------
    points : array-like of shape (n, d) or (n, ...)
        Finite values (check that first with :func:`check_finite`).
    name : str
        What the points are ("the embedding Z"), for the message.
    dtype : float dtype, default=float64
        Where the squared distances are computed.
    from_origin : bool, default=False
        Also refuse squared norms that overflow (for the Gram trick).
    """
    bound = squared_distance_bound(points, from_origin=from_origin)
    limit = float(np.finfo(dtype).max)
    if bound > limit:
        raise InputError(
            f"The squared distances of {name} overflow {np.dtype(dtype).name}: they reach "
            f"about {bound:.3g} (largest finite {limit:.3g}), as its values span "
            f"{_span_text(points)}. Divide it by a constant first."
        )


def _span_text(points) -> str:
    points = np.asarray(points, dtype=np.float64)
    return f"{points.min():.3g} to {points.max():.3g}"


def check_finite_results(results: Mapping[str, Any], what: str) -> None:
    """Refuse a mapping of numbers (or arrays of them) holding NaN or inf."""
    bad = [
        key
        for key, value in results.items()
        if isinstance(value, float | int | np.ndarray | np.generic)
        and not isinstance(value, bool)
        and not np.isfinite(np.asarray(value, dtype=np.float64)).all()
    ]
    if bad:
        raise InputError(
            f"{what} came out non-finite for {', '.join(bad)} ({results[bad[0]]}); the input "
            "is degenerate (duplicate or collapsed points, extreme values). Check it."
        )
