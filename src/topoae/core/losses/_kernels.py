"""Compiled (numba) kernels of the topological loss: no torch, NumPy arrays in and out.

The data-space distances of a batch, the latent distances, both spanning trees,
the loss terms and their exact gradients. :mod:`topoae.core.losses._autograd` wraps
them as autograd nodes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from topoae.core.topology import _prim_tree, _tree_edges


@njit(cache=True, fastmath={"reassoc"})
def _distance_matrix(points: np.ndarray) -> tuple[np.ndarray, np.floating]:
    """Euclidean distances of the rows of ``points`` (m, d), and the largest of them.

    Summing the direct differences (``reassoc`` lets the compiler vectorise over the
    features) is as fast as ``torch.cdist`` for a training batch, makes no torch
    call, and is more accurate: cdist's matrix-product form for m > 25 leaves
    errors of ~1e-2 on the diagonal and on small distances. Exactly symmetric.
    """
    m, d = points.shape
    out = np.zeros((m, m), dtype=points.dtype)
    zero = out.dtype.type(0)
    largest = zero
    for i in range(m):
        j = i + 1
        # Four partners at a time: each feature of point i is loaded once for all
        # four sums, which runs about twice as fast as one pair at a time.
        while j + 4 <= m:
            acc0 = acc1 = acc2 = acc3 = zero
            for c in range(d):
                p = points[i, c]
                diff0 = p - points[j, c]
                diff1 = p - points[j + 1, c]
                diff2 = p - points[j + 2, c]
                diff3 = p - points[j + 3, c]
                acc0 += diff0 * diff0
                acc1 += diff1 * diff1
                acc2 += diff2 * diff2
                acc3 += diff3 * diff3
            for offset, acc in enumerate((acc0, acc1, acc2, acc3)):
                value = np.sqrt(acc)
                out[i, j + offset] = out[j + offset, i] = value
                largest = max(largest, value)
            j += 4
        for rest in range(j, m):
            acc = zero
            for c in range(d):
                diff = points[i, c] - points[rest, c]
                acc += diff * diff
            value = np.sqrt(acc)
            out[i, rest] = out[rest, i] = value
            largest = max(largest, value)
    return out, largest


@njit(cache=True)
def _normalise(dist: np.ndarray, largest: float | np.floating, scale: float | np.floating) -> None:
    """Divide ``dist`` in place by ``scale``, or by ``largest`` when ``scale <= 0``.

    A matrix of zeros (identical points) stays zeros.
    """
    divisor = scale if scale > 0 else largest
    if divisor > 0:
        dist /= divisor


@njit(cache=True)
def _normalised_distances(points: np.ndarray, scale: float | np.floating) -> np.ndarray:
    """Distances of the rows of ``points`` (m, d) over ``scale`` (``<= 0``: over the largest)."""
    out, largest = _distance_matrix(points)
    _normalise(out, largest, out.dtype.type(scale))
    return out


@njit(cache=True, inline="always")
def _count_shared(parent_x: np.ndarray, parent_z: np.ndarray) -> int:
    """Edges two spanning trees (as parent arrays) share, in O(m) without sorting.

    Tree Z's edge ``(parent_z[v], v)`` is in tree X exactly when X joins the two
    vertices directly, i.e. one is the other's parent there.
    """
    shared = 0
    for v in range(1, parent_z.shape[0]):
        p = parent_z[v]
        if parent_x[v] == p or parent_x[p] == v:
            shared += 1
    return shared


@njit(cache=True)
def _pairs_and_overlap(
    dist_x: np.ndarray, dist_z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Both pairings in one compiled call, and how many edges they share."""
    parent_x = _prim_tree(dist_x)
    parent_z = _prim_tree(dist_z)
    shared = _count_shared(parent_x, parent_z)
    return _tree_edges(dist_x, parent_x), _tree_edges(dist_z, parent_z), shared


@njit(cache=True, inline="always")
def _edge_gradient(
    grad_latent: np.ndarray,
    grad_scale: np.ndarray,
    latent: np.ndarray,
    i: int,
    j: int,
    r: float | np.floating,
    scale: float | np.floating,
    g: float | np.floating,
) -> None:
    """Chain ``dL/d(r / scale) = g`` for the edge (i, j) of length r to latent and scale."""
    grad_scale[0] -= g * r / (scale * scale)
    if r > 0:  # coincident points: value 0 and gradient 0, as in ``_safe_sqrt``
        factor = g / (scale * r)
        for c in range(latent.shape[1]):
            step = factor * (latent[i, c] - latent[j, c])
            grad_latent[i, c] += step
            grad_latent[j, c] -= step


