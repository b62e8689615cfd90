"""Persistence diagrams of point clouds and the distances between them (H0, H1, H2).

The one place topoae computes Vietoris–Rips diagrams: :func:`persistence_diagrams` (H0
exactly from the minimum spanning tree, higher dimensions from ripser or gudhi, the ``tda``
extra), the seeded subsample shared by data and embedding, and the bottleneck and exact
1-Wasserstein distances. :func:`diagram_distances` is the measure of
:func:`topoae.metrics.evaluate`; :func:`compare_persistence` keeps the diagrams too, for the
pictures of :mod:`topoae.plotting.diagrams`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from topoae.errors import InputError, MissingDependencyError
from topoae.metrics._checks import _check_pair

__all__ = [
    "PersistenceComparison",
    "compare_persistence",
    "compare_persistence_each",
    "diagram_distances",
    "distances_between",
    "persistence_diagrams",
    "subsample_indices",
    "wasserstein_distance",
]

#: Above H2 the Vietoris–Rips complex of a few hundred points no longer fits in memory.
MAX_DIMENSION = 2

# --------------------------------------------------------------------------- diagrams


def _h0_deaths(dist: np.ndarray) -> np.ndarray:
    """Sorted deaths of the finite H0 classes: the edge lengths of a minimum spanning tree.

    Prim's algorithm, one vectorised row per step (O(n²), exact: every death is an entry
    of ``dist``). Not scipy's ``minimum_spanning_tree``: it drops zero-length edges, which
    coincident points have. The loss's pairing (:mod:`topoae.core.topology`) is a compiled
    Prim that also returns the edges; this leaf needs the lengths only.
    """
    n = len(dist)
    deaths = np.empty(max(n - 1, 0))
    if n < 2:
        return deaths
    joined = np.zeros(n, dtype=bool)
    joined[0] = True
    nearest = dist[0].copy()  # distance of each point to the tree so far
    for step in range(n - 1):
        nearest[joined] = np.inf
        point = int(np.argmin(nearest))
        deaths[step] = nearest[point]
        joined[point] = True
        np.minimum(nearest, dist[point], out=nearest)
    return np.sort(deaths)


def _check_distance_matrix(dist: np.ndarray) -> None:
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise InputError(f"A precomputed distance matrix must be square, got shape {dist.shape}.")
    if not np.isfinite(dist).all():
        raise InputError("The distance matrix holds NaN or inf entries.")
    if (dist < 0).any():
        raise InputError("The distance matrix holds negative entries.")
    if not np.allclose(dist, dist.T, rtol=1e-9, atol=0.0):
        raise InputError("The distance matrix is not symmetric.")


def persistence_diagrams(
    points: Any, max_dimension: int = 1, *, metric: str = "euclidean"
) -> list[np.ndarray]:
    """Vietoris–Rips persistence diagrams of a point cloud up to ``max_dimension``.

    Dimension 0 is exact without an engine (the deaths are the edge lengths of a minimum
    spanning tree); higher dimensions come from ripser (the ``tda`` extra), else gudhi.

    Parameters
    ----------
    points : array-like of shape (n, d)
        Points, or a distance matrix of shape (n, n) with ``metric="precomputed"``.
    max_dimension : int
        Highest homology dimension.
    metric : {"euclidean", "precomputed"}

    Returns
    -------
    list of ndarray of shape (k, 2)
        ``(birth, death)`` per dimension 0 … max_dimension; the infinite H0 class is left
        out (H0 has n - 1 finite classes).
    """
    from scipy.spatial.distance import cdist

    points = np.asarray(points, dtype=np.float64)
    if metric == "precomputed":
        _check_distance_matrix(points)
        dist = points
    elif metric == "euclidean":
        if points.ndim != 2:
            raise InputError(f"Expected points of shape (n, d), got shape {points.shape}.")
        dist = cdist(points, points)
    else:
        raise InputError(f"metric must be 'euclidean' or 'precomputed', got {metric!r}.")
    deaths = _h0_deaths(dist)
    diagrams = [np.column_stack([np.zeros_like(deaths), deaths])]
    if max_dimension < 1:
        return diagrams
    try:
        from ripser import ripser
    except ImportError:
        ripser = None
    if ripser is not None:
        result = ripser(dist, maxdim=max_dimension, distance_matrix=True)["dgms"]
        return diagrams + [np.asarray(d, dtype=np.float64) for d in result[1:]]
    try:
        import gudhi
    except ImportError as error:
        raise MissingDependencyError(
            "Diagrams above dimension 0 need ripser or gudhi: pip install 'topoae[tda]'."
        ) from error
    complex_ = gudhi.RipsComplex(distance_matrix=dist).create_simplex_tree(
        max_dimension=max_dimension + 1
    )
    complex_.compute_persistence()
    for dim in range(1, max_dimension + 1):
        pairs = complex_.persistence_intervals_in_dimension(dim)
        diagrams.append(np.asarray(pairs, dtype=np.float64).reshape(-1, 2))
    return diagrams


def subsample_indices(n: int, n_subsample: int | None, random_state: int | None) -> np.ndarray:
    """Sorted indices of the seeded subsample (all ``n`` when n_subsample is None or >= n).

    The same seed and size give the same points, in data and embedding alike.
    """
    if n_subsample is None or n_subsample >= n:
        return np.arange(n)
    if n_subsample < 3:
        raise InputError(f"n_subsample must be >= 3, got {n_subsample}.")
    return np.sort(np.random.default_rng(random_state).choice(n, n_subsample, replace=False))


def _space_diagrams(A: np.ndarray, max_dimension: int, normalize: bool) -> list[np.ndarray]:
    """Diagrams of one space, its distances divided by their largest value if ``normalize``."""
    from scipy.spatial.distance import cdist

    dist = cdist(A, A)
    if normalize:
        top = dist.max()
        if top == 0:
            raise InputError("All points coincide; cannot normalise distances.")
        dist /= top
    return persistence_diagrams(dist, max_dimension, metric="precomputed")


# --------------------------------------------------------------------------- distances


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
        raise InputError("Diagrams must have finite points only; drop infinite classes first.")
    if len(a) + len(b) == 0:
        return 0.0
    cost = _diagonal_cost_matrix(a, b) ** order
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum() ** (1.0 / order))


def distances_between(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, float]:
    """``wasserstein_h<d>`` (order 1, L∞, exact) and ``bottleneck_h<d>`` between two diagram lists.

    Parameters
    ----------
    a, b : list of ndarray of shape (k, 2)
        Finite ``(birth, death)`` pairs per dimension 0 … D, as :func:`persistence_diagrams`.
    """
    if len(a) != len(b):
        raise InputError(f"Diagram lists of different lengths: {len(a)} and {len(b)}.")
    try:
        import gudhi
    except ImportError as error:
        raise MissingDependencyError(
            "Bottleneck distances need gudhi: pip install 'topoae[tda]'."
        ) from error
    # The exact Hungarian matching above, not gudhi.hera: hera's auction can fail to
    # terminate on (near-)identical diagrams.
    result = {}
    for dim, (x, z) in enumerate(zip(a, b, strict=True)):
        result[f"wasserstein_h{dim}"] = wasserstein_distance(x, z)
        result[f"bottleneck_h{dim}"] = float(gudhi.bottleneck_distance(x, z))
    return result


# --------------------------------------------------------------------------- data vs embedding


@dataclass
class PersistenceComparison:
    """Diagrams of a data set and its embedding on the same points, and their distances.

    Attributes
    ----------
    diagrams_x, diagrams_z : list of ndarray of shape (k, 2)
        ``(birth, death)`` per dimension 0 … max_dimension (infinite H0 class left out).
    distances : dict of str to float
        ``wasserstein_h<d>`` (order 1, L∞ ground metric) and ``bottleneck_h<d>``.
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


