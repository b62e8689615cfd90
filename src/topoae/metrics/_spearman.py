"""Spearman correlation of the pairwise distances: exact on all pairs, or from sampled pairs.

Exact needs every one of the n (n - 1) / 2 distances at once (a global ranking), so beyond
``max_pairs`` pairs it is estimated from a seeded sample of pairs drawn uniformly with
replacement: an i.i.d. sample from the fixed population of pairs, whose rank correlation
estimates the all-pairs one, with the Fisher-z half-width ``1.96 sqrt(1.06 / (m - 3))``
(Fieller, Hartley and Pearson's variance for Spearman's rho) mapped back to rho.
"""

from __future__ import annotations

import math

import numpy as np

from topoae.metrics._distances import _blocks, _Space
from topoae.metrics._reduce import Z95

#: Largest number of pairs ranked exactly (three float64 arrays of this length).
MAX_EXACT_PAIRS = 5_000_000
#: Pairs drawn when estimating (half-width about 0.002 at rho = 0).
SAMPLE_PAIRS = 1_000_000


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(np.clip(a @ b / denominator, -1.0, 1.0)) if denominator > 0 else float("nan")


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x, ties given their average rank (as ``scipy.stats.rankdata``).

    A plain (unstable) sort suffices, since tied values share one rank whatever their
    order; NumPy's vectorised sort makes this several times faster than ``rankdata``.
    """
    order = np.argsort(x)
    xs = x[order]
    new = np.empty(len(x), dtype=bool)
    new[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(x)))
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def _all_pairs(space: _Space) -> np.ndarray:
    """Distances of all pairs i < j, row by row (the upper triangle)."""
    n = space.n
    out = np.empty(n * (n - 1) // 2)
    pos = 0
    for start, stop in _blocks(n, None):
        d = space.rows(start, stop)
        for r, i in enumerate(range(start, stop)):
            out[pos : pos + n - i - 1] = d[r, i + 1 :]
            pos += n - i - 1
    return out


def _pair_distances(A: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Distances of the pairs (i[t], j[t]), shape (len(i),)."""
    out = np.empty(len(i))
    step = max(1, 2**16 // A.shape[1])  # 512 KB of differences at a time: stays in cache
    for s in range(0, len(i), step):
        diff = A[i[s : s + step]] - A[j[s : s + step]]
        out[s : s + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def spearman(
    space_x: _Space,
    space_z: _Space,
    *,
    max_pairs: int = MAX_EXACT_PAIRS,
    n_pairs: int = SAMPLE_PAIRS,
    random_state: int | None = 0,
) -> tuple[float, float, bool]:
    """(rho, 95 % half-width, estimated) for the distances of X and Z over all pairs.

    Ties get average ranks (as ``scipy.stats.spearmanr``).
    """
    n = space_x.n
    if n * (n - 1) // 2 <= max_pairs:
        dx, dz = _all_pairs(space_x), _all_pairs(space_z)
        return _pearson(_average_ranks(dx), _average_ranks(dz)), 0.0, False
    rng = np.random.default_rng(random_state)
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # j != i, uniform over the others
    rho, half = from_pairs(_pair_distances(space_x.A, i, j), _pair_distances(space_z.A, i, j))
    return rho, half, True


def pair_columns(rows: np.ndarray, n: int, n_pairs: int, random_state) -> np.ndarray:
    """For each row i, ``ceil(n_pairs / len(rows))`` random other points j (uniform, j != i).

    The passes gather these pairs' distances from the rows they compute anyway, so the
    sampled Spearman costs no extra distance work.
    """
    per_row = -(-n_pairs // len(rows))
    rng = np.random.default_rng(random_state)
    return (rows[:, None] + rng.integers(1, n, (len(rows), per_row))) % n


def from_pairs(dx: np.ndarray, dz: np.ndarray) -> tuple[float, float]:
    """Spearman's rho of sampled pair distances and its Fisher-z 95 % half-width."""
    dx, dz = dx.reshape(-1), dz.reshape(-1)
    rho = _pearson(_average_ranks(dx), _average_ranks(dz))
    half = Z95 * math.sqrt(1.06 / max(len(dx) - 3, 1)) * (1.0 - rho**2)
    return rho, float(half)