@njit(cache=True)
def _latent_distance_matrix(latent: np.ndarray) -> np.ndarray:
    """Unscaled Euclidean distances of the rows of ``latent`` (m, k), both triangles.

    In the input dtype and the summation order of :func:`pair_distances`, so that
    the values equal what the matrix path gathers. Both triangles are filled, so
    that Prim can read rows only.
    """
    m, k = latent.shape
    r = np.zeros((m, m), dtype=latent.dtype)
    for i in range(m):
        for j in range(i + 1, m):
            d = latent[i, 0] - latent[j, 0]
            acc = d * d
            for c in range(1, k):
                d = latent[i, c] - latent[j, c]
                acc += d * d
            r[i, j] = r[j, i] = np.sqrt(acc)
    return r


@njit(cache=True, inline="always")
def _all_finite(array: np.ndarray) -> bool:
    for value in array.ravel():
        if not np.isfinite(value):
            return False
    return True


@njit(cache=True)
def _terms_and_gradients(
    dist_x: np.ndarray,
    r: np.ndarray,
    parent_x: np.ndarray,
    parent_z: np.ndarray,
    latent: np.ndarray,
    scale: float | np.floating,
    mode: int,
    separate: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loss terms over two spanning trees and their gradients.

    Parameters
    ----------
    dist_x : ndarray of shape (m, m)
        Data-space distances (upper triangle read).
    r : ndarray of shape (m, m)
        Unscaled latent distances; ``r / scale`` are the latent-space distances.
    parent_x, parent_z : ndarray of shape (m,), int64
        The two spanning trees as parent arrays.
    latent : ndarray of shape (m, k)
    scale : float
    mode : int
        Index into ``MATCH_MODES``: which combination ``values[0]`` is.
    separate : bool
        Gradients of all three values (slots 0, 1, 2), or of ``values[0]`` only
        (one slot: what a training step needs, and less work).

    Returns
    -------
    values : ndarray of shape (3,), float64
        ``total``, ``x_to_z``, ``z_to_x``.
    grad_latent : ndarray of shape (3 or 1, m, k), float64
    grad_scale : ndarray of shape (3 or 1,), float64
    """
    m, k = latent.shape
    slots = 3 if separate else 1
    values = np.zeros(3)
    grad_latent = np.zeros((slots, m, k))
    grad_scale = np.zeros(slots)
    # Which slot each direction's gradient goes to (-1: not needed).
    slot_x = 1 if separate else (0 if mode == 0 or mode == 1 else -1)
    slot_z = 2 if separate else (0 if mode == 0 or mode == 2 else -1)
    for v in range(1, m):
        # L_X→Z over the data-space edges.
        i, j = min(parent_x[v], v), max(parent_x[v], v)
        diff = dist_x[i, j] - r[i, j] / scale
        values[1] += diff * diff
        if slot_x >= 0:
            _edge_gradient(
                grad_latent[slot_x], grad_scale[slot_x : slot_x + 1], latent, i, j, r[i, j],
                scale, -2.0 * diff,
            )  # fmt: skip
        # L_Z→X over the latent-space edges.
        i, j = min(parent_z[v], v), max(parent_z[v], v)
        diff = r[i, j] / scale - dist_x[i, j]
        values[2] += diff * diff
        if slot_z >= 0:
            _edge_gradient(
                grad_latent[slot_z], grad_scale[slot_z : slot_z + 1], latent, i, j, r[i, j],
                scale, 2.0 * diff,
            )  # fmt: skip
    if mode == 0:
        values[0] = values[1] + values[2]
        if separate:
            grad_latent[0] = grad_latent[1] + grad_latent[2]
            grad_scale[0] = grad_scale[1] + grad_scale[2]
    elif mode == 1 or mode == 2:
        values[0] = values[mode]
        if separate:
            grad_latent[0] = grad_latent[mode]
            grad_scale[0] = grad_scale[mode]
    else:
        # Signature: the sorted death values, i.e. both trees' edges in filtration order.
        edges_x = _tree_edges(dist_x, parent_x)
        edges_z = _tree_edges(r, parent_z)
        for e in range(m - 1):
            i, j = edges_z[e, 0], edges_z[e, 1]
            diff = dist_x[edges_x[e, 0], edges_x[e, 1]] - r[i, j] / scale
            values[0] += diff * diff
            _edge_gradient(
                grad_latent[0], grad_scale[0:1], latent, i, j, r[i, j], scale, -2.0 * diff
            )
    return values, grad_latent, grad_scale


@njit(cache=True)
def _latent_kernel(
    dist_x: np.ndarray, latent: np.ndarray, scale: float | np.floating, mode: int
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Topological loss of latent points and its exact gradient, in one compiled call.

    The whole topological term without a torch operation: latent distances from
    the points, both spanning trees, the shared-edge count, the three terms and
    their gradients with respect to ``latent`` and ``scale``.

    Parameters
    ----------
    dist_x : ndarray of shape (m, m)
        Data-space distances (upper triangle read); same float dtype as ``latent``.
    latent : ndarray of shape (m, k)
    scale : float of that dtype
        Latent distances are divided by it.
    mode : int
        Index into ``MATCH_MODES``: which combination ``total`` is.

    Returns
    -------
    values : ndarray of shape (3,), float64
        ``total``, ``x_to_z``, ``z_to_x`` (NaN when an input is not finite).
    shared : int
    grad_latent : ndarray of shape (3, m, k)
        Gradient of each value with respect to ``latent``.
    grad_scale : ndarray of shape (3,)
        Gradient of each value with respect to ``scale``.
    """
    m, k = latent.shape
    if not (_all_finite(latent) and _all_finite(dist_x) and np.isfinite(scale)):
        # Propagate, so that training reports the divergence.
        return (
            np.full(3, np.nan), 0, np.zeros((3, m, k), latent.dtype), np.zeros(3, latent.dtype)
        )  # fmt: skip
    # A positive scale does not change the tree: it is applied to the selected edges only.
    r = _latent_distance_matrix(latent)
    parent_x = _prim_tree(dist_x)
    parent_z = _prim_tree(r, True)
    shared = _count_shared(parent_x, parent_z)
    values, grad_latent, grad_scale = _terms_and_gradients(
        dist_x, r, parent_x, parent_z, latent, scale, mode, True
    )
    return values, shared, grad_latent.astype(latent.dtype), grad_scale.astype(latent.dtype)


@njit(cache=True)
def _points_kernel(
    points: np.ndarray,
    data_scale: float | np.floating,
    latent: np.ndarray,
    scale: float | np.floating,
    weight: float,
    mode: int,
) -> tuple[np.ndarray, int, np.ndarray, float | np.floating]:
    """A training step's whole topological term, from the data points and the codes.

    :func:`_normalised_distances` of ``points`` (exactly symmetric, so both Prims
    read rows only), the latent distances, both trees, the terms, and the gradient
    of ``weight · values[0]`` with respect to ``latent`` and ``scale``.

    Returns
    -------
    values : ndarray of shape (3,), float64
        ``total``, ``x_to_z``, ``z_to_x``, unweighted (NaN when something is not finite).
    shared : int
    grad_latent : ndarray of shape (m, k), the dtype of ``latent``
    grad_scale : float
    """
    m, k = latent.shape
    nan_result = (np.full(3, np.nan), 0, np.zeros((m, k), latent.dtype), 0.0)
    if not (_all_finite(points) and _all_finite(latent) and np.isfinite(scale)):
        return nan_result
    dist_x, largest = _distance_matrix(points)
    if not np.isfinite(largest):  # finite points whose distances overflow
        return nan_result
    _normalise(dist_x, largest, data_scale)
    r = _latent_distance_matrix(latent)
    parent_x = _prim_tree(dist_x, True)
    parent_z = _prim_tree(r, True)
    shared = _count_shared(parent_x, parent_z)
    values, grad_latent, grad_scale = _terms_and_gradients(
        dist_x, r, parent_x, parent_z, latent, scale, mode, False
    )
    return values, shared, (weight * grad_latent[0]).astype(latent.dtype), weight * grad_scale[0]
