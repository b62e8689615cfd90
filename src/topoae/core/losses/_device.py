"""The topological term computed where the batch lives, with no host synchronisation.

Used for CUDA tensors when Triton is present: both pairings run on the device
(:mod:`topoae.core._device_prim`), the loss gathers the differentiable distances at the
pairs (docs/method.md §3), and the parts stay 0-d tensors, so that the training loop can
read them back once per epoch instead of once per step.
"""

from __future__ import annotations

import torch

from topoae.core._device_prim import available, device_pairs
from topoae.errors import InputError

__all__ = ["device_pairing_available", "device_topological_terms"]


def device_pairing_available(tensor: torch.Tensor) -> bool:
    """Whether :func:`device_topological_terms` can run where ``tensor`` lives (CUDA + Triton)."""
    return tensor.device.type == "cuda" and available(tensor)


def _safe_norm(diff: torch.Tensor) -> torch.Tensor:
    # Zero value and zero gradient where two points coincide (as the CPU paths do).
    squared = diff.pow(2).sum(-1)
    positive = squared > 0
    root = squared.clamp_min(torch.finfo(squared.dtype).tiny).sqrt()
    return torch.where(positive, root, torch.zeros_like(root))


def device_topological_terms(
    dist_x: torch.Tensor,
    latent: torch.Tensor,
    latent_scale: torch.Tensor | float,
    match_edges: str = "symmetric",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``L_topo`` and its parts for a batch, all on the device, as 0-d tensors.

    Parameters
    ----------
    dist_x : torch.Tensor of shape (m, m)
        Normalised data-space distances (a constant: no gradient flows into it).
    latent : torch.Tensor of shape (m, k)
        Latent codes; gradients reach them through the ``2 (m − 1)`` selected distances.
    latent_scale : torch.Tensor or float
        Latent distances are divided by it (the model's learnable ``latent_norm``).
    match_edges : {"symmetric", "x_to_z", "z_to_x", "signature"}

    Returns
    -------
    total, x_to_z, z_to_x : torch.Tensor, scalar
        As :class:`~topoae.core.losses.TopologicalLossTerms` (not divided by m).
    shared_edges : torch.Tensor, scalar int64
        Tree edges the two spaces share.
    """
    m = latent.shape[0]
    with torch.no_grad():
        latent_dist = torch.cdist(latent.detach(), latent.detach())
        pairs_x = device_pairs(dist_x.detach())
        pairs_z = device_pairs(latent_dist)
        shared = torch.isin(pairs_z[:, 0] * m + pairs_z[:, 1], pairs_x[:, 0] * m + pairs_x[:, 1])
    pairs = torch.cat([pairs_x, pairs_z])
    n_x = len(pairs_x)
    values_x = dist_x.detach()[pairs[:, 0], pairs[:, 1]]
    values_z = (_safe_norm(latent[pairs[:, 0]] - latent[pairs[:, 1]]) / latent_scale).to(
        values_x.dtype
    )
    x_at_x, x_at_z = values_x[:n_x], values_x[n_x:]
    z_at_x, z_at_z = values_z[:n_x], values_z[n_x:]
    x_to_z = (x_at_x - z_at_x).pow(2).sum()
    z_to_x = (z_at_z - x_at_z).pow(2).sum()
    if match_edges == "symmetric":
        total = x_to_z + z_to_x
    elif match_edges == "x_to_z":
        total = x_to_z
    elif match_edges == "z_to_x":
        total = z_to_x
    elif match_edges == "signature":
        # Both pairings come in filtration order: the death vectors are already sorted.
        total = (x_at_x - z_at_z).pow(2).sum()
    else:
        raise InputError(f"Unknown match_edges {match_edges!r}.")
    return total, x_to_z, z_to_x, shared.sum()
