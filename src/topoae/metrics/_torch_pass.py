"""The rank passes in torch: the same per-row quantities, on a GPU when there is one.

:func:`torch_pass` computes what the compiled passes compute (docs/method.md §7):
``_rank_pass`` (the top-k pass over any rows) and ``_full_pass`` (all rows with full
rankings, plus the co-ranking histogram), a block of rows at a time in float64 on a torch
device. Where the compiled passes select, heap and bucket row by row, a device sorts whole
rows: a stable sort of a distance row is its exact ``(distance, index)`` order, so each row
is sorted once per space and every rank, neighbour and histogram entry follows by scatter,
gather and bincount. :func:`torch_max_distance` is the diameter the KL densities divide by.

Distances are those of ``_Space.rows_of``: exact differences up to ``_DIRECT_MAX_DIM``
columns (summed column by column in the same order, so bit for bit the compiled values),
the float64 Gram trick above, with duplicate points mapped to their first copy so that
copies tie exactly at 0. The Gram products come from the device's BLAS, so wide spaces'
distances may differ from NumPy's in the last bits (harmless for the ranks of distinct
distances, and exact for integer data, where every product is).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from topoae.metrics._distances import _Space
from topoae.metrics._passes import _check_scales, _PerRow

__all__ = ["cuda_available", "torch_max_distance", "torch_pass"]

# Bytes of one (block × n) float64 array on the device. A block holds about ten arrays of
# that shape at once (two distance rows, sort keys and order, ranks, temporaries).
_DEVICE_BLOCK_BYTES = 256 * 2**20


def cuda_available() -> bool:
    """Whether torch sees a usable CUDA device (False when asking fails in any way)."""
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver or CUDA library: no device, not an error
        return False


def _sqrt_(t: torch.Tensor) -> torch.Tensor:
    """In-place square root, correctly rounded (IEEE) on every device.

    torch's CPU kernel (vectorised; torch 2.13, AVX-512) is one ulp off on about 0.5 % of
    float64 inputs (sqrt(32) among them), enough to order near-equal distances otherwise
    than the compiled passes and to miss the exact diameter; NumPy's and numba's are IEEE
    square roots, as CUDA's float64 one is. A contiguous CPU tensor shares its memory with
    NumPy: no copy.
    """
    if t.device.type == "cpu" and t.is_contiguous():
        a = t.numpy()
        np.sqrt(a, out=a)
        return t
    return t.sqrt_()


class _DeviceSpace:
    """One space's points on a device, handing out blocks of distance rows (see _Space)."""

    def __init__(self, A: np.ndarray | _Space, device: torch.device):
        # The host space's squared norms and copy map, computed once (evaluate has built
        # it already); only the products then differ from _Space's.
        host = A if isinstance(A, _Space) else _Space(np.ascontiguousarray(A, dtype=np.float64))
        self.n = host.n
        self.device = device
        self.A = torch.from_numpy(np.ascontiguousarray(host.A, dtype=np.float64)).to(device)
        self.direct = host.direct
        self.sq: torch.Tensor | None = None
        self.rep: torch.Tensor | None = None
        if not self.direct:
            self.sq = torch.from_numpy(host.sq).to(device)
            if host.rep is not None:
                self.rep = torch.from_numpy(host.rep).to(device)

    def direct_sq(self, idx: torch.Tensor, first: int = 0) -> torch.Tensor:
        """Squared distances of the points ``idx`` to points ``first`` on (direct path only).

        Column by column, as _direct_rows and _direct_max sum: the same float64 operations
        in the same order, hence the compiled values bit for bit (torch.cdist promises no
        order).
        """
        rows, cols = self.A[idx], self.A[first:]
        s = torch.zeros((len(idx), len(cols)), dtype=torch.float64, device=self.device)
        for c in range(self.A.shape[1]):
            t = rows[:, c, None] - cols[None, :, c]
            s += t * t
        return s

    def rows_of(self, idx: torch.Tensor) -> torch.Tensor:
        """Distances of the points ``idx`` (int64, on the device) to all points, (len(idx), n).

        The self distance is exactly 0 in both paths (the passes rely on it).
        """
        if self.direct:
            return _sqrt_(self.direct_sq(idx))
        A = self.A
        assert self.sq is not None
        g = A[idx] @ A.T
        g *= -2.0
        g += self.sq[idx, None]
        g += self.sq[None, :]
        _sqrt_(g.clamp_(min=0.0))
        if self.rep is not None:
            g = g[:, self.rep]
            rep_idx = self.rep[idx]
            g[rep_idx[:, None] == self.rep[None, :]] = 0.0
        else:
            g[torch.arange(len(idx), device=self.device), idx] = 0.0
        return g


