"""Input checks shared by the quality measures."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from topoae.errors import InputError

#: The paper's neighbourhood sizes: k = 10, 20, …, 200.
DEFAULT_KS: tuple[int, ...] = tuple(range(10, 201, 10))
#: The paper's density bandwidths.
DEFAULT_SIGMAS: tuple[float, ...] = (0.01, 0.1, 1.0)


# --------------------------------------------------------------------------- validation


def _as_2d_float(a: Any, name: str) -> np.ndarray:
    """Return ``a`` as a C-contiguous float64 array of shape (n, features)."""
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        raise InputError(f"{name} must be numeric, got dtype {a.dtype}.")
    if a.ndim < 2:
        raise InputError(
            f"{name} must have shape (n, features), got shape {a.shape}; "
            "for one feature per point use a.reshape(-1, 1)."
        )
    a = np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float64)
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {a.shape}).")
    if not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a).all(axis=1)))
        raise InputError(f"{name} contains NaN or inf in {bad} row(s); remove or fix them.")
    # Distances sum squared differences in float64 (float32 inputs are promoted, so their
    # squares never overflow); beyond this bound a sum of d squares could reach inf.
    top = max(float(a.max()), -float(a.min()))  # no temporary copy of a
    limit = math.sqrt(np.finfo(np.float64).max / (16.0 * a.shape[1]))
    if top > limit:
        raise InputError(
            f"{name} has values up to {top:.3g}, whose squared distances overflow float64 "
            f"(limit about {limit:.3g} for {a.shape[1]} columns); divide {name} by a constant "
            "first (every measure but rmse is scale-free)."
        )
    return a


def _check_pair(X: Any, Z: Any) -> tuple[np.ndarray, np.ndarray]:
    X = _as_2d_float(X, "X")
    Z = _as_2d_float(Z, "Z")
    if Z.shape[0] > X.shape[0]:
        raise InputError(
            f"Z has more points ({Z.shape[0]}) than X ({X.shape[0]}): row i of Z must be the "
            "embedding of row i of X; embed the same points you pass as X."
        )
    if X.shape[0] != Z.shape[0]:
        raise InputError(
            f"X and Z must hold the same points: X has {X.shape[0]} rows, Z has {Z.shape[0]}. "
            "Row i of Z must be the embedding of row i of X."
        )
    if X.shape[0] < 2:
        raise InputError(f"Need at least 2 points, got {X.shape[0]}.")
    return X, Z


def usable_ks(n: int, ks: Iterable[int] = DEFAULT_KS) -> tuple[int, ...]:
    """The neighbourhood sizes of ``ks`` that ``n`` points allow (``k <= (2n - 2) // 3``).

    The paper's k = 10…200 needs at least 301 points; a smaller test set keeps the sizes
    that fit (at least the largest allowed one), so its means run over fewer k.

    Examples
    --------
    >>> usable_ks(120)
    (10, 20, 30, 40, 50, 60, 70)
    """
    limit = (2 * n - 2) // 3
    if limit < 1:
        raise InputError(f"Need at least 3 points for neighbourhood measures, got {n}.")
    kept = tuple(int(k) for k in ks if k <= limit)
    return kept or (limit,)


def _check_labels(labels: Any, n: int) -> np.ndarray:
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != n:
        raise InputError(f"labels must have one entry per point: got {labels.shape[0]} for {n}.")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise InputError("labels contain NaN or inf; give one finite class label per point.")
    return labels


def _check_ks(ks: int | Iterable[int], n: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(ks if isinstance(ks, int | np.integer) else list(ks)))
    if arr.size == 0:
        raise InputError("ks is empty; give at least one neighbourhood size.")
    if arr.dtype.kind not in "iu" and not np.all(arr == np.round(arr)):
        raise InputError(f"Neighbourhood sizes k must be integers, got {arr.tolist()}.")
    arr = arr.astype(np.int64)
    if arr.min() < 1:
        raise InputError(f"Neighbourhood sizes k must be >= 1, got {arr.min()}.")
    # Trustworthiness's normaliser 2n - 3k - 1 must stay positive (and k < n).
    k_limit = (2 * n - 2) // 3
    if arr.max() > k_limit:
        raise InputError(
            f"Neighbourhood size k = {arr.max()} is too large for n = {n} points: "
            f"need k <= {k_limit} (so that 2n - 3k - 1 > 0). Use smaller ks or more points."
        )
    return arr


def _check_sigmas(sigmas: float | Iterable[float]) -> np.ndarray:
    if isinstance(sigmas, int | float | np.number):
        arr = np.atleast_1d(np.asarray(sigmas))
    else:
        arr = np.asarray(list(sigmas))
    arr = arr.astype(np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or arr.min() <= 0:
        raise InputError(f"sigmas must be positive finite numbers, got {arr.tolist()}.")
    return arr


# --------------------------------------------------------------------------- distances
