"""The two chunked passes over pairwise distances behind the neighbourhood and density measures.

Compiled kernels select each row's nearest points in exact ``(distance, index)`` order, rank
them in the other space, and accumulate trustworthiness, continuity, MRRE and the KL
densities block by block (see the package docstring for why).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit, prange

# Inputs of at most this many columns get exact pairwise differences; wider ones the
# Gram trick (BLAS), whose rounding is harmless for ranks of distinct distances and
# whose ties between duplicate points are repaired explicitly (see _Space).
_DIRECT_MAX_DIM = 16
# Rows per block: a block holds a few (rows × n) float64 arrays.
_TARGET_BLOCK_BYTES = 32 * 2**20
# Largest float32 distance cache kept between the rank and the KL pass (saves
# recomputing the Gram rows; n = 10,000 needs 400 MB).
_CACHE_BYTES = 1024 * 2**20


@njit(cache=True, parallel=True)
def _direct_rows(A, start, stop, out):
    """Exact Euclidean distances of rows start..stop of A to all rows (no cancellation)."""
    n, d = A.shape
    for r in prange(stop - start):
        i = start + r
        for j in range(n):
            s = 0.0
            for c in range(d):
                t = A[i, c] - A[j, c]
                s += t * t
            out[r, j] = math.sqrt(s)


class _Space:
    """Rows of one space's distance matrix, computed on demand a block at a time."""

    def __init__(self, A: np.ndarray):
        self.A = A
        self.n = A.shape[0]
        self.direct = A.shape[1] <= _DIRECT_MAX_DIM
        self.rep = None
        if not self.direct:
            self.sq = np.einsum("ij,ij->i", A, A)
            # The Gram trick may give duplicate points slightly different distances; map
            # every point to its first copy so that copies tie exactly (and sit at 0).
            _, first, inverse = np.unique(A, axis=0, return_index=True, return_inverse=True)
            if len(first) < self.n:
                self.rep = first[inverse.reshape(-1)]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Distances of points start..stop to all points, shape (stop - start, n), float64."""
        if self.direct:
            out = np.empty((stop - start, self.n))
            _direct_rows(self.A, start, stop, out)
            return out
        g = self.A[start:stop] @ self.A.T
        g *= -2.0
        g += self.sq[start:stop, None]
        g += self.sq[None, :]
        np.maximum(g, 0.0, out=g)
        np.sqrt(g, out=g)
        if self.rep is not None:
            g = g[:, self.rep]
            g[self.rep[start:stop, None] == self.rep[None, :]] = 0.0
        else:
            g[np.arange(stop - start), np.arange(start, stop)] = 0.0
        return g


def _blocks(n: int, block_rows: int | None) -> list[tuple[int, int]]:
    if block_rows is None:
        block_rows = max(8, min(1024, _TARGET_BLOCK_BYTES // (8 * max(n, 1))))
    return [(s, min(s + block_rows, n)) for s in range(0, n, block_rows)]


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
def _row_stats(xrow, zrow, i, ks, kmax, sums, pair):
    """Neighbourhood sums and pairwise-distance moments of row i (see _rank_block).

    Kept out of the parallel loop's body so that its work arrays are private to the
    row (numba may hoist allocations out of a prange body and share them).
    """
    n = xrow.shape[0]
    top_x = np.empty(kmax, dtype=np.int64)
    top_z = np.empty(kmax, dtype=np.int64)
    _nearest(xrow, i, kmax, top_x)
    _nearest(zrow, i, kmax, top_z)
    rz_of_x = np.empty(kmax, dtype=np.int64)
    rx_of_z = np.empty(kmax, dtype=np.int64)
    _ranks_of(zrow, i, top_x, rz_of_x)
    _ranks_of(xrow, i, top_z, rx_of_z)
    for t in range(ks.shape[0]):
        k = ks[t]
        trust = 0.0
        cont = 0.0
        m_zx = 0.0
        m_xz = 0.0
        for p in range(k):
            own = p + 1
            rx = rx_of_z[p]
            rz = rz_of_x[p]
            if rx > k:
                trust += rx - k
            if rz > k:
                cont += rz - k
            m_zx += abs(rx - own) / own
            m_xz += abs(rz - own) / own
        sums[t, 0] = trust
        sums[t, 1] = cont
        sums[t, 2] = m_zx
        sums[t, 3] = m_xz
    s0 = s1 = s2 = s3 = s4 = s5 = 0.0
    mx = 0.0
    mz = 0.0
    for j in range(n):
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


@njit(cache=True, parallel=True)
def _rank_block(dx, dz, start, ks, kmax, sums, pair):
    """Per-row neighbourhood sums and pairwise-distance moments for one block of rows.

    sums[r, t, :] = (trust penalty, continuity penalty, MRRE Z→X, MRRE X→Z) at ks[t];
    pair[r, :] = (Σ(dx-dz)², Σdx², Σdz², Σdx·dz, Σdx, Σdz, max dx, max dz) over j != i.
    """
    for r in prange(dx.shape[0]):
        _row_stats(dx[r], dz[r], start + r, ks, kmax, sums[r], pair[r])


@njit(cache=True)
def _density_row(row, scale, sigmas, powers, out):
    """out[s] = Σ_j exp(-(row[j] / scale)² / sigmas[s]) (self term included).

    Bandwidths with powers[s] > 0 are sigmas[0] / powers[s]: their terms are integer
    powers of the first bandwidth's, one exp per entry instead of one per bandwidth.
    """
    ns = sigmas.shape[0]
    c0 = 1.0 / (scale * scale * sigmas[0])
    acc = np.zeros(ns)
    for j in range(row.shape[0]):
        v = np.float64(row[j])
        a = v * v
        base = math.exp(-a * c0)
        acc[0] += base
        for s in range(1, ns):
            q = powers[s]
            if q > 0:
                term = 1.0
                x = base
                while q > 0:  # base ** powers[s] by squaring
                    if q & 1:
                        term *= x
                    x *= x
                    q >>= 1
                acc[s] += term
            else:
                acc[s] += math.exp(-a / (scale * scale * sigmas[s]))
    for s in range(ns):
        out[s] = acc[s]


@njit(cache=True, parallel=True)
def _density_block(d, scale, sigmas, powers, out):
    """Densities of a block of distance rows (see _density_row)."""
    for r in prange(d.shape[0]):
        _density_row(d[r], scale, sigmas, powers, out[r])


def _sigma_powers(sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order bandwidths largest first and find those that are the first over an integer."""
    order = np.argsort(-sigmas, kind="stable")
    ordered = sigmas[order]
    ratio = ordered[0] / ordered
    powers = np.where(
        (np.abs(ratio - np.round(ratio)) < 1e-9 * ratio) & (ratio <= 1024), np.round(ratio), 0
    ).astype(np.int64)
    powers[0] = 1
    return ordered, powers, order


