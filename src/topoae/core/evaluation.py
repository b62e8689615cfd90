"""A trained model applied to many samples: embed, reconstruct, decode, batch by batch.

The one batched evaluation helper of topoae: the training loop's snapshots, the
experiment path and the estimator all call it. Inputs are gathered one batch slice at a
time, so a NumPy memory map is never copied whole into memory, and the model runs in
``eval()`` mode under ``torch.no_grad()`` (its previous mode is restored afterwards).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["apply_batched", "decode", "embed", "reconstruct"]

#: Samples per forward pass: large enough to keep a GPU busy, small enough for any memory.
BATCH_SIZE = 2048


def _module_device(module: torch.nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _batch_tensor(part, device: torch.device) -> torch.Tensor:
    """One slice of the input as a float32 tensor on ``device`` (a copy of that slice only)."""
    if not isinstance(part, torch.Tensor):
        # A copy of the slice: torch refuses to share a read-only buffer (a memory map's).
        part = torch.from_numpy(np.array(part, dtype=np.float32))
    return part.to(device=device, dtype=torch.float32)


@torch.no_grad()
def apply_batched(
    model: torch.nn.Module,
    x: np.ndarray | torch.Tensor,
    function: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """``function`` over ``x`` in batches, with ``model`` in eval mode, as one NumPy array.

    Parameters
    ----------
    model : torch.nn.Module
        Put in ``eval()`` mode for the call; its mode is restored afterwards.
    x : ndarray (a memory map too) or torch.Tensor of shape (n, ...)
        Read one slice of ``batch_size`` samples at a time, converted to float32 on the
        model's device.
    function : callable
        Maps a batch tensor of shape (m, ...) to a tensor of shape (m, ...).
    batch_size : int

    Returns
    -------
    ndarray of shape (n, ...), float32
        The batch results concatenated (on the CPU).
    """
    device = _module_device(model)
    was_training = model.training
    model.eval()
    try:
        parts = [
            function(_batch_tensor(x[i : i + batch_size], device)).cpu()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy()


def embed(model, x, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Latent codes of ``x`` (shape ``(n, *input_shape)``), shape ``(n, latent_dim)``."""
    return apply_batched(model, x, model.encode, batch_size=batch_size)


def reconstruct(model, x, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Reconstructions of ``x``, the same shape as ``x``."""
    return apply_batched(model, x, lambda b: model.decode(model.encode(b)), batch_size=batch_size)


def decode(model, z, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Outputs in data space, shape ``(n, *input_shape)``, of codes of shape ``(n, latent_dim)``."""
    return apply_batched(model, z, model.decode, batch_size=batch_size)
