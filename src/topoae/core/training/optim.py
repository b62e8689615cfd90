"""The optimiser of the protocol: Adam with weight decay (docs/method.md §6)."""

from __future__ import annotations

import torch

__all__ = ["make_optimizer"]


def make_optimizer(parameters, learning_rate: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with L2 weight decay (docs/method.md §6), fused where torch has a fused kernel.

    The fused implementation updates all parameters in one kernel per step instead
    of about ten tensor operations per parameter: on a CPU it makes a step of the
    small Spheres MLP about a third faster. It computes the same update (up to
    floating-point rounding); where it is not available (e.g. an unusual device or
    dtype), the default implementation is used.

    Parameters
    ----------
    parameters : iterable of torch.nn.Parameter
    learning_rate, weight_decay : float

    Returns
    -------
    torch.optim.Adam
    """
    parameters = list(parameters)
    # Checked here: torch notices some unsupported parameters only at the first step.
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters)
    if fused:
        try:
            return torch.optim.Adam(
                parameters, lr=learning_rate, weight_decay=weight_decay, fused=True
            )
        except (RuntimeError, ValueError):  # this torch has no fused kernel for them
            pass
    return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)