def _checked(X: Any, Z: Any, max_dimension: int) -> tuple[np.ndarray, np.ndarray]:
    X, Z = _check_pair(X, Z)
    if not 0 <= max_dimension <= MAX_DIMENSION:
        raise InputError(f"max_dimension must be 0, 1 or 2, got {max_dimension}.")
    if len(X) < 3:
        raise InputError(f"Need at least 3 points for persistence diagrams, got {len(X)}.")
    return X, Z


def compare_persistence_each(
    X: Any,
    embeddings: dict[str, Any],
    *,
    max_dimension: int = 1,
    n_subsample: int | None = 500,
    random_state: int | None = 0,
    normalize: bool = True,
) -> dict[str, PersistenceComparison]:
    """:func:`compare_persistence` of ``X`` with each embedding; X's diagrams computed once.

    Every comparison uses the same seeded subsample of points and shares ``diagrams_x``.

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
    embeddings : dict of str to array-like of shape (n, q)
        Name to an embedding of the same points.
    max_dimension, n_subsample, random_state, normalize
        As in :func:`compare_persistence`.

    Returns
    -------
    dict of str to PersistenceComparison
    """
    if not embeddings:
        raise InputError("embeddings must name at least one embedding.")
    checked = {name: _checked(X, Z, max_dimension) for name, Z in embeddings.items()}
    X = next(iter(checked.values()))[0]
    idx = subsample_indices(len(X), n_subsample, random_state)
    diagrams_x = _space_diagrams(X[idx], max_dimension, normalize)
    result = {}
    for name, (_, Z) in checked.items():
        diagrams_z = _space_diagrams(Z[idx], max_dimension, normalize)
        distances = distances_between(diagrams_x, diagrams_z)
        result[name] = PersistenceComparison(diagrams_x, diagrams_z, distances, len(idx), normalize)
    return result


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

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Data (flattened).
    Z : array-like of shape (n, q)
        Its embedding.
    max_dimension : int
        Highest homology dimension (0, 1 or 2; 1 and above need the ``tda`` extra).
    n_subsample : int or None
        Points to use, drawn without replacement (the same in X and Z; sorted indices from
        ``numpy.random.default_rng(random_state)``); None: all. Vietoris–Rips H1 grows
        fast with n.
    random_state : int or None
        Seed of the subsample.
    normalize : bool
        Divide each space's distances by their largest value first (as the KL measure
        does), so an embedding's arbitrary scale does not count; ``False`` compares raw
        diagrams.

    Returns
    -------
    PersistenceComparison
    """
    return compare_persistence_each(
        X,
        {"Z": Z},
        max_dimension=max_dimension,
        n_subsample=n_subsample,
        random_state=random_state,
        normalize=normalize,
    )["Z"]


def diagram_distances(
    X: Any,
    Z: Any,
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
        Compare H0 … H``max_dimension`` (0, 1 or 2; H1 and above need the ``tda`` extra).
    n_subsample : int or None
        Compare diagrams of this many points drawn without replacement (the same points
        in X and Z); ``None`` uses all points. Vietoris–Rips H1 grows fast with n.
    random_state : int or None
        Seed of the subsample.
    normalize : bool
        As in :func:`compare_persistence`.

    Returns
    -------
    dict
        ``wasserstein_h<d>`` (order 1, L∞ ground metric, exact) and ``bottleneck_h<d>``
        for d = 0 … max_dimension. 0 best. The infinite H0 class is left out.
    """
    return compare_persistence(
        X,
        Z,
        max_dimension=max_dimension,
        n_subsample=n_subsample,
        random_state=random_state,
        normalize=normalize,
    ).distances
