"""Rows of a distance matrix on demand, and each space's exact largest distance.

Nothing of size n × n is built: a :class:`_Space` hands out blocks of rows (any rows, in any
order), and :func:`_max_distance` finds the diameter without holding the matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numba import njit, prange

from topoae._threads import start_numba_threads
from topoae.metrics._workers import _Workers

# Inputs of at most this many columns get exact pairwise differences; wider ones the
# Gram trick (BLAS), whose rounding is harmless for ranks of distinct distances and
# whose ties between duplicate points are repaired explicitly (see _Space).
_DIRECT_MAX_DIM = 16
# Rows per block: a block holds a few (rows × n) float64 arrays.
_TARGET_BLOCK_BYTES = 32 * 2**20
# float32 unit roundoff, for the error bound of the float32 screen in _gram_max.
_U32 = 2.0**-24


@njit(cache=True, parallel=True)
def _direct_rows(A, idx, out):
    """Exact Euclidean distances of rows idx of A to all rows (no cancellation)."""
    n, d = A.shape
    for r in prange(idx.shape[0]):
        i = idx[r]
        for j in range(n):
            s = 0.0
            for c in range(d):
                t = A[i, c] - A[j, c]
                s += t * t
            out[r, j] = math.sqrt(s)


@njit(cache=True, parallel=True)
def _gram_to_distances(g, sq_rows, sq, idx):
    """In place: Gram rows g[r, j] = a_idx[r] · a_j become distances, self entries 0.

    One pass instead of NumPy's five (each over the whole block); the same operations in
    the same order, so the same bits: sqrt(max(-2 g + |a_i|² + |a_j|², 0)).
    """
    for r in prange(g.shape[0]):
        row = g[r]
        a = sq_rows[r]
        for j in range(row.shape[0]):
            t = row[j] * -2.0
            t = t + a
            t = t + sq[j]
            row[j] = math.sqrt(t) if t > 0.0 else 0.0
        row[idx[r]] = 0.0


@njit(cache=True, parallel=True)
def _direct_max(A):
    """Largest pairwise distance of A (exact differences), one row per thread at a time."""
    n, d = A.shape
    best = np.zeros(n)
    for i in prange(n):
        m = 0.0
        for j in range(i + 1, n):
            s = 0.0
            for c in range(d):
                t = A[i, c] - A[j, c]
                s += t * t
            m = max(m, s)
        best[i] = m
    return math.sqrt(best.max())


@njit(cache=True, parallel=True)
def _row_hashes(bits):
    """A 64-bit hash of each row's float64 bit patterns (equal rows, equal hashes)."""
    n, d = bits.shape
    out = np.empty(n, dtype=np.uint64)
    negative_zero = np.uint64(1) << np.uint64(63)
    for i in prange(n):
        h = np.uint64(1469598103934665603)
        for c in range(d):
            b = bits[i, c]
            if b == negative_zero:  # -0.0 equals 0.0
                b = np.uint64(0)
            h = (h ^ b) * np.uint64(1099511628211)
            h ^= h >> np.uint64(29)
        out[i] = h
    return out


def _first_copies(A: np.ndarray) -> np.ndarray | None:
    """Index of each row's first exact copy, or None when all rows differ.

    Rows are hashed (O(n d), no copy of A); only rows sharing a hash are compared exactly.
    """
    _, inverse, counts = np.unique(
        _row_hashes(A.view(np.uint64)), return_inverse=True, return_counts=True
    )
    shared = np.flatnonzero(counts[inverse] > 1)
    if len(shared) == 0:
        return None
    _, first, groups = np.unique(
        A[shared] + 0.0, axis=0, return_index=True, return_inverse=True
    )  # + 0.0: -0.0 and 0.0 compare as the same row
    if len(first) == len(shared):
        return None
    rep = np.arange(len(A))
    rep[shared] = shared[first[groups.reshape(-1)]]
    return rep