# --------------------------------------------------------------------------- passes


class _RankResult:
    """Sums of the rank pass: per-k measures and pairwise-distance moments."""

    def __init__(self, n: int, ks: np.ndarray, sums: np.ndarray, pair: np.ndarray):
        self.n = n
        self.ks = ks
        k = ks.astype(np.float64)
        trust_norm = 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
        self.trustworthiness = 1.0 - trust_norm * sums[:, 0]
        self.continuity = 1.0 - trust_norm * sums[:, 1]
        c = np.array(
            [
                n * np.sum(np.abs(2.0 * np.arange(1, kk + 1) - n - 1) / np.arange(1, kk + 1))
                for kk in ks
            ]
        )
        self.mrre_zx = sums[:, 2] / c
        self.mrre_xz = sums[:, 3] / c
        self.sq_diff, self.sxx, self.szz, self.sxz, self.sx, self.sz = pair[:6]
        self.max_x, self.max_z = pair[6], pair[7]
        self.n_pairs = n * (n - 1)
        #: float32 distance rows kept for the KL pass (X, Z), or None.
        self.caches: list[np.ndarray | None] = [None, None]

    @property
    def rmse(self) -> float:
        return math.sqrt(self.sq_diff / self.n**2)

    def stress(self, optimal_scale: bool) -> float:
        if self.sxx == 0:
            raise ValueError("All points of X coincide; stress is undefined.")
        if not optimal_scale:
            return math.sqrt(self.sq_diff / self.sxx)
        if self.szz == 0:
            return 1.0
        return math.sqrt(max(0.0, 1.0 - self.sxz**2 / (self.sxx * self.szz)))

    @property
    def correlation(self) -> float:
        m = self.n_pairs
        cov = self.sxz - self.sx * self.sz / m
        vx = self.sxx - self.sx**2 / m
        vz = self.szz - self.sz**2 / m
        if vx <= 0 or vz <= 0:
            return float("nan")
        return float(np.clip(cov / math.sqrt(vx * vz), -1.0, 1.0))


