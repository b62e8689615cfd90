"""Quality measures of an embedding: how well Z (n, k) keeps the structure of X (n, d).

The paper's measures (METHOD.md §7) and a few used by later work, as plain functions
``f(X, Z, *, k)`` plus the registry :data:`METRICS` and :func:`evaluate`, which computes
all of them in two chunked passes over the pairwise distances.

Definitions (Euclidean distances throughout):

- Ranks: each row of a distance matrix is sorted with a stable sort, so ties are broken by
  the index of the other point, and the point itself comes first even when it has
  duplicates. ``r(i, j)`` is the position of ``j`` in row ``i`` (self 0, nearest 1) and
  ``N_k(i)`` the points at positions 1…k.
- ``KL_σ``: each distance matrix is divided by its own largest entry; the density
  ``f(i) = Σ_j exp(-d_ij² / σ)`` (self term included) is normalised to sum 1; the value is
  ``Σ_i f_X(i) log(f_X(i) / f_Z(i))``.
- Trustworthiness(k) ``= 1 - 2 / (n k (2n - 3k - 1)) Σ_i Σ_{j ∈ N^Z_k(i) \\ N^X_k(i)}
  (r^X(i, j) - k)``; continuity(k) is the same with X and Z swapped.
- MRRE(k) with ``C = n Σ_{j=1..k} |2j - n - 1| / j``: Z→X ``= (1/C) Σ_i Σ_{j ∈ N^Z_k(i)}
  |r^X - r^Z| / r^Z`` and X→Z ``= (1/C) Σ_i Σ_{j ∈ N^X_k(i)} |r^X - r^Z| / r^X``.
- ``ℓ-RMSE = sqrt(Σ_ij (d^X_ij - d^Z_ij)² / n²)`` on raw distances.

How it is fast and lean: distances are computed a block of rows at a time (BLAS Gram trick
in float64 for high-dimensional inputs, exact differences for low-dimensional ones), and
per row only the ``k_max`` nearest points of each space are selected, in exact
``(distance, index)`` order; their ranks in the other space are found by one counting pass
over the row (binary search among the sorted neighbours). No ``n × n`` matrix is ever held.
The KL densities need the largest distance of each space first, hence a second pass.

Examples
--------
>>> import numpy as np
>>> from topoae import metrics
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 10))
>>> result = metrics.evaluate(X, 3.0 * X, ks=[10, 20], extra=False)
>>> result["trustworthiness"], abs(result["kl_0.1"]) < 1e-12
(1.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numba import njit, prange

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_SIGMAS",
    "METRICS",
    "continuity",
    "diagram_distances",
    "distance_correlation",
    "distance_rmse",
    "evaluate",
    "kl_divergence",
    "mrre",
    "reconstruction_mse",
    "stress",
    "triplet_accuracy",
    "trustworthiness",
    "wasserstein_distance",
]

#: The paper's neighbourhood sizes: k = 10, 20, …, 200.
DEFAULT_KS: tuple[int, ...] = tuple(range(10, 201, 10))
#: The paper's density bandwidths.
DEFAULT_SIGMAS: tuple[float, ...] = (0.01, 0.1, 1.0)

# Inputs of at most this many columns get exact pairwise differences; wider ones the
# Gram trick (BLAS), whose rounding is harmless for ranks of distinct distances and
# whose ties between duplicate points are repaired explicitly (see _Space).
_DIRECT_MAX_DIM = 16
# Rows per block: a block holds a few (rows × n) float64 arrays.
_TARGET_BLOCK_BYTES = 32 * 2**20
# Largest float32 distance cache kept between the rank and the KL pass (saves
# recomputing the Gram rows; n = 10,000 needs 400 MB).
_CACHE_BYTES = 1024 * 2**20


# --------------------------------------------------------------------------- validation


def _as_2d_float(a: Any, name: str) -> np.ndarray:
    """Return ``a`` as a C-contiguous float64 array of shape (n, features)."""
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}.")
    if a.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n, features), got shape {a.shape}; "
            "for one feature per point use a.reshape(-1, 1)."
        )
    a = np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float64)
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}).")
    if not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a).all(axis=1)))
        raise ValueError(f"{name} contains NaN or inf in {bad} row(s); remove or fix them.")
    return a


def _check_pair(X: Any, Z: Any) -> tuple[np.ndarray, np.ndarray]:
    X = _as_2d_float(X, "X")
    Z = _as_2d_float(Z, "Z")
    if X.shape[0] != Z.shape[0]:
        raise ValueError(
            f"X and Z must hold the same points: X has {X.shape[0]} rows, Z has {Z.shape[0]}. "
            "Row i of Z must be the embedding of row i of X."
        )
    if X.shape[0] < 2:
        raise ValueError(f"Need at least 2 points, got {X.shape[0]}.")
    return X, Z


def usable_ks(n: int, ks: Iterable[int] = DEFAULT_KS) -> tuple[int, ...]:
    """The neighbourhood sizes of ``ks`` that ``n`` points allow (``k <= (2n - 2) // 3``).

    The paper's k = 10…200 needs at least 301 points; a smaller test set keeps the sizes
    that fit (at least the largest allowed one), so its means run over fewer k.

    Examples
    --------
    >>> usable_ks(120)
    (10, 20, 30, 40, 50, 60, 70)
    """
    limit = (2 * n - 2) // 3
    if limit < 1:
        raise ValueError(f"Need at least 3 points for neighbourhood measures, got {n}.")
    kept = tuple(int(k) for k in ks if k <= limit)
    return kept or (limit,)


def _check_ks(ks: int | Iterable[int], n: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(list(ks) if not np.isscalar(ks) else ks))
    if arr.size == 0:
        raise ValueError("ks is empty; give at least one neighbourhood size.")
    if arr.dtype.kind not in "iu" and not np.all(arr == np.round(arr)):
        raise ValueError(f"Neighbourhood sizes k must be integers, got {arr.tolist()}.")
    arr = arr.astype(np.int64)
    if arr.min() < 1:
        raise ValueError(f"Neighbourhood sizes k must be >= 1, got {arr.min()}.")
    # Trustworthiness's normaliser 2n - 3k - 1 must stay positive (and k < n).
    k_limit = (2 * n - 2) // 3
    if arr.max() > k_limit:
        raise ValueError(
            f"Neighbourhood size k = {arr.max()} is too large for n = {n} points: "
            f"need k <= {k_limit} (so that 2n - 3k - 1 > 0). Use smaller ks or more points."
        )
    return arr


def _check_sigmas(sigmas: float | Iterable[float]) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(list(sigmas) if not np.isscalar(sigmas) else sigmas))
    arr = arr.astype(np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or arr.min() <= 0:
        raise ValueError(f"sigmas must be positive finite numbers, got {arr.tolist()}.")
    return arr


# --------------------------------------------------------------------------- distances


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


def _per_k(values: np.ndarray, k: int | Iterable[int]) -> float | np.ndarray:
    return float(values[0]) if np.isscalar(k) else values


# --------------------------------------------------------------------------- public measures


def trustworthiness(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Trustworthiness: are the embedding's neighbours true neighbours? (1 best, 0 worst).

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Inputs (flattened); any numeric dtype.
    Z : array-like of shape (n, q)
        Embedding, row i of Z belonging to row i of X.
    k : int or sequence of int
        Neighbourhood size(s), ``1 <= k <= (2n - 2) / 3``.

    Returns
    -------
    float, or ndarray of shape (len(k),) for a sequence of k
        ``1 - 2 / (n k (2n - 3k - 1)) Σ_i Σ_{j ∈ N^Z_k(i) \\ N^X_k(i)} (r^X(i, j) - k)``.
    """
    X, Z = _check_pair(X, Z)
    ks = _check_ks(k, X.shape[0])
    return _per_k(_rank_pass(X, Z, ks).trustworthiness, k)


def continuity(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Continuity: are the data's neighbours kept as neighbours? (1 best, 0 worst).

    Trustworthiness with X and Z swapped; parameters and returns as in
    :func:`trustworthiness`.
    """
    X, Z = _check_pair(X, Z)
    ks = _check_ks(k, X.shape[0])
    return _per_k(_rank_pass(X, Z, ks).continuity, k)


def mrre(X, Z, *, k: int | Sequence[int]) -> tuple[Any, Any]:
    """Mean relative rank errors (0 best), both directions.

    Parameters
    ----------
    X, Z, k
        As in :func:`trustworthiness`.

    Returns
    -------
    z_to_x, x_to_z : float, or ndarray of shape (len(k),) each
        ``(1/C) Σ_i Σ_{j ∈ N^Z_k(i)} |r^X - r^Z| / r^Z`` and the same over ``N^X_k(i)``
        divided by ``r^X``, with ``C = n Σ_{j=1..k} |2j - n - 1| / j``.
    """
    X, Z = _check_pair(X, Z)
    ks = _check_ks(k, X.shape[0])
    result = _rank_pass(X, Z, ks)
    return _per_k(result.mrre_zx, k), _per_k(result.mrre_xz, k)


def kl_divergence(X, Z, *, sigma: float | Sequence[float]) -> float | np.ndarray:
    """KL divergence between the Gaussian density estimates of X and Z (0 best).

    Parameters
    ----------
    X, Z : array-like
        As in :func:`trustworthiness`.
    sigma : float or sequence of float
        Bandwidth(s) on distances divided by each space's largest distance.

    Returns
    -------
    float, or ndarray of shape (len(sigma),)
        ``Σ_i f_X(i) log(f_X(i) / f_Z(i))`` with ``f(i) ∝ Σ_j exp(-d_ij² / σ)``.
    """
    X, Z = _check_pair(X, Z)
    sigmas = _check_sigmas(sigma)
    max_x, max_z = _max_distance(_Space(X)), _max_distance(_Space(Z))
    values = _kl_pass(X, Z, sigmas, max_x, max_z)
    return float(values[0]) if np.isscalar(sigma) else values


def distance_rmse(X, Z) -> float:
    """``ℓ-RMSE = sqrt(Σ_ij (d^X_ij - d^Z_ij)² / n²)`` on raw distances (0 best).

    Scale-dependent: an embedding at another scale than the data scores badly.
    """
    X, Z = _check_pair(X, Z)
    return _rank_pass(X, Z, np.array([1])).rmse


def stress(X, Z, *, optimal_scale: bool = True) -> float:
    """Normalised stress of the pairwise distances (0 best).

    ``sqrt(Σ_ij (d^X_ij - α d^Z_ij)² / Σ_ij d^X_ij²)``, with ``α`` the least-squares scale
    ``Σ d^X d^Z / Σ (d^Z)²`` when ``optimal_scale`` (so an embedding's arbitrary scale does
    not count), else ``α = 1`` (Kruskal's stress-1 on raw distances).
    """
    X, Z = _check_pair(X, Z)
    return _rank_pass(X, Z, np.array([1])).stress(optimal_scale)


def distance_correlation(X, Z) -> float:
    """Pearson correlation of the pairwise distances of X and Z over all pairs (1 best)."""
    X, Z = _check_pair(X, Z)
    return _rank_pass(X, Z, np.array([1])).correlation


def triplet_accuracy(X, Z, *, n_triplets: int = 10_000, random_state: int | None = 0) -> float:
    """Fraction of random triplets whose distance order is kept (1 best, 0.5 chance).

    For triplets ``(i, j, l)`` of distinct points drawn uniformly, the triplet counts as
    kept when ``sign(d^X_ij - d^X_il) == sign(d^Z_ij - d^Z_il)``.

    Parameters
    ----------
    X, Z : array-like
        As in :func:`trustworthiness`; needs n >= 3.
    n_triplets : int
        Number of triplets drawn (with replacement across triplets).
    random_state : int or None
        Seed of ``numpy.random.default_rng``.
    """
    X, Z = _check_pair(X, Z)
    n = X.shape[0]
    if n < 3:
        raise ValueError(f"triplet_accuracy needs at least 3 points, got {n}.")
    if n_triplets < 1:
        raise ValueError(f"n_triplets must be >= 1, got {n_triplets}.")
    rng = np.random.default_rng(random_state)
    i = rng.integers(0, n, n_triplets)
    j = (i + rng.integers(1, n, n_triplets)) % n
    # l uniform among the n - 2 points other than i and j.
    l = rng.integers(0, n - 2, n_triplets)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    l = l + (l >= lo)
    l = l + (l >= hi)

    def order(A):
        dij = np.sqrt(np.sum((A[i] - A[j]) ** 2, axis=1))
        dil = np.sqrt(np.sum((A[i] - A[l]) ** 2, axis=1))
        return np.sign(dij - dil)

    return float(np.mean(order(X) == order(Z)))


def reconstruction_mse(X, X_hat) -> float:
    """Data MSE: mean of ``(X - X_hat)²`` over all entries (0 best).

    Parameters
    ----------
    X, X_hat : array-like of the same number of rows and values per row
        Inputs and their reconstructions; images are flattened.
    """
    X = _as_2d_float(X, "X")
    X_hat = _as_2d_float(X_hat, "X_hat")
    if X.shape != X_hat.shape:
        raise ValueError(
            f"X and X_hat must have the same shape after flattening: {X.shape} vs {X_hat.shape}."
        )
    return float(np.mean((X - X_hat) ** 2))


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

    from topoae.topology import persistence_diagrams

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


# --------------------------------------------------------------------------- evaluate


def _sigma_key(sigma: float) -> str:
    return f"kl_{sigma:g}"


def evaluate(
    X,
    Z,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    sigmas: Iterable[float] = DEFAULT_SIGMAS,
    X_hat=None,
    extra: bool = True,
    diagrams: bool = False,
    n_triplets: int = 10_000,
    n_subsample: int | None = 1000,
    random_state: int | None = 0,
    block_rows: int | None = None,
) -> dict[str, Any]:
    """All quality measures of an embedding, in two chunked passes over the distances.

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Test inputs (flattened), any numeric dtype.
    Z : array-like of shape (n, q)
        Their embedding.
    ks : iterable of int
        Neighbourhood sizes (default 10, 20, …, 200); each must be <= (2n - 2) / 3.
    sigmas : iterable of float
        KL bandwidths (default 0.01, 0.1, 1).
    X_hat : array-like, optional
        Reconstructions of X; adds ``data_mse``.
    extra : bool
        Add ``stress``, ``distance_correlation`` (both free from the same pass) and
        ``triplet_accuracy``.
    diagrams : bool
        Add the diagram distances of :func:`diagram_distances` (H0 and H1 on
        ``n_subsample`` points; seconds to minutes, needs the ``tda`` extra).
    n_triplets, n_subsample, random_state
        Passed to :func:`triplet_accuracy` and :func:`diagram_distances`.
    block_rows : int, optional
        Rows per block of distances (default: about 32 MB per block).

    Returns
    -------
    dict
        The paper's table values (means over ``ks``): ``kl_0.01``, ``kl_0.1``, ``kl_1``
        (one ``kl_<σ:g>`` per sigma), ``mrre`` (mean over both directions and all k),
        ``continuity``, ``trustworthiness``, ``rmse``; the directions ``mrre_zx``,
        ``mrre_xz``; per-k lists aligned with ``ks``: ``trustworthiness_per_k``,
        ``continuity_per_k``, ``mrre_zx_per_k``, ``mrre_xz_per_k``, and ``ks`` itself;
        optionally ``data_mse``, ``stress``, ``distance_correlation``,
        ``triplet_accuracy``, ``wasserstein_h0``, ``bottleneck_h0``, ``wasserstein_h1``,
        ``bottleneck_h1``. All values are plain Python floats / lists (JSON-ready).
    """
    X, Z = _check_pair(X, Z)
    ks_arr = _check_ks(list(ks), X.shape[0])
    sigma_arr = _check_sigmas(list(sigmas))
    ranks = _rank_pass(X, Z, ks_arr, block_rows, cache=True)
    kl = _kl_pass(X, Z, sigma_arr, ranks.max_x, ranks.max_z, block_rows, ranks.caches)
    ranks.caches = [None, None]
    result: dict[str, Any] = {_sigma_key(s): float(v) for s, v in zip(sigma_arr, kl, strict=True)}
    result.update(
        mrre=float((ranks.mrre_zx.mean() + ranks.mrre_xz.mean()) / 2.0),
        continuity=float(ranks.continuity.mean()),
        trustworthiness=float(ranks.trustworthiness.mean()),
        rmse=ranks.rmse,
        mrre_zx=float(ranks.mrre_zx.mean()),
        mrre_xz=float(ranks.mrre_xz.mean()),
        ks=[int(k) for k in ks_arr],
        trustworthiness_per_k=ranks.trustworthiness.tolist(),
        continuity_per_k=ranks.continuity.tolist(),
        mrre_zx_per_k=ranks.mrre_zx.tolist(),
        mrre_xz_per_k=ranks.mrre_xz.tolist(),
    )
    if X_hat is not None:
        result["data_mse"] = reconstruction_mse(X, X_hat)
    if extra:
        result["stress"] = ranks.stress(True)
        result["distance_correlation"] = ranks.correlation
        if X.shape[0] >= 3:
            result["triplet_accuracy"] = triplet_accuracy(
                X, Z, n_triplets=n_triplets, random_state=random_state
            )
    if diagrams:
        result.update(diagram_distances(X, Z, n_subsample=n_subsample, random_state=random_state))
    return result


#: Name -> measure. Neighbourhood measures take ``k``, KL takes ``sigma``.
METRICS: dict[str, Callable[..., Any]] = {
    "kl_divergence": kl_divergence,
    "trustworthiness": trustworthiness,
    "continuity": continuity,
    "mrre": mrre,
    "distance_rmse": distance_rmse,
    "stress": stress,
    "distance_correlation": distance_correlation,
    "triplet_accuracy": triplet_accuracy,
    "diagram_distances": diagram_distances,
    "reconstruction_mse": reconstruction_mse,
}
