"""The top-k pass: per-row neighbourhood sums from each row's ``k_max`` nearest points.

Compiled kernels select each row's nearest points in exact ``(distance, index)`` order, rank
them in the other space, and return per row the sums behind trustworthiness, continuity,
MRRE and Q_NX at every k, the pairwise-distance moments, the k nearest points in Z (for
kNN accuracy); NumPy adds the KL densities of the same rows. Rows are any subset of the
points, so the same pass serves the exact measures (all rows) and the estimated ones (a
sample of rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from topoae.errors import InputError
from topoae.metrics._distances import _row_blocks, _Space
from topoae.metrics._workers import _Workers

# --------------------------------------------------------------------------- rank kernels


# Hand-written heaps instead of np.partition / np.argsort: the same speed here, and
# they compile in a fraction of the time (numba's sorts cost tens of seconds to compile).


@njit(cache=True)
def _before(d1, i1, d2, i2):
    """Strict order of (distance, index) keys: the order of a stable sort of a row."""
    return d1 < d2 or (d1 == d2 and i1 < i2)


@njit(cache=True)
def _sift_down(hd, hi, hp, root, size):
    """Restore the max-heap property of keys (hd, hi)[:size] below ``root``; hp rides along."""
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and _before(hd[child], hi[child], hd[child + 1], hi[child + 1]):
            child += 1
        if not _before(hd[root], hi[root], hd[child], hi[child]):
            return
        hd[root], hd[child] = hd[child], hd[root]
        hi[root], hi[child] = hi[child], hi[root]
        hp[root], hp[child] = hp[child], hp[root]
        root = child


@njit(cache=True)
def _heap_sort(hd, hi, hp, size):
    """Sort keys (hd, hi)[:size] ascending in place, permuting the payload hp alike."""
    for root in range(size // 2 - 1, -1, -1):
        _sift_down(hd, hi, hp, root, size)
    for end in range(size - 1, 0, -1):
        hd[0], hd[end] = hd[end], hd[0]
        hi[0], hi[end] = hi[end], hi[0]
        hp[0], hp[end] = hp[end], hp[0]
        _sift_down(hd, hi, hp, 0, end)


@njit(cache=True)
def _nearest(row, self_idx, kmax, out):
    """Fill ``out`` with the kmax nearest points of ``row`` (self excluded) in (d, index) order."""
    hd = np.empty(kmax)
    hi = np.empty(kmax, dtype=np.int64)
    unused = np.empty(kmax, dtype=np.int64)  # no payload: the heap payload slot
    size = 0
    for j in range(row.shape[0]):
        if j == self_idx:
            continue
        v = row[j]
        if size < kmax:  # fill: sift the new key up
            pos = size
            size += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if not _before(hd[parent], hi[parent], v, j):
                    break
                hd[pos] = hd[parent]
                hi[pos] = hi[parent]
                pos = parent
            hd[pos] = v
            hi[pos] = j
        elif v < hd[0]:  # j exceeds every index in the heap, so equal keys never enter
            hd[0] = v
            hi[0] = j
            _sift_down(hd, hi, unused, 0, kmax)
    _heap_sort(hd, hi, unused, kmax)
    for p in range(kmax):
        out[p] = hi[p]


@njit(cache=True)
def _ranks_of(row, self_idx, queries, out):
    """Rank in ``row`` of each point in ``queries`` (self excluded from queries).

    rank(q) = 1 + #{l != self : (row[l], l) < (row[q], q)}: one pass over the row,
    each element located among the sorted queries through a bucket table.
    """
    m = queries.shape[0]
    # Sorted query keys (distance, index), with a +inf sentinel at position m.
    size = m + 1
    sq = np.full(size, row.shape[0], dtype=np.int64)
    sd = np.full(size, np.inf)
    pos = np.empty(m, dtype=np.int64)  # sorted position -> position in queries
    for s in range(m):
        sd[s] = row[queries[s]]
        sq[s] = queries[s]
        pos[s] = s
    _heap_sort(sd, sq, pos, m)
    diff = np.zeros(m + 1, dtype=np.int64)
    lo = sd[0]
    dmax = sd[m - 1]
    qmax = sq[m - 1]
    # Buckets over [lo, dmax]: first[b] = number of queries in buckets before b. The
    # bucket map is monotone, so a query in an earlier (later) bucket than v is smaller
    # (larger) than v, and only queries in v's own bucket need comparing.
    n_buckets = 4 * m
    scale = n_buckets / (dmax - lo) if dmax > lo else 0.0
    if not scale < np.inf:  # kept finite (see _coranking._exact_order): one bucket
        scale = 0.0
    first = np.empty(n_buckets, dtype=np.int64)
    s = 0
    for b in range(n_buckets):
        while s < m and min(int((sd[s] - lo) * scale), n_buckets - 1) < b:
            s += 1
        first[b] = s
    for l in range(row.shape[0]):
        v = row[l]
        if v > dmax or (v == dmax and l >= qmax) or l == self_idx:
            continue  # before no query (or self, which is before all by definition)
        # below = number of query keys <= (v, l); l counts towards the ranks of the rest.
        below = 0
        if v >= lo:
            below = first[min(int((v - lo) * scale), n_buckets - 1)]
            # sd[m] = inf stops the scan.
            while sd[below] < v or (sd[below] == v and sq[below] <= l):
                below += 1
        diff[below] += 1
    acc = 0
    for s in range(m):
        acc += diff[s]
        out[pos[s]] = 1 + acc


@njit(cache=True)
def _k_sums(rx_of_z, rz_of_x, ks, sums):
    """Neighbourhood sums of one row at every k, from its nearest points' ranks.

    ``rx_of_z[p]`` is the X rank of the row's (p+1)-th nearest point in Z, ``rz_of_x[p]``
    the Z rank of its (p+1)-th nearest in X. sums[t, :] = (trust penalty, continuity
    penalty, MRRE Z→X, MRRE X→Z, |N^X_k ∩ N^Z_k|) at ks[t].
    """
    for t in range(ks.shape[0]):
        k = ks[t]
        trust = 0.0
        cont = 0.0
        m_zx = 0.0
        m_xz = 0.0
        overlap = 0.0
        for p in range(k):
            own = p + 1
            rx = rx_of_z[p]
            rz = rz_of_x[p]
            if rx > k:
                trust += rx - k
            if rz > k:
                cont += rz - k
            else:
                overlap += 1.0
            m_zx += abs(rx - own) / own
            m_xz += abs(rz - own) / own
        sums[t, 0] = trust
        sums[t, 1] = cont
        sums[t, 2] = m_zx
        sums[t, 3] = m_xz
        sums[t, 4] = overlap


@njit(cache=True)
def _pair_moments(xrow, zrow, i, pair):
    """pair = (Σ(dx-dz)², Σdx², Σdz², Σdx·dz, Σdx, Σdz, max dx, max dz) over j != i."""
    s0 = s1 = s2 = s3 = s4 = s5 = 0.0
    mx = 0.0
    mz = 0.0
    for j in range(xrow.shape[0]):
        if j == i:
            continue
        a = xrow[j]
        b = zrow[j]
        s0 += (a - b) * (a - b)
        s1 += a * a
        s2 += b * b
        s3 += a * b
        s4 += a
        s5 += b
        mx = max(mx, a)
        mz = max(mz, b)
    pair[0] = s0
    pair[1] = s1
    pair[2] = s2
    pair[3] = s3
    pair[4] = s4
    pair[5] = s5
    pair[6] = mx
    pair[7] = mz


@njit(cache=True)
def _row_stats(xrow, zrow, i, ks, kmax, sums, pair, top):
    """All per-row quantities of row i (see _rank_block).

    Kept out of the parallel loop's body so that its work arrays are private to the
    row (numba may hoist allocations out of a prange body and share them).
    """
    top_x = np.empty(kmax, dtype=np.int64)
    top_z = np.empty(kmax, dtype=np.int64)
    _nearest(xrow, i, kmax, top_x)
    _nearest(zrow, i, kmax, top_z)
    rz_of_x = np.empty(kmax, dtype=np.int64)
    rx_of_z = np.empty(kmax, dtype=np.int64)
    _ranks_of(zrow, i, top_x, rz_of_x)
    _ranks_of(xrow, i, top_z, rx_of_z)
    _row_tail(xrow, zrow, i, rx_of_z, rz_of_x, top_z, ks, sums, pair, top)


@njit(cache=True)
def _row_tail(xrow, zrow, i, rx_of_z, rz_of_x, top_z, ks, sums, pair, top):
    """What every rank pass does once row i's neighbours and their cross ranks are known:
    the k sums, the Z neighbours kept and the distance moments."""
    _k_sums(rx_of_z, rz_of_x, ks, sums)
    for p in range(top.shape[0]):
        top[p] = top_z[p]
    _pair_moments(xrow, zrow, i, pair)


@njit(cache=True, parallel=True)
def _rank_block(dx, dz, idx, ks, kmax, sums, pair, top):
    """Per-row quantities of the rows ``idx`` (distance rows dx, dz of shape (b, n)).

    sums[r] as in _k_sums, pair[r] as in _pair_moments, top[r] the row's nearest points
    in Z in rank order.
    """
    for r in prange(dx.shape[0]):
        _row_stats(dx[r], dz[r], idx[r], ks, kmax, sums[r], pair[r], top[r])


# --------------------------------------------------------------------------- KL densities

# Elements per piece of a density computation: a piece and its scratch stay in the L2
# cache, where NumPy's vectorised exp runs about twice as fast as numba's scalar one (which
# calls libm per element). A cheaper kernel by powers of the widest one (σ = σ_max / q)
# was slower here: the extra NumPy calls per piece cost more than the exps they save.
_DENSITY_PIECE = 1 << 16


def _density_piece(d, scale, sigmas, out, scratch):
    """out[r, s] += Σ_j exp(-(d[r, j] / scale)² / sigmas[s]) for a small (rows, cols) piece."""
    rows, cols = d.shape
    a = scratch[0, : rows * cols].reshape(rows, cols)
    t = scratch[1, : rows * cols].reshape(rows, cols)
    np.multiply(d, d, out=a)
    for s, sigma in enumerate(sigmas):
        np.multiply(a, -1.0 / (scale * scale * sigma), out=t)
        np.exp(t, out=t)
        out[:, s] += t.sum(axis=1)


def _density_rows(d, scale, sigmas, out):
    """Densities of distance rows d (b, n) into out (b, len(sigmas)), a cache-sized piece
    at a time (whole rows, or column ranges of one row when a row alone is too long)."""
    b, n = d.shape
    out[:] = 0.0
    if b == 0 or len(sigmas) == 0:
        return
    scratch = np.empty((2, min(_DENSITY_PIECE, max(n, 1) * b)))
    if n > _DENSITY_PIECE:
        for r in range(b):
            for c in range(0, n, _DENSITY_PIECE):
                piece = d[r : r + 1, c : c + _DENSITY_PIECE]
                _density_piece(piece, scale, sigmas, out[r : r + 1], scratch)
        return
    step = max(1, _DENSITY_PIECE // n)
    for r in range(0, b, step):
        _density_piece(d[r : r + step], scale, sigmas, out[r : r + step], scratch)


def _check_scales(sigmas: np.ndarray, scales: tuple[float, float]) -> None:
    """The KL densities divide by the scales: refuse a space whose points all coincide."""
    if len(sigmas) and min(scales) <= 0:
        raise InputError(
            "All points of X (or of Z) coincide, so distances cannot be divided by their "
            "maximum; the KL measure is undefined."
        )


class _Densities:
    """The KL densities of blocks of rows, split between the pass's threads."""

    def __init__(self, sigmas, scales, workers: _Workers):
        self.sigmas = np.zeros(0) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
        self.scales = (float(scales[0]), float(scales[1]))
        _check_scales(self.sigmas, self.scales)
        self.workers = workers

    def block(self, dx, dz) -> np.ndarray:
        """Densities (b, 2, len(sigmas)) of the rows dx, dz (b, n)."""
        out = np.zeros((dx.shape[0], 2, len(self.sigmas)))
        if len(self.sigmas) == 0:
            return out

        def run(job):
            side, start, stop = job
            piece = np.empty((stop - start, len(self.sigmas)))
            _density_rows((dx, dz)[side][start:stop], self.scales[side], self.sigmas, piece)
            out[start:stop, side] = piece

        parts = self.workers.parts(dx.shape[0])
        self.workers.run(run, [(side, a, b) for side in (0, 1) for a, b in parts])
        return out


