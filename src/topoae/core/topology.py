"""Persistent homology of Vietoris–Rips filtrations.

Dimension 0 is all the topological loss needs, and it needs no homology engine:
the 0-dimensional persistence pairs of the Vietoris–Rips filtration of a
distance matrix are exactly the edges of its minimum spanning tree (each edge
kills one connected component, at the edge's length). They are computed here by
a compiled O(n²) Prim. Persistence diagrams of every dimension (for pictures and
diagram distances) are computed in :mod:`topoae.metrics.diagrams`.

Ties are broken by the total order of docs/method.md §2: edges compare by
``(A[i, j], i, j)`` with ``i < j``. Under it the spanning tree is unique and equals
what a stable-sorted Kruskal over the row-major upper triangle returns (the
reference implementation), duplicate points and integer-valued data included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast, overload

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from topoae.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "check_distance_matrix",
    "h0_deaths",
    "persistence_pairs",
]


@njit(cache=True, inline="always")
def _edge_less(w1: float, i1: int, j1: int, w2: float, i2: int, j2: int) -> bool:
    """Strict total order on edges: by weight, then by the sorted endpoint pair."""
    if w1 != w2:
        return w1 < w2
    a1, b1 = (i1, j1) if i1 < j1 else (j1, i1)
    a2, b2 = (i2, j2) if i2 < j2 else (j2, i2)
    if a1 != a2:
        return a1 < a2
    return b1 < b2


@njit(cache=True)
def _prim_tree(dist: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """Minimum spanning tree of a dense matrix as a parent array (Prim, rooted at 0).

    Reads the upper triangle only, unless ``symmetric`` says that both triangles
    are equal: then it reads rows only, which for large n is several times faster
    than the strided column reads of the lower half.

    Returns ``parent`` of shape (n,) with ``parent[0] = -1`` and, for every other
    vertex ``v``, the tree edge ``(parent[v], v)``. O(n²) time, O(n) memory
    beyond the matrix.
    """
    n = dist.shape[0]
    parent = np.full(n, -1, dtype=np.int64)
    # For each vertex outside the tree: its cheapest known edge into the tree.
    best_weight = np.full(n, np.inf, dtype=dist.dtype)
    # The vertices still outside the tree, compacted so that each step scans only
    # those, and kept in increasing order so that a step reads its row from left
    # to right (a swap-remove would scramble the reads: 2-3x slower for n >= 1024).
    # The order does not change the result: the edge order is strict, so every
    # minimum is unique.
    outside = np.arange(1, n)
    n_outside = n - 1
    current = 0
    while n_outside > 0:
        # The best candidate so far, kept in locals; the full tie-break (by the
        # sorted endpoints) runs only on equal weights.
        chosen_pos, chosen_w, chosen_p, chosen_v = -1, np.inf, -1, -1
        for pos in range(n_outside):
            v = outside[pos]
            w = dist[current, v] if symmetric or current < v else dist[v, current]
            bw = best_weight[v]
            if w < bw or (w == bw and _edge_less(w, current, v, bw, parent[v], v)):
                best_weight[v] = bw = w
                parent[v] = current
            if bw < chosen_w or (
                bw == chosen_w and _edge_less(bw, parent[v], v, chosen_w, chosen_p, chosen_v)
            ):
                chosen_pos, chosen_w, chosen_p, chosen_v = pos, bw, parent[v], v
        current = chosen_v
        n_outside -= 1
        for pos in range(chosen_pos, n_outside):
            outside[pos] = outside[pos + 1]
    return parent


@njit(cache=True)
def _tree_edges(dist: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """The tree's edges as (i, j) with i < j, in filtration order ``(dist[i, j], i, j)``."""
    n = parent.shape[0]
    edges = np.empty((max(n - 1, 0), 2), dtype=np.int64)
    weights = np.empty(max(n - 1, 0), dtype=dist.dtype)
    for v in range(1, n):
        i, j = min(parent[v], v), max(parent[v], v)
        edges[v - 1, 0] = i
        edges[v - 1, 1] = j
        weights[v - 1] = dist[i, j]
    # Sort by (i, j), then stably by weight: the order (weight, i, j).
    keys = edges[:, 0] * n + edges[:, 1]
    by_index = np.argsort(keys, kind="mergesort")
    order = by_index[np.argsort(weights[by_index], kind="mergesort")]
    return edges[order]


