"""Persistence pairs on the device: Prim's minimum spanning tree as one Triton program per matrix.

On a CUDA tensor the 0-dimensional pairs (docs/method.md §2) are computed where the matrix
lives, so that a training step never copies distances to the host nor waits for the device.
The kernel keeps, for every vertex, its cheapest known edge into the tree in registers (one
block of ``BLOCK >= m`` lanes), and adds one vertex per iteration, m − 1 iterations in all.
Ties follow the same strict total order as the compiled CPU Prim (:mod:`topoae.core.topology`):
edges compare by ``(A[i, j], i, j)`` with ``i < j``, so both return the identical tree, and the
edges are put into filtration order by two stable device sorts.

Why Prim in one program rather than a batched Borůvka: a minibatch is small (m ≤ 1,024 in
practice), its whole frontier fits one block of registers, and Prim needs no atomics or
component relabelling; the batch dimension (several matrices) runs as parallel programs.

Triton is optional (it ships with PyTorch's CUDA builds; the ``gpu-test`` extra installs it
for the CPU tests): with ``TRITON_INTERPRET=1`` the same kernel runs on CPU tensors, which is
how the tests check it against the numba kernel on a machine without a GPU.
"""

from __future__ import annotations

import os

import torch

from topoae.errors import InputError, MissingDependencyError

__all__ = ["available", "device_pairs", "tree_edges_in_filtration_order"]

try:  # pragma: no cover - depends on the installation
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover
    triton = None
    tl = None


def available(tensor: torch.Tensor) -> bool:
    """Whether the Triton kernel can pair ``tensor`` where it lives (CUDA, or the interpreter)."""
    if triton is None:
        return False
    if tensor.device.type == "cuda":
        return True
    return tensor.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1"


if triton is not None:

    @triton.jit
    def _prim_kernel(
        dist_ptr,
        parent_ptr,
        m,
        stride_batch,
        stride_row,
        stride_col,
        BLOCK: tl.constexpr,
    ):
        # One program per matrix of the batch.
        base = dist_ptr + tl.program_id(0) * stride_batch
        lanes = tl.arange(0, BLOCK)
        outside = (lanes < m) & (lanes != 0)  # vertices not yet in the tree; the root is 0
        best = tl.full([BLOCK], float("inf"), dist_ptr.dtype.element_ty)
        parent = tl.full([BLOCK], -1, tl.int32)
        current = tl.program_id(0) * 0  # an int32 scalar: the vertex that joined last
        for _ in range(1, m):
            # The candidate edge (current, v), read from the upper triangle like the CPU Prim.
            low = tl.minimum(lanes, current)
            high = tl.maximum(lanes, current)
            weight = tl.load(base + low * stride_row + high * stride_col, mask=outside, other=0.0)
            known_low = tl.minimum(parent, lanes)
            known_high = tl.maximum(parent, lanes)
            tie_wins = (low < known_low) | ((low == known_low) & (high < known_high))
            better = outside & ((weight < best) | ((weight == best) & tie_wins))
            best = tl.where(better, weight, best)
            parent = tl.where(better, current, parent)
            # The next vertex: the least (weight, sorted endpoints) edge into the tree. An edge
            # determines its outside endpoint (the other one is in the tree), so it is unique.
            frontier = tl.where(outside, best, float("inf"))
            least = tl.min(frontier, axis=0)
            key = tl.minimum(parent, lanes) * m + tl.maximum(parent, lanes)
            key = tl.where(outside & (frontier == least), key, 2147483647)
            least_key = tl.min(key, axis=0)
            current = tl.min(tl.where(key == least_key, lanes, BLOCK), axis=0)
            outside = outside & (lanes != current)
        tl.store(parent_ptr + tl.program_id(0) * m + lanes, parent, mask=lanes < m)


def _parents(dist: torch.Tensor) -> torch.Tensor:
    """Prim's parent array per matrix, shape ``(b, m)`` int32, ``parent[:, 0] = -1``."""
    if triton is None:
        raise MissingDependencyError(
            "Pairing on the device needs Triton (it ships with PyTorch's CUDA builds): "
            "pip install 'topoae[gpu-test]'."
        )
    batch, m, _ = dist.shape
    if m * m >= 2**31:
        raise InputError(f"m = {m} points are too many for one device pairing (m² ≥ 2³¹).")
    parent = torch.empty((batch, m), dtype=torch.int32, device=dist.device)
    block = max(16, triton.next_power_of_2(m))
    # More warps for wide blocks keep the per-thread register share of the frontier small.
    warps = 4 if block <= 1024 else (8 if block <= 4096 else 16)
    _prim_kernel[(batch,)](
        dist, parent, m, dist.stride(0), dist.stride(1), dist.stride(2), BLOCK=block,
        num_warps=warps,
    )  # fmt: skip
    return parent


def tree_edges_in_filtration_order(dist: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
    """The tree's edges ``(i, j)``, ``i < j``, sorted by ``(dist[i, j], i, j)``, on the device.

    Parameters
    ----------
    dist : torch.Tensor of shape (b, m, m)
    parent : torch.Tensor of shape (b, m), integer, ``parent[:, 0] = -1``

    Returns
    -------
    torch.Tensor of shape (b, m - 1, 2), int64
    """
    batch, m, _ = dist.shape
    vertex = torch.arange(1, m, device=dist.device).expand(batch, m - 1)
    tree_parent = parent[:, 1:].long()
    i = torch.minimum(tree_parent, vertex)
    j = torch.maximum(tree_parent, vertex)
    weight = dist[torch.arange(batch, device=dist.device)[:, None], i, j]
    # Sort by (i, j), then stably by weight: the order (weight, i, j), with no host round trip.
    by_index = torch.sort(i * m + j, dim=1, stable=True).indices
    by_weight = torch.sort(weight.gather(1, by_index), dim=1, stable=True).indices
    order = by_index.gather(1, by_weight)
    return torch.stack([i.gather(1, order), j.gather(1, order)], dim=-1)


def device_pairs(dist: torch.Tensor) -> torch.Tensor:
    """0-dimensional persistence pairs of a (batch of) distance matrix, computed on its device.

    The same pairs as :func:`topoae.core.topology.persistence_pairs` (identical tie order),
    without a host synchronisation: values are not inspected, so validate them beforehand
    if they are not known to be finite, non-negative and symmetric.

    Parameters
    ----------
    dist : torch.Tensor of shape (m, m) or (b, m, m)
        Float distances on a CUDA device (or on the CPU under ``TRITON_INTERPRET=1``);
        only the upper triangle is read.

    Returns
    -------
    torch.Tensor of shape (m - 1, 2) or (b, m - 1, 2), int64, on ``dist``'s device
    """
    if dist.ndim not in (2, 3) or dist.shape[-1] != dist.shape[-2]:
        raise InputError(f"Expected a square matrix (m, m) or a batch (b, m, m), got {dist.shape}.")
    single = dist.ndim == 2
    batch = dist[None] if single else dist
    if not batch.is_floating_point() or batch.dtype in (torch.float16, torch.bfloat16):
        batch = batch.to(torch.float64 if not batch.is_floating_point() else torch.float32)
    if batch.shape[-1] < 2:
        pairs = torch.empty((batch.shape[0], 0, 2), dtype=torch.int64, device=dist.device)
    else:
        pairs = tree_edges_in_filtration_order(batch, _parents(batch))
    return pairs[0] if single else pairs
