"""Distances between the persistence diagrams of data and embedding (H0, H1)."""

from __future__ import annotations

import numpy as np

from topoae.metrics._checks import _check_pair

# --------------------------------------------------------------------------- diagrams


def _diagonal_cost_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Costs of the standard diagonal construction, L∞ ground metric.

    Rows: points of ``a`` then one diagonal slot per point of ``b``; columns: points of
    ``b`` then one diagonal slot per point of ``a``. A point may go to any diagonal slot
    of the other side at its distance to the diagonal, (death - birth) / 2; slot to slot
    costs 0. A perfect matching of this square matrix is a partial matching of the two
    diagrams with the rest sent to the diagonal.
    """
    m, k = len(a), len(b)
    cost = np.zeros((m + k, k + m))
    if m and k:
        cost[:m, :k] = np.maximum(
            np.abs(a[:, None, 0] - b[None, :, 0]), np.abs(a[:, None, 1] - b[None, :, 1])
        )
    cost[:m, k:] = ((a[:, 1] - a[:, 0]) / 2.0)[:, None]
    cost[m:, :k] = ((b[:, 1] - b[:, 0]) / 2.0)[None, :]
    return cost


def wasserstein_distance(a: np.ndarray, b: np.ndarray, *, order: float = 1.0) -> float:
    """q-Wasserstein distance between two persistence diagrams (finite points).

    Exact optimal partial matching (Hungarian algorithm on the diagonal construction,
    ``scipy.optimize.linear_sum_assignment``), L∞ ground metric, as gudhi's default.

    Parameters
    ----------
    a, b : ndarray of shape (m, 2) and (k, 2)
        ``(birth, death)`` pairs.
    order : float
        q >= 1.
    """
    from scipy.optimize import linear_sum_assignment

    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("Diagrams must have finite points only; drop infinite classes first.")
    if len(a) + len(b) == 0:
        return 0.0
    cost = _diagonal_cost_matrix(a, b) ** order
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum() ** (1.0 / order))


def diagram_distances(
    X,
    Z,
    *,
    max_dimension: int = 1,
    n_subsample: int | None = 1000,
    random_state: int | None = 0,
    normalize: bool = True,
) -> dict[str, float]:
    """Wasserstein and bottleneck distances between the Vietoris–Rips diagrams of X and Z.

    Parameters
    ----------
    X, Z : array-like
        As in :func:`trustworthiness`.
    max_dimension : int
        Compare H0 … H``max_dimension`` (H1 and above need the ``tda`` extra).
    n_subsample : int or None
        Compare diagrams of this many points drawn without replacement (the same points
        in X and Z); ``None`` uses all points. Vietoris–Rips H1 grows fast with n.
    random_state : int or None
        Seed of the subsample.
    normalize : bool
        Divide each space's distances by their largest value first (as the KL measure
        does), so an embedding's arbitrary scale does not count; ``False`` compares raw
        diagrams.

    Returns
    -------
    dict
        ``wasserstein_h<d>`` (order 1, L∞ ground metric, exact) and ``bottleneck_h<d>``
        for d = 0 … max_dimension. 0 best. The infinite H0 class is left out.
    """
    from scipy.spatial.distance import cdist

    from topoae.core.topology import persistence_diagrams

    X, Z = _check_pair(X, Z)
    if max_dimension < 0:
        raise ValueError(f"max_dimension must be >= 0, got {max_dimension}.")
    n = X.shape[0]
    if n_subsample is not None and n_subsample < n:
        if n_subsample < 2:
            raise ValueError(f"n_subsample must be >= 2, got {n_subsample}.")
        idx = np.sort(np.random.default_rng(random_state).choice(n, n_subsample, replace=False))
        X, Z = X[idx], Z[idx]
    diagrams = []
    for A in (X, Z):
        dist = cdist(A, A)
        if normalize:
            top = dist.max()
            if top == 0:
                raise ValueError("All points coincide; cannot normalise distances.")
            dist /= top
        diagrams.append(persistence_diagrams(dist, max_dimension, metric="precomputed"))
    try:
        import gudhi
    except ImportError as error:
        raise ImportError("Bottleneck distances need gudhi: pip install 'topoae[tda]'.") from error
    result = {}
    for dim in range(max_dimension + 1):
        a, b = diagrams[0][dim], diagrams[1][dim]
        result[f"wasserstein_h{dim}"] = wasserstein_distance(a, b)
        result[f"bottleneck_h{dim}"] = float(gudhi.bottleneck_distance(a, b))
    return result