@njit(cache=True)
def _prim(dist: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """Minimum spanning tree of a dense matrix, reading the upper triangle only.

    Returns the n-1 edges as (i, j) with i < j, in filtration order. See
    :func:`_prim_tree` for ``symmetric``.
    """
    return _tree_edges(dist, _prim_tree(dist, symmetric))


@njit(cache=True)
def _prim_batch(dist: np.ndarray, symmetric: bool = False) -> np.ndarray:
    out = np.empty((dist.shape[0], max(dist.shape[1] - 1, 0), 2), dtype=np.int64)
    for b in range(dist.shape[0]):
        out[b] = _prim(dist[b], symmetric)
    return out


@njit(cache=True)
def _prim_two(dist_x: np.ndarray, dist_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both pairings of the topological loss in one compiled call."""
    return _prim(dist_x), _prim(dist_z)


def _to_numpy(distances: ArrayLike | torch.Tensor) -> tuple[np.ndarray, torch.device | None]:
    """Return a NumPy view of ``distances`` and the torch device it came from (or None)."""
    if isinstance(distances, np.ndarray):
        return distances, None
    import torch  # a core dependency, imported only when the input is not an array

    if isinstance(distances, torch.Tensor):
        return distances.detach().to("cpu").numpy(), distances.device
    return np.asarray(distances), None


@njit(cache=True)
def _scan(dist: np.ndarray) -> tuple[bool, float, float, float]:
    """One pass over a float matrix: (all finite, min, largest |entry|, largest |A - A.T|).

    Replaces NumPy expressions that would each allocate an n×n temporary, so that
    validating a matrix costs no memory beyond it. Compares the triangles in
    square tiles, so that the transposed reads stay in cache.
    """
    n = dist.shape[0]
    tile = 64
    finite = True
    low, scale, asym = np.inf, 0.0, 0.0
    for bi in range(0, n, tile):
        for bj in range(bi, n, tile):
            for i in range(bi, min(bi + tile, n)):
                for j in range(max(bj, i), min(bj + tile, n)):
                    a, b = dist[i, j], dist[j, i]
                    if not (np.isfinite(a) and np.isfinite(b)):
                        finite = False
                        continue
                    low = min(low, a, b)
                    scale = max(scale, abs(a), abs(b))
                    asym = max(asym, abs(a - b))
    return finite, low, scale, asym


def _validate(dist: np.ndarray, rtol: float) -> bool:
    """Raise like :func:`check_distance_matrix`; return whether ``dist`` is exactly symmetric."""
    if dist.dtype.kind not in "fiu":
        raise InputError(f"Distance matrix must be numeric, got dtype {dist.dtype}.")
    if dist.ndim not in (2, 3) or dist.shape[-1] != dist.shape[-2]:
        raise InputError(
            "Expected a square distance matrix of shape (n, n) or a batch (b, n, n), "
            f"got shape {dist.shape}. To pair points, pass their pairwise distances "
            "(e.g. scipy.spatial.distance.cdist(X, X))."
        )
    if dist.shape[-1] < 1:
        raise InputError("Distance matrix has no points (n = 0); need at least one point.")
    if dist.dtype.kind == "f":
        if dist.itemsize < 4:  # float16: not a compiled type
            dist = dist.astype(np.float32)
        scans = [_scan(matrix) for matrix in (dist if dist.ndim == 3 else [dist])]
        finite = all(s[0] for s in scans)
        low = min(s[1] for s in scans)
        scale = max(s[2] for s in scans)
        asym = max(s[3] for s in scans)
    else:
        finite = True
        low = dist.min()
        scale = float(np.abs(dist).max())
        asym = float(np.abs(dist - np.swapaxes(dist, -1, -2)).max())
    if not finite:
        raise InputError("Distance matrix contains NaN or inf; check the data for invalid values.")
    if low < 0:
        raise InputError(f"Distance matrix has negative entries (min {low}).")
    if asym > rtol * max(scale, 1e-30):
        raise InputError(
            f"Distance matrix is not symmetric (largest |A - A.T| = {asym:.3g}, "
            f"largest entry {scale:.3g}). Pass a symmetric matrix, e.g. (A + A.T) / 2."
        )
    return asym == 0


def check_distance_matrix(dist: np.ndarray, *, rtol: float = 1e-5) -> None:
    """Raise ``ValueError`` unless ``dist`` is a valid (batch of) distance matrix.

    Valid: float or integer, shape ``(n, n)`` or ``(b, n, n)`` with ``n >= 1``,
    finite, non-negative, symmetric up to ``rtol`` times its largest entry.
    Float matrices are checked in one compiled pass without temporaries.
    """
    _validate(dist, rtol)


@overload
def persistence_pairs(distances: torch.Tensor, *, check: bool = True) -> torch.Tensor: ...


@overload
def persistence_pairs(distances: ArrayLike, *, check: bool = True) -> np.ndarray: ...


def persistence_pairs(
    distances: ArrayLike | torch.Tensor, *, check: bool = True
) -> np.ndarray | torch.Tensor:
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
        the same device. On a CUDA device with Triton installed the pairs are computed
        there (:mod:`topoae.core._device_prim`); ``check=True`` then copies the matrix to
        the host to validate it, which waits for the device.

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
    if _on_accelerator(distances):
        # Paired where it lives (a Triton kernel, same tie order): no copy to the host, and
        # with check=False no synchronisation either.
        from topoae.core._device_prim import device_pairs

        tensor = cast("torch.Tensor", distances)
        if check:
            _validate(tensor.detach().to("cpu").numpy(), 1e-5)
        return device_pairs(tensor.detach())
    array, device = _to_numpy(distances)
    # An exactly symmetric matrix (as cdist makes) lets Prim read rows only: the
    # same pairs, faster. Unchecked input is read by its upper triangle.
    symmetric = _validate(array, 1e-5) if check else False
    if array.dtype.kind != "f" or array.itemsize < 4:
        array = array.astype(np.float64)  # integers, float16: the only copy made
    array = np.ascontiguousarray(array)
    pairs = _prim(array, symmetric) if array.ndim == 2 else _prim_batch(array, symmetric)
    if device is None:
        return pairs
    import torch

    return torch.from_numpy(pairs).to(device)


def _on_accelerator(distances: object) -> bool:
    """Whether ``distances`` is a CUDA tensor that the device kernel can pair."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    if not isinstance(distances, torch.Tensor) or distances.device.type != "cuda":
        return False
    from topoae.core._device_prim import available

    return available(distances)


def h0_deaths(distances: ArrayLike | torch.Tensor) -> np.ndarray:
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
    deaths: np.ndarray = np.asarray(array, dtype=np.float64)[pairs[:, 0], pairs[:, 1]]
    return deaths