def _device_blocks(n: int, total: int, block_rows: int | None) -> Iterator[tuple[int, int]]:
    """Row ranges covering ``total`` rows of an n-column distance matrix, by memory budget."""
    if block_rows is None:
        block_rows = _DEVICE_BLOCK_BYTES // (8 * max(n, 1))
    block_rows = max(1, min(int(block_rows), max(total, 1)))
    for start in range(0, total, block_rows):
        yield start, min(start + block_rows, total)


def _order_and_ranks(d: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's other points in exact (d, index) order and every point's rank in its row.

    Returns ``order`` (b, n - 1): the points other than ``idx[r]`` nearest first, and
    ``ranks`` (b, n): 1-based positions in that order, 0 for the point itself.
    """
    b, n = d.shape
    ar = torch.arange(b, device=d.device)
    # Distances are >= 0, and a stable sort breaks ties by index: with the self entry
    # (exactly 0) set to -1 for the sort, the point comes first even among its copies and
    # the rest is the exact (distance, index) order.
    d[ar, idx] = -1.0
    order = torch.sort(d, dim=1, stable=True).indices[:, 1:]
    d[ar, idx] = 0.0
    ranks = torch.empty((b, n), dtype=torch.int64, device=d.device)
    positions = torch.arange(1, n, dtype=torch.int64, device=d.device)
    ranks.scatter_(1, order, positions.expand(b, n - 1))
    ranks[ar, idx] = 0
    return order, ranks


def _k_sums(rx_of_z: torch.Tensor, rz_of_x: torch.Tensor, ks: np.ndarray) -> torch.Tensor:
    """sums (b, len(ks), 5) of the passes (see _passes._k_sums), from the nearest points' ranks.

    ``rx_of_z[r, p]`` is the X rank of row r's (p+1)-th nearest point in Z, ``rz_of_x`` the
    converse, both (b, kmax) with kmax >= max(ks).
    """
    b, kmax = rx_of_z.shape
    own = torch.arange(1, kmax + 1, dtype=torch.int64, device=rx_of_z.device)
    # MRRE terms do not depend on k: running sums give every k at once (on the CPU, a
    # sequential scan, the compiled loop's additions in its order).
    m_zx = torch.cumsum((rx_of_z - own).abs().double() / own.double(), dim=1)
    m_xz = torch.cumsum((rz_of_x - own).abs().double() / own.double(), dim=1)
    sums = torch.empty((b, len(ks), 5), dtype=torch.float64, device=rx_of_z.device)
    for t, k in enumerate(int(k) for k in ks):
        # Integer penalties and counts: exact in int64, as the compiled float sums of
        # integers are (far below 2**53).
        rx, rz = rx_of_z[:, :k], rz_of_x[:, :k]
        sums[:, t, 0] = (rx - k).clamp_(min=0).sum(dim=1)
        sums[:, t, 1] = (rz - k).clamp_(min=0).sum(dim=1)
        sums[:, t, 2] = m_zx[:, k - 1]
        sums[:, t, 3] = m_xz[:, k - 1]
        sums[:, t, 4] = (rz <= k).sum(dim=1)
    return sums


def _pair_moments(dx: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
    """pair (b, 8) = (Σ(dx-dz)², Σdx², Σdz², Σdx·dz, Σdx, Σdz, max dx, max dz) over j != i.

    The self entries are exactly 0 in both rows, so summing whole rows adds only zeros.
    """
    diff = dx - dz
    return torch.stack(
        [
            (diff * diff).sum(dim=1),
            (dx * dx).sum(dim=1),
            (dz * dz).sum(dim=1),
            (dx * dz).sum(dim=1),
            dx.sum(dim=1),
            dz.sum(dim=1),
            dx.amax(dim=1),
            dz.amax(dim=1),
        ],
        dim=1,
    )


def _densities(d: torch.Tensor, scale: float, sigmas: np.ndarray) -> torch.Tensor:
    """(b, len(sigmas)): Σ_j exp(-(d_j / scale)² / σ_s) (self term included), as _passes does."""
    a = d * d
    return torch.stack(
        [torch.exp(a * (-1.0 / (scale * scale * float(s)))).sum(dim=1) for s in sigmas], dim=1
    )


def torch_pass(
    X: np.ndarray | _Space,
    Z: np.ndarray | _Space,
    ks: np.ndarray,
    rows: np.ndarray | None = None,
    n_top: int = 0,
    sigmas: np.ndarray | None = None,
    scales: tuple[float, float] = (1.0, 1.0),
    block_rows: int | None = None,
    pair_cols: np.ndarray | None = None,
    full: bool = False,
    device: str | torch.device = "cpu",
) -> _PerRow:
    """The rank passes' per-row quantities, computed with torch on ``device``.

    Parameters
    ----------
    X : ndarray of shape (n, d), or its _Space
        Inputs (float64 after conversion); a _Space lends its squared norms and copy map.
    Z : ndarray of shape (n, q), or its _Space
        Their embedding.
    ks : ndarray of int64, shape (T,)
        Neighbourhood sizes, each between 1 and n - 1.
    rows : ndarray of int64, shape (m,), optional
        Rows to compute, any subset in any order (default all, in order). With ``full``,
        all points in order.
    n_top : int
        Nearest points in Z kept per row (``top``), at most n - 1.
    sigmas : ndarray of shape (S,), optional
        KL bandwidths, any order (``dens`` follows it).
    scales : tuple of float
        Largest distances of X and Z, which the KL densities divide by.
    block_rows : int, optional
        Rows per block (default: about 256 MB per (block × n) float64 array).
    pair_cols : ndarray of int64, shape (m, c), optional
        Sampled pairs (rows[r], pair_cols[r, c]) whose distances to gather (``pair_d``).
    full : bool
        Full rankings: also the co-ranking histogram ``hist`` (as ``_full_pass``).
    device : str or torch.device
        Where to compute; results come back to host NumPy arrays a block at a time.

    Returns
    -------
    _PerRow
        ``sums`` (m, T, 5), ``pair`` (m, 8), ``top`` (m, n_top), ``dens`` (m, 2, S),
        ``pair_d`` (one (2, b, c) array per block) and, with ``full``, ``hist`` (n,).
    """
    dev = torch.device(device)
    space_x, space_z = _DeviceSpace(X, dev), _DeviceSpace(Z, dev)
    n = space_x.n
    if full and rows is not None and not np.array_equal(rows, np.arange(n)):
        raise ValueError("the full pass runs over all rows in order (rows=None)")
    rows = np.arange(n) if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
    kmax = int(max(int(np.max(ks)), n_top))
    sigmas = np.zeros(0) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    _check_scales(sigmas, scales)
    out = _PerRow(rows, len(ks), n_top, len(sigmas))
    rows_dev = torch.from_numpy(rows).to(dev)
    cols_dev = None
    if pair_cols is not None:
        cols_dev = torch.from_numpy(np.ascontiguousarray(pair_cols, dtype=np.int64)).to(dev)
    hist = torch.zeros(n, dtype=torch.int64, device=dev) if full else None
    for start, stop in _device_blocks(n, len(rows), block_rows):
        idx = rows_dev[start:stop]
        dx, dz = space_x.rows_of(idx), space_z.rows_of(idx)
        ox, rx = _order_and_ranks(dx, idx)
        oz, rz = _order_and_ranks(dz, idx)
        if hist is not None:
            # A pair lies in both K-neighbourhoods from K = max(r^X, r^Z) on; the self
            # entries (both ranks 0) land in bin 0, which the compiled pass leaves empty.
            hist += torch.bincount(torch.maximum(rx, rz).reshape(-1), minlength=n)
            hist[0] -= stop - start
        rx_of_z = torch.gather(rx, 1, oz[:, :kmax])
        rz_of_x = torch.gather(rz, 1, ox[:, :kmax])
        del rx, rz, ox
        out.sums[start:stop] = _k_sums(rx_of_z, rz_of_x, ks).cpu().numpy()
        out.top[start:stop] = oz[:, :n_top].cpu().numpy()
        del oz
        out.pair[start:stop] = _pair_moments(dx, dz).cpu().numpy()
        if len(sigmas):
            dens = torch.stack(
                [_densities(dx, scales[0], sigmas), _densities(dz, scales[1], sigmas)], dim=1
            )
            out.dens[start:stop] = dens.cpu().numpy()
        if cols_dev is not None:
            cols = cols_dev[start:stop]
            out.pair_d.append(
                torch.stack([torch.gather(dx, 1, cols), torch.gather(dz, 1, cols)]).cpu().numpy()
            )
    if hist is not None:
        out.hist = hist.cpu().numpy()
    return out


def torch_max_distance(A: np.ndarray, device: str | torch.device = "cpu") -> float:
    """The largest pairwise distance of the rows of A, in float64 on ``device``.

    Over the distances the pass computes, a block of rows at a time: exact differences up
    to ``_DIRECT_MAX_DIM`` columns (bit for bit ``_max_distance``), the Gram trick above
    (so the KL scale is the largest distance the pass divides).

    Parameters
    ----------
    A : ndarray of shape (n, d)
        Points (float64 after conversion).
    device : str or torch.device
        Where to compute.

    Returns
    -------
    float
        The diameter (0 for fewer than two points).
    """
    space = _DeviceSpace(A, torch.device(device))
    n = space.n
    best = 0.0
    for start, stop in _device_blocks(n, n, None):
        idx = torch.arange(start, stop, device=space.device)
        if space.direct:
            # Each pair once (columns from the block's first row on); the root of the
            # largest squared distance is the largest distance (an IEEE root is monotone),
            # taken on the host as _direct_max takes it.
            best = max(best, math.sqrt(float(space.direct_sq(idx, start).max())))
        else:
            # Whole rows, as the pass computes them: Gram distances need not be symmetric
            # to the last bit.
            best = max(best, float(space.rows_of(idx).max()))
    return best
