"""Persistent homology of Vietoris–Rips filtrations.

Dimension 0 is all the topological loss needs, and it needs no homology engine:
the 0-dimensional persistence pairs of the Vietoris–Rips filtration of a
distance matrix are exactly the edges of its minimum spanning tree (each edge
kills one connected component, at the edge's length). They are computed here by
a compiled O(n²) Prim. Higher dimensions (cycles, voids) are delegated to ripser
or gudhi, optional dependencies used for diagrams and diagram distances only.

Ties are broken by the total order of METHOD.md §2: edges compare by
``(A[i, j], i, j)`` with ``i < j``. Under it the spanning tree is unique and equals
what a stable-sorted Kruskal over the row-major upper triangle returns (the
reference implementation), duplicate points and integer-valued data included.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "check_distance_matrix",
    "h0_deaths",
    "persistence_diagrams",
    "persistence_pairs",
]


@njit(cache=True, inline="always")
def _edge_less(w1, i1, j1, w2, i2, j2):
    """Strict total order on edges: by weight, then by the sorted endpoint pair."""
    if w1 != w2:
        return w1 < w2
    a1, b1 = (i1, j1) if i1 < j1 else (j1, i1)
    a2, b2 = (i2, j2) if i2 < j2 else (j2, i2)
    if a1 != a2:
        return a1 < a2
    return b1 < b2


@njit(cache=True)
def _prim(dist):
    """Minimum spanning tree of a dense matrix, reading the upper triangle only.

    Returns the n-1 edges as (i, j) with i < j, in filtration order.
    """
    n = dist.shape[0]
    in_tree = np.zeros(n, dtype=np.bool_)
    # For each vertex outside the tree: its cheapest known edge into the tree.
    best_weight = np.full(n, np.inf)
    best_partner = np.full(n, -1, dtype=np.int64)
    edges = np.empty((max(n - 1, 0), 2), dtype=np.int64)
    weights = np.empty(max(n - 1, 0), dtype=np.float64)
    current = 0
    in_tree[0] = True
    for step in range(n - 1):
        chosen = -1
        for v in range(n):
            if in_tree[v]:
                continue
            w = dist[current, v] if current < v else dist[v, current]
            if _edge_less(w, current, v, best_weight[v], best_partner[v], v):
                best_weight[v] = w
                best_partner[v] = current
            if chosen < 0 or _edge_less(
                best_weight[v],
                best_partner[v],
                v,
                best_weight[chosen],
                best_partner[chosen],
                chosen,
            ):
                chosen = v
        partner = best_partner[chosen]
        edges[step, 0] = min(partner, chosen)
        edges[step, 1] = max(partner, chosen)
        weights[step] = best_weight[chosen]
        in_tree[chosen] = True
        current = chosen
    # Filtration order = order of (weight, i, j): stable sort by weight of the
    # (i, j)-sorted list.
    keys = edges[:, 0] * n + edges[:, 1]
    by_index = np.argsort(keys, kind="mergesort")
    order = by_index[np.argsort(weights[by_index], kind="mergesort")]
    return edges[order]


@njit(cache=True)
def _prim_batch(dist):
    out = np.empty((dist.shape[0], max(dist.shape[1] - 1, 0), 2), dtype=np.int64)
    for b in range(dist.shape[0]):
        out[b] = _prim(dist[b])
    return out


@njit(cache=True)
def _prim_two(dist_x, dist_z):
    """Both pairings of the topological loss in one compiled call."""
    return _prim(dist_x), _prim(dist_z)


def _to_numpy(distances) -> tuple[np.ndarray, object]:
    """Return a NumPy view of ``distances`` and the torch device it came from (or None)."""
    if isinstance(distances, np.ndarray):
        return distances, None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        torch = None
    if torch is not None and isinstance(distances, torch.Tensor):
        return distances.detach().to("cpu").numpy(), distances.device
    return np.asarray(distances), None


def check_distance_matrix(dist: np.ndarray, *, rtol: float = 1e-5) -> None:
    """Raise ``ValueError`` unless ``dist`` is a valid (batch of) distance matrix.

    Valid: float or integer, shape ``(n, n)`` or ``(b, n, n)`` with ``n >= 1``,
    finite, non-negative, symmetric up to ``rtol`` times its largest entry.
    """
    if dist.dtype.kind not in "fiu":
        raise ValueError(f"Distance matrix must be numeric, got dtype {dist.dtype}.")
    if dist.ndim not in (2, 3) or dist.shape[-1] != dist.shape[-2]:
        raise ValueError(
            "Expected a square distance matrix of shape (n, n) or a batch (b, n, n), "
            f"got shape {dist.shape}. To pair points, pass their pairwise distances "
            "(e.g. scipy.spatial.distance.cdist(X, X))."
        )
    if dist.shape[-1] < 1:
        raise ValueError("Distance matrix has no points (n = 0); need at least one point.")
    if dist.dtype.kind == "f" and not np.isfinite(dist).all():
        raise ValueError("Distance matrix contains NaN or inf; check the data for invalid values.")
    if (dist < 0).any():
        raise ValueError(f"Distance matrix has negative entries (min {dist.min()}).")
    scale = float(np.abs(dist).max()) if dist.size else 0.0
    asym = float(np.abs(dist - np.swapaxes(dist, -1, -2)).max()) if dist.size else 0.0
    if asym > rtol * max(scale, 1e-30):
        raise ValueError(
            f"Distance matrix is not symmetric (largest |A - A.T| = {asym:.3g}, "
            f"largest entry {scale:.3g}). Pass a symmetric matrix, e.g. (A + A.T) / 2."
        )


def persistence_pairs(distances, *, check: bool = True):
    """0-dimensional persistence pairs (minimum-spanning-tree edges) of a distance matrix.

    Parameters
    ----------
    distances : ndarray or torch.Tensor of shape (n, n) or (b, n, n)
        Symmetric, non-negative, finite distances (float32, float64 or integer).
        Tensors may live on any device; only the upper triangle is read.
    check : bool
        Validate the input (O(n²)); switch off only for matrices known to be valid.

    Returns
    -------
    pairs : ndarray or torch.Tensor of shape (n - 1, 2) or (b, n - 1, 2), int64
        Edge ``(i, j)`` with ``i < j`` per row, in filtration order: sorted by
        ``(distances[i, j], i, j)``. The death time of pair ``k`` is
        ``distances[pairs[k, 0], pairs[k, 1]]``. A tensor input returns a tensor on
        the same device.

    Raises
    ------
    ValueError
        If the input is not a square symmetric matrix (or batch of them), has no
        point, or contains NaN, inf or negative entries.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[0, 1, 4], [1, 0, 2], [4, 2, 0]], dtype=float)
    >>> persistence_pairs(A)
    array([[0, 1],
           [1, 2]])
    """
    array, device = _to_numpy(distances)
    if check:
        check_distance_matrix(array)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    array = np.ascontiguousarray(array)
    pairs = _prim(array) if array.ndim == 2 else _prim_batch(array)
    if device is None:
        return pairs
    import torch

    return torch.from_numpy(pairs).to(device)


def h0_deaths(distances) -> np.ndarray:
    """Finite death times of the 0-dimensional diagram (all births are 0), ascending.

    Parameters
    ----------
    distances : array-like of shape (n, n)

    Returns
    -------
    ndarray of shape (n - 1,)
    """
    array, _ = _to_numpy(distances)
    pairs = persistence_pairs(array)
    return np.asarray(array, dtype=np.float64)[pairs[:, 0], pairs[:, 1]]


def persistence_diagrams(
    points: np.ndarray, max_dimension: int = 1, *, metric: str = "euclidean"
) -> list[np.ndarray]:
    """Vietoris–Rips persistence diagrams of a point cloud up to ``max_dimension``.

    Dimension 0 comes from :func:`persistence_pairs` (exact, no engine needed);
    higher dimensions from ripser (the ``tda`` extra), else gudhi.

    Parameters
    ----------
    points : ndarray of shape (n, d)
        Points, or a distance matrix of shape (n, n) with ``metric="precomputed"``.
    max_dimension : int
        Highest homology dimension.
    metric : {"euclidean", "precomputed"}

    Returns
    -------
    list of ndarray of shape (k, 2)
        ``(birth, death)`` per dimension; the infinite H0 class is left out.
    """
    from scipy.spatial.distance import cdist

    points = np.asarray(points, dtype=np.float64)
    if metric == "precomputed":
        dist = points
    elif metric == "euclidean":
        if points.ndim != 2:
            raise ValueError(f"Expected points of shape (n, d), got shape {points.shape}.")
        dist = cdist(points, points)
    else:
        raise ValueError(f"metric must be 'euclidean' or 'precomputed', got {metric!r}.")
    deaths = h0_deaths(dist)
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
        raise ImportError(
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