def _rank_pass(
    X: np.ndarray,
    Z: np.ndarray,
    ks: np.ndarray,
    block_rows: int | None = None,
    cache: bool = False,
) -> _RankResult:
    """One pass over all distance rows: neighbourhood measures and distance moments.

    With ``cache``, rows that are costly to recompute (Gram trick) are kept as float32
    for the KL pass while they fit in ``_CACHE_BYTES`` (a float32 rounding of a distance
    changes the densities by ~1e-7 relative, far below the KL's meaningful digits).
    """
    n = X.shape[0]
    space_x, space_z = _Space(X), _Space(Z)
    kmax = int(ks.max())
    sums = np.zeros((len(ks), 4))
    pair = np.zeros(8)
    caches: list[np.ndarray | None] = [None, None]
    budget = _CACHE_BYTES
    for side, space in enumerate((space_x, space_z)):
        if cache and not space.direct and 4 * n * n <= budget:
            caches[side] = np.empty((n, n), dtype=np.float32)
            budget -= 4 * n * n
    for start, stop in _blocks(n, block_rows):
        dx = space_x.rows(start, stop)
        dz = space_z.rows(start, stop)
        block_sums = np.empty((stop - start, len(ks), 4))
        block_pair = np.empty((stop - start, 8))
        _rank_block(dx, dz, start, ks, kmax, block_sums, block_pair)
        sums += block_sums.sum(axis=0)
        pair[:6] += block_pair[:, :6].sum(axis=0)
        pair[6] = max(pair[6], block_pair[:, 6].max())
        pair[7] = max(pair[7], block_pair[:, 7].max())
        for side, d in enumerate((dx, dz)):
            if caches[side] is not None:
                caches[side][start:stop] = d
    result = _RankResult(n, ks, sums, pair)
    result.caches = caches
    return result


def _max_distance(space: _Space, block_rows: int | None = None) -> float:
    best = 0.0
    for start, stop in _blocks(space.n, block_rows):
        best = max(best, float(space.rows(start, stop).max()))
    return best


def _kl_pass(
    X: np.ndarray,
    Z: np.ndarray,
    sigmas: np.ndarray,
    max_x: float,
    max_z: float,
    block_rows: int | None = None,
    caches: Sequence[np.ndarray | None] = (None, None),
) -> np.ndarray:
    """KL_σ for every σ, given each space's largest distance (and optional cached rows)."""
    if max_x == 0 or max_z == 0:
        raise ValueError(
            "All points of X (or of Z) coincide, so distances cannot be divided by their "
            "maximum; the KL measure is undefined."
        )
    n = X.shape[0]
    ordered, powers, order = _sigma_powers(sigmas)
    spaces = (_Space(X), _Space(Z))
    dens = [np.empty((n, len(sigmas))), np.empty((n, len(sigmas)))]
    for start, stop in _blocks(n, block_rows):
        for side, top in enumerate((max_x, max_z)):
            cached = caches[side]
            rows = cached[start:stop] if cached is not None else spaces[side].rows(start, stop)
            _density_block(rows, top, ordered, powers, dens[side][start:stop])
    fx, fz = (f / f.sum(axis=0) for f in dens)
    kl = np.empty(len(sigmas))
    kl[order] = np.sum(fx * np.log(fx / fz), axis=0)
    return kl
