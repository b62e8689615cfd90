"""TopoMap (Doraiswamy, Tierny, Silva, Nonato, Silva; IEEE TVCG 2020), written here.

A 2-D layout whose Euclidean minimum spanning tree has the same edge lengths as the
data's, hence the same 0-dimensional persistence diagram of the Rips filtration.
The PyPI package ``topomap`` (0.0.3, TopoMap++) is not used: importing it needs
mlpack, a pinned diskannpy, plotly, pandas and networkx, and it ships no tests
(docs/cycles.md §5).

The algorithm, as the paper describes it: process the data's MST edges in
increasing length (Kruskal). Each component keeps its points in the plane and the
convex hull of those points. For the edge ``(u, v)`` of length ``w`` joining
components ``C_u`` and ``C_v``:

1. in ``C_u``, take the hull edge closest to ``u``; rotate ``C_u`` rigidly so that
   this edge is horizontal with the hull below it, and translate it so that the
   edge's endpoint nearer to ``u`` is at the origin;
2. do the same with ``C_v`` and ``v``, the hull *above* its edge, the endpoint at
   ``(0, w)``;
3. the union is the merged component; its hull is the hull of both hulls.

Then every point of ``C_u`` has ``y ≤ 0`` and every point of ``C_v`` has ``y ≥ w``, so
the two are at least ``w`` apart, and exactly ``w`` at the two anchors: single
linkage of the layout merges them at ``w``, as in the data, and by induction the
layout's MST lengths equal the data's. (The anchor is a hull vertex, not ``u``
itself, because ``u`` may lie inside its hull; the length, not the edge, is kept.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["euclidean_mst", "topomap_layout"]


def euclidean_mst(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum spanning tree of the complete Euclidean graph (dense Prim, O(n²)).

    Parameters
    ----------
    points : ndarray of shape (n, d)

    Returns
    -------
    edges : ndarray of shape (n − 1, 2), int64
        ``(i, j)`` with ``i < j``, sorted by ``(length, i, j)``.
    lengths : ndarray of shape (n − 1,), float64
    """
    n = len(points)
    squared_norms = np.einsum("ij,ij->i", points, points)
    best = np.full(n, np.inf)
    parent = np.full(n, -1, dtype=np.int64)
    outside = np.ones(n, dtype=bool)
    current = 0
    outside[0] = False
    edges, lengths = [], []
    for _ in range(n - 1):
        squared = squared_norms + squared_norms[current] - 2 * points @ points[current]
        row = np.sqrt(np.maximum(squared, 0.0))
        closer = outside & (row < best)
        best[closer] = row[closer]
        parent[closer] = current
        candidates = np.where(outside, best, np.inf)
        current = int(np.argmin(candidates))
        outside[current] = False
        edges.append(sorted((int(parent[current]), current)))
        lengths.append(best[current])
    edges_array = np.array(edges, dtype=np.int64).reshape(-1, 2)
    # Exact lengths (the expansion above can lose digits for nearby points).
    length_array = np.linalg.norm(points[edges_array[:, 0]] - points[edges_array[:, 1]], axis=1)
    order = np.lexsort((edges_array[:, 1], edges_array[:, 0], length_array))
    return edges_array[order], length_array[order]


def _hull(points: np.ndarray) -> np.ndarray:
    """Indices of the convex hull's vertices, counter-clockwise (Andrew's monotone chain).

    Collinear and repeated points are dropped; one point gives one vertex, points on
    a segment give its two ends.
    """
    # Unique rows, sorted by x then y (repeated points would give a zero-length edge).
    _, order = np.unique(points, axis=0, return_index=True)
    if len(order) == 1:
        return order

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def chain(indices):
        kept: list[int] = []
        for index in indices:
            while len(kept) >= 2 and cross(points[kept[-2]], points[kept[-1]], points[index]) <= 0:
                kept.pop()
            kept.append(int(index))
        return kept

    lower, upper = chain(order), chain(order[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    denominator = float(ab @ ab)
    t = 0.0 if denominator == 0 else min(max(float((p - a) @ ab) / denominator, 0.0), 1.0)
    return float(np.linalg.norm(p - (a + t * ab)))


def _placement(layout, hull, anchor_point, below: bool):
    """Rotation matrix and anchor for one component (steps 1 and 2 of the module doc)."""
    if len(hull) == 1:
        return np.eye(2), layout[hull[0]]
    best, chosen = np.inf, 0
    for k in range(len(hull)):
        distance = _segment_distance(
            anchor_point, layout[hull[k]], layout[hull[(k + 1) % len(hull)]]
        )
        if distance < best:
            best, chosen = distance, k
    a, b = layout[hull[chosen]], layout[hull[(chosen + 1) % len(hull)]]
    direction = (b - a) / np.linalg.norm(b - a)
    # Counter-clockwise hull: the inside is to the left of a→b. Mapping a→b onto
    # (-1, 0) puts the inside below; onto (1, 0), above.
    target = np.array([-1.0, 0.0]) if below else np.array([1.0, 0.0])
    cos = direction @ target
    sin = direction[0] * target[1] - direction[1] * target[0]
    rotation = np.array([[cos, -sin], [sin, cos]])
    nearer = a if np.linalg.norm(anchor_point - a) <= np.linalg.norm(anchor_point - b) else b
    return rotation, nearer


def topomap_layout(X) -> np.ndarray:
    """TopoMap's 2-D layout of ``X`` (the module docstring gives the algorithm).

    Parameters
    ----------
    X : array-like of shape (n, d)

    Returns
    -------
    ndarray of shape (n, 2), float64
        Deterministic: the same input gives the same layout. Its Euclidean MST has
        the data's MST edge lengths (up to rounding).

    Notes
    -----
    O(n²) time for the MST and, in the worst case, for moving the components.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(30, 10))
    >>> Y = topomap_layout(X)
    >>> bool(np.allclose(np.sort(euclidean_mst(Y)[1]), np.sort(euclidean_mst(X)[1])))
    True
    """
    points = np.asarray(X, dtype=np.float64)
    n = len(points)
    layout = np.zeros((n, 2))
    members = {i: [i] for i in range(n)}
    hulls = {i: np.array([i]) for i in range(n)}
    root = np.arange(n)
    edges, lengths = euclidean_mst(points) if n > 1 else (np.zeros((0, 2), int), np.zeros(0))
    for (u, v), w in zip(edges, lengths, strict=True):
        cu, cv = root[u], root[v]
        for component, point, below, shift in ((cu, u, True, 0.0), (cv, v, False, w)):
            rotation, anchor = _placement(layout, hulls[component], layout[point], below)
            index = np.array(members[component])
            moved = (layout[index] - anchor) @ rotation.T
            moved[:, 1] += shift
            layout[index] = moved
        if len(members[cu]) < len(members[cv]):
            cu, cv = cv, cu
        members[cu].extend(members.pop(cv))
        candidates = np.concatenate([hulls.pop(cu), hulls.pop(cv)])
        hulls[cu] = candidates[_hull(layout[candidates])]
        root[members[cu]] = cu
    return layout