class _PerRow:
    """Per-row quantities of a pass over rows ``rows`` (all points, or a sample).

    sums (m, len(ks), 5), pair (m, 8), top (m, n_top) int64, dens (m, 2, len(sigmas)) in
    the bandwidth order given; ``hist`` (full-rank pass only): counts of max(r^X, r^Z)
    over all pairs, length n.
    """

    def __init__(self, rows, n_ks, n_top, n_sigmas):
        m = len(rows)
        self.rows = rows
        self.sums = np.zeros((m, n_ks, 5))
        self.pair = np.zeros((m, 8))
        self.top = np.zeros((m, n_top), dtype=np.int64)
        self.dens = np.zeros((m, 2, n_sigmas))
        self.hist: np.ndarray | None = None
        #: Distances (X, Z) of the sampled pairs (rows[r], pair_cols[r, c]), if asked.
        self.pair_d: list[np.ndarray] = []

    def gather(self, start, stop, dx, dz, pair_cols):
        """Keep the distances of the block's sampled pairs (for Spearman)."""
        cols = pair_cols[start:stop]
        self.pair_d.append(
            np.stack([np.take_along_axis(dx, cols, 1), np.take_along_axis(dz, cols, 1)])
        )


def _rank_pass(
    space_x: _Space,
    space_z: _Space,
    ks: np.ndarray,
    rows: np.ndarray | None = None,
    n_top: int = 0,
    sigmas: np.ndarray | None = None,
    scales: tuple[float, float] = (1.0, 1.0),
    block_rows: int | None = None,
    pair_cols: np.ndarray | None = None,
) -> _PerRow:
    """The top-k pass over the distance rows ``rows`` (default all, in order)."""
    n = space_x.n
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    kmax = int(max(ks.max(), n_top))
    with _Workers() as workers:
        densities = _Densities(sigmas, scales, workers)
        out = _PerRow(rows, len(ks), n_top, len(densities.sigmas))
        for start, stop, idx, dx, dz in _row_blocks(space_x, space_z, rows, block_rows, workers):
            _rank_block(
                dx, dz, idx, ks, kmax, out.sums[start:stop], out.pair[start:stop],
                out.top[start:stop],
            )  # fmt: skip
            out.dens[start:stop] = densities.block(dx, dz)
            if pair_cols is not None:
                out.gather(start, stop, dx, dz, pair_cols)
    return out


def _density_pass(
    space_x: _Space,
    space_z: _Space,
    sigmas: np.ndarray,
    scales: tuple[float, float],
    rows: np.ndarray | None = None,
    block_rows: int | None = None,
) -> np.ndarray:
    """Densities f_X, f_Z of the points ``rows`` (default all) at every σ, (m, 2, len(sigmas))."""
    n = space_x.n
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    dens = np.empty((len(rows), 2, len(sigmas)))
    with _Workers() as workers:
        densities = _Densities(sigmas, scales, workers)
        for start, stop, _, dx, dz in _row_blocks(space_x, space_z, rows, block_rows, workers):
            dens[start:stop] = densities.block(dx, dz)
    return dens


def _kl_pass(
    space_x: _Space,
    space_z: _Space,
    sigmas: np.ndarray,
    max_x: float,
    max_z: float,
    block_rows: int | None = None,
) -> np.ndarray:
    """Densities f_X, f_Z of every point at every σ, shape (n, 2, len(sigmas))."""
    return _density_pass(space_x, space_z, sigmas, (max_x, max_z), None, block_rows)
