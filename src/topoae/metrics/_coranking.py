"""The full-rank pass: every point's rank in both spaces, row by row, for the co-ranking curve.

Q_NX(K) for every K up to n - 1 (and so R_NX's area) needs, for each row i and every
other point j, both ranks r^X(i, j) and r^Z(i, j): the pair lies in both K-neighbourhoods
exactly for K >= max(r^X, r^Z), so a histogram of that maximum over all pairs, summed up,
is the whole curve. This needs O(n) memory per row and two sorts of each row.

The sorts: a row's keys ``(float32 bits of the distance) << 32 | index`` are sorted as plain
int64 (NumPy's vectorised sort, far faster than an argsort). Rounding to float32 is
monotone, so the result is already in exact float64 ``(distance, index)`` order except
inside runs of equal float32 distance, which a compiled pass re-sorts by the float64
distance (short runs; exact ties are already in index order and cost one comparison each).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import get_num_threads, njit, prange

from topoae.metrics._distances import _blocks, _Space
from topoae.metrics._passes import _density_args, _PerRow, _row_tail

_LOW32 = np.int64(0xFFFFFFFF)


@njit(cache=True, parallel=True)
def _make_keys(bits, keys):
    """keys[r, j] = bits[r, j] << 32 | j, with -0.0 (sign bit only) read as +0.0."""
    for r in prange(bits.shape[0]):
        for j in range(bits.shape[1]):
            b = bits[r, j]
            if b < 0:  # only -0.0 (distances are >= 0)
                b = 0
            keys[r, j] = (np.int64(b) << 32) | j


def _sorted_keys(d: np.ndarray, pool: ThreadPoolExecutor | None) -> np.ndarray:
    """Per row, the int64 keys (float32 distance bits, index) in ascending order."""
    keys = np.empty(d.shape, dtype=np.int64)
    _make_keys(d.astype(np.float32).view(np.int32), keys)
    if pool is None or len(keys) < 2:
        keys.sort(axis=1)
        return keys
    # NumPy releases the GIL while sorting: one slice of rows per thread.
    parts = [p for p in np.array_split(np.arange(len(keys)), pool._max_workers) if len(p)]
    list(pool.map(lambda p: keys[p[0] : p[-1] + 1].sort(axis=1), parts))
    return keys


@njit(cache=True)
def _exact_order(keys, d, i, order):
    """Points other than i in exact (d, index) order, from keys sorted by (float32 d, index)."""
    n = keys.shape[0]
    p = 0
    q = 0
    while p < n:
        high = keys[p] >> 32
        e = p + 1
        while e < n and (keys[e] >> 32) == high:
            e += 1
        first = q
        for s in range(p, e):
            j = keys[s] & _LOW32
            if j != i:
                order[q] = j
                q += 1
        for a in range(first + 1, q):  # insertion sort: no moves when already ordered
            j = order[a]
            v = d[j]
            b = a - 1
            while b >= first and (d[order[b]] > v or (d[order[b]] == v and order[b] > j)):
                order[b + 1] = order[b]
                b -= 1
            order[b + 1] = j
        p = e


@njit(cache=True)
def _full_row(xrow, zrow, kx, kz, i, ks, kmax, hist, sums, pair, top, scales, sigmas, powers, dens):
    """All per-row quantities of row i from its full rankings; adds max(r^X, r^Z) to hist."""
    n = xrow.shape[0]
    ox = np.empty(n - 1, dtype=np.int64)
    oz = np.empty(n - 1, dtype=np.int64)
    _exact_order(kx, xrow, i, ox)
    _exact_order(kz, zrow, i, oz)
    rx = np.empty(n, dtype=np.int64)
    rz = np.empty(n, dtype=np.int64)
    for p in range(n - 1):
        rx[ox[p]] = p + 1
        rz[oz[p]] = p + 1
    for j in range(n):
        if j != i:
            hist[max(rx[j], rz[j])] += 1
    rx_of_z = np.empty(kmax, dtype=np.int64)
    rz_of_x = np.empty(kmax, dtype=np.int64)
    for p in range(kmax):
        rx_of_z[p] = rx[oz[p]]
        rz_of_x[p] = rz[ox[p]]
    _row_tail(
        xrow, zrow, i, rx_of_z, rz_of_x, oz, ks, sums, pair, top, scales, sigmas, powers, dens
    )


@njit(cache=True, parallel=True)
def _full_block(dx, dz, kx, kz, idx, ks, kmax, hist, sums, pair, top, scales, sigmas, powers, dens):
    """_full_row for a block of rows; hist has one row per worker (no shared writes)."""
    workers = hist.shape[0]
    for w in prange(workers):
        for r in range(w, dx.shape[0], workers):
            _full_row(
                dx[r], dz[r], kx[r], kz[r], idx[r], ks, kmax, hist[w], sums[r], pair[r],
                top[r], scales, sigmas, powers, dens[r],
            )  # fmt: skip


def _full_pass(
    space_x: _Space,
    space_z: _Space,
    ks: np.ndarray,
    n_top: int = 0,
    sigmas: np.ndarray | None = None,
    scales: tuple[float, float] = (1.0, 1.0),
    block_rows: int | None = None,
    pair_cols: np.ndarray | None = None,
) -> _PerRow:
    """Every row's full rankings: the top-k pass's per-row quantities plus the histogram."""
    n = space_x.n
    kmax = int(max(ks.max(), n_top))
    ordered, powers, order, scale_arr = _density_args(sigmas, scales)
    out = _PerRow(np.arange(n), len(ks), n_top, len(ordered))
    workers = max(1, get_num_threads())
    hist = np.zeros((workers, n), dtype=np.int64)
    threads = min(workers, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        for start, stop in _blocks(n, block_rows):
            idx = out.rows[start:stop]
            dx, dz = space_x.rows_of(idx), space_z.rows_of(idx)
            kx, kz = _sorted_keys(dx, pool), _sorted_keys(dz, pool)
            dens = np.zeros((stop - start, 2, len(ordered)))
            _full_block(
                dx, dz, kx, kz, idx, ks, kmax, hist, out.sums[start:stop],
                out.pair[start:stop], out.top[start:stop], scale_arr, ordered, powers, dens,
            )  # fmt: skip
            out.dens[start:stop][:, :, order] = dens
            if pair_cols is not None:
                out.gather(start, stop, dx, dz, pair_cols)
    finally:
        if pool is not None:
            pool.shutdown()
    out.hist = hist.sum(axis=0)
    return out