class _Space:
    """Rows of one space's distance matrix, computed on demand a block at a time."""

    def __init__(self, A: np.ndarray):
        # numba's threading layer resets the process's OpenMP thread count when it starts,
        # which torch shares: start it here, keeping the caller's torch thread count.
        start_numba_threads()
        self.A = A
        self.n = A.shape[0]
        self.direct = A.shape[1] <= _DIRECT_MAX_DIM
        self.rep = None
        if not self.direct:
            self.sq = np.einsum("ij,ij->i", A, A)
            # The Gram trick may give duplicate points slightly different distances; map
            # every point to its first copy so that copies tie exactly (and sit at 0).
            self.rep = _first_copies(A)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Distances of points start..stop to all points, shape (stop - start, n), float64."""
        return self.rows_of(np.arange(start, stop))

    def rows_of(
        self, idx: np.ndarray, out: np.ndarray | None = None, workers: _Workers | None = None
    ) -> np.ndarray:
        """Distances of the points ``idx`` to all points, shape (len(idx), n), float64.

        ``out``, if given, is a float64 buffer of at least (len(idx), n) that receives the
        rows (the result is a view of it). Passes reuse one buffer for all their blocks:
        a fresh block of tens of MB is a fresh memory mapping, and faulting its pages in
        costs as much as computing the distances. ``workers`` splits the BLAS product.
        """
        idx = np.asarray(idx, dtype=np.int64)
        rows = np.empty((len(idx), self.n)) if out is None else out[: len(idx)]
        if self.direct:
            _direct_rows(self.A, idx, rows)
            return rows
        if workers is None:
            np.matmul(self.A[idx], self.A.T, out=rows)
        else:
            workers.matmul(self.A[idx], self.A.T, rows)
        if self.rep is None:
            _gram_to_distances(rows, self.sq[idx], self.sq, idx)
            return rows
        g = rows * -2.0
        g += self.sq[idx, None]
        g += self.sq[None, :]
        np.maximum(g, 0.0, out=g)
        np.sqrt(g, out=g)
        rows[:] = g[:, self.rep]
        rows[self.rep[idx, None] == self.rep[None, :]] = 0.0
        return rows


def _blocks(n: int, block_rows: int | None, total: int | None = None) -> list[tuple[int, int]]:
    """Row ranges covering ``total`` rows (default n) of an n-column distance matrix."""
    total = n if total is None else total
    if block_rows is None:
        block_rows = max(8, min(1024, _TARGET_BLOCK_BYTES // (8 * max(n, 1))))
    return [(s, min(s + block_rows, total)) for s in range(0, total, block_rows)]


def _row_blocks(
    space_x: _Space,
    space_z: _Space,
    rows: np.ndarray,
    block_rows: int | None,
    workers: _Workers,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """(start, stop, idx, dx, dz) for each block of ``rows``: their distance rows in X and Z.

    dx and dz are views of one buffer per space, reused for every block (see
    :meth:`_Space.rows_of`): consume them before asking for the next block.
    """
    n = space_x.n
    blocks = _blocks(n, block_rows, len(rows))
    size = max((stop - start for start, stop in blocks), default=0)
    buf_x, buf_z = np.empty((size, n)), np.empty((size, n))
    for start, stop in blocks:
        idx = rows[start:stop]
        dx = space_x.rows_of(idx, buf_x, workers)
        yield start, stop, idx, dx, space_z.rows_of(idx, buf_z, workers)


def _hull_max(A: np.ndarray) -> float | None:
    """Diameter through the convex hull (1-3 columns): the farthest pair are hull vertices."""
    from scipy.spatial import ConvexHull, QhullError

    if A.shape[1] == 1:
        return float(A.max() - A.min())
    try:
        vertices = A[ConvexHull(A).vertices]
    except (QhullError, ValueError):  # flat or too few points: no full-dimensional hull
        return None
    return _direct_max(np.ascontiguousarray(vertices))


def _gram_max(space: _Space, block_rows: int | None) -> float:
    """Exact diameter of a wide space: a float32 screen, then float64 on candidate rows.

    The float32 Gram rows give every row's largest squared distance within ``err`` (a
    rounding bound of the centred, rescaled dot products); only rows whose screened maximum
    is within ``2 err`` of the overall one can hold the true maximum, and those few are
    recomputed in float64 (half the cost of a float64 pass).
    """
    A = space.A
    mean = A.mean(axis=0)
    chunks = [(s, min(s + 4096, space.n)) for s in range(0, space.n, 4096)]
    scale = max(float(np.abs(A[s:e] - mean).max()) for s, e in chunks)
    if scale == 0.0:
        return 0.0
    c32 = np.empty(A.shape, dtype=np.float32)  # centred and rescaled: no float32 overflow
    for s, e in chunks:
        c32[s:e] = (A[s:e] - mean) / scale
    sq = np.einsum("ij,ij->i", c32.astype(np.float64), c32.astype(np.float64))
    d = A.shape[1]
    # |fl(a.b) - a.b| <= gamma_d |a||b| <= gamma_d R^2, twice for the two products, with
    # slack for the float64 additions.
    gamma = (d + 2) * _U32 / (1.0 - (d + 2) * _U32)
    err = 4.0 * gamma * float(sq.max()) + 1e-12
    row_max = np.empty(space.n)
    for start, stop in _blocks(space.n, block_rows):
        g = (c32[start:stop] @ c32.T).astype(np.float64)
        g *= -2.0
        g += sq[start:stop, None]
        g += sq[None, :]
        row_max[start:stop] = g.max(axis=1)
    top = row_max.max()
    candidates = np.flatnonzero(row_max >= top - 2.0 * err)
    best = 0.0
    for start, stop in _blocks(space.n, block_rows, len(candidates)):
        best = max(best, float(space.rows_of(candidates[start:stop]).max()))
    return best


def _max_distance(space: _Space, block_rows: int | None = None) -> float:
    """The largest pairwise distance of a space, exactly (see _hull_max, _gram_max)."""
    if space.A.shape[1] <= 3 and space.n > 64:
        hull = _hull_max(space.A)
        if hull is not None:
            return hull
    if space.direct:
        return _direct_max(space.A)
    return _gram_max(space, block_rows)


def _extreme_points(A: np.ndarray, count: int, random_state: int | None) -> np.ndarray:
    """Points likely to end a diameter: farthest from the centroid, and the two ends of
    ``count // 4`` random directions (a diameter's ends are extreme along its own)."""
    mean = A.mean(axis=0)
    directions = np.random.default_rng(random_state).normal(size=(A.shape[1], max(1, count // 4)))
    radius = np.empty(len(A))
    lo_val = np.full(directions.shape[1], np.inf)
    hi_val = np.full(directions.shape[1], -np.inf)
    lo_idx = np.zeros(directions.shape[1], dtype=np.int64)
    hi_idx = np.zeros(directions.shape[1], dtype=np.int64)
    for s in range(0, len(A), 4096):  # cache-sized chunks: no (n, d) temporary at once
        chunk = A[s : s + 4096]
        centred = chunk - mean
        radius[s : s + len(chunk)] = np.einsum("ij,ij->i", centred, centred)
        proj = chunk @ directions
        for vals, idx, pick, better in (
            (lo_val, lo_idx, proj.argmin(axis=0), np.less),
            (hi_val, hi_idx, proj.argmax(axis=0), np.greater),
        ):
            found = proj[pick, np.arange(proj.shape[1])]
            take = better(found, vals)
            vals[take], idx[take] = found[take], pick[take] + s
    far = np.argpartition(-radius, min(count // 2, len(A) - 1))[: count // 2]
    return np.unique(np.concatenate([far, lo_idx, hi_idx]))


def _max_distance_seen(
    space: _Space, rows: np.ndarray, sweeps: int = 2, random_state: int | None = 0
) -> float:
    """A lower bound of the diameter, used where the exact one costs too much (estimated mode).

    The largest distance from the given rows and from 256 extreme points (farthest from
    the centroid, ends of random projections), improved by ``sweeps`` farthest-point sweeps
    from the farthest points found. Exact through the convex hull for 1-3 columns.
    """
    if space.A.shape[1] <= 3:
        hull = _hull_max(space.A)
        if hull is not None:
            return hull
    rows = np.unique(np.concatenate([rows, _extreme_points(space.A, 256, random_state)]))
    best, far = 0.0, None
    for start, stop in _blocks(space.n, None, len(rows)):
        d = space.rows_of(rows[start:stop])
        flat = int(np.argmax(d))
        if d.flat[flat] > best:
            best, far = float(d.flat[flat]), flat % space.n
    for _ in range(sweeps):
        if far is None:
            break
        d = space.rows_of(np.array([far]))[0]
        far = int(np.argmax(d))
        best = max(best, float(d[far]))
    return best
