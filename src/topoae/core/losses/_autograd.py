"""Autograd nodes around the compiled kernels: one node per topological term.

Each costs one Python-level node instead of a dozen small tensor operations (on
a CPU every torch operation costs microseconds of dispatch, and as much again in
backward); the kernels return the gradients along with the values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from topoae.core.losses._kernels import _latent_kernel, _points_kernel


def _host_arrays(
    dist_x: torch.Tensor, latent: torch.Tensor, scale: torch.Tensor | float, dtype: torch.dtype
) -> tuple[np.ndarray, np.ndarray, np.floating]:
    """NumPy arrays of what the kernel reads: views on the CPU, one transfer from a GPU."""
    if dist_x.device.type == "cpu" and latent.device.type == "cpu":
        np_dtype = np.float64 if dtype == torch.float64 else np.float32
        # .numpy() shares memory with the tensor on the CPU: no copy at all.
        array_x = np.ascontiguousarray(dist_x.detach().numpy(), dtype=np_dtype)
        array_z = np.ascontiguousarray(latent.detach().numpy(), dtype=np_dtype)
        if isinstance(scale, torch.Tensor):
            scale = scale.detach().item()
        return array_x, array_z, np_dtype(scale)
    return _host_arrays_packed(dist_x, latent, scale, dtype)


def _host_arrays_packed(
    dist_x: torch.Tensor, latent: torch.Tensor, scale: torch.Tensor | float, dtype: torch.dtype
) -> tuple[np.ndarray, np.ndarray, np.floating]:
    # Everything the pairing needs in one device-to-host copy: one synchronisation.
    m, k = latent.shape
    scale_1 = torch.as_tensor(scale, device=latent.device).detach().reshape(1)
    parts = [dist_x.detach().reshape(-1), latent.detach().reshape(-1), scale_1]
    packed = torch.cat([part.to(device=latent.device, dtype=dtype) for part in parts])
    host = packed.cpu().numpy()
    return host[: m * m].reshape(m, m), host[m * m : -1].reshape(m, k), host[-1]


def _on(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A tensor sharing ``array``'s memory, moved to ``device`` (no ``.to`` call on the CPU)."""
    tensor = torch.from_numpy(array)
    return tensor if device.type == "cpu" else tensor.to(device)


class _LatentTopologicalLoss(torch.autograd.Function):
    """``(total, x_to_z, z_to_x, shared_edges)`` of latent points, gradient from the kernel.

    One autograd node instead of a dozen small tensor operations (each costs
    microseconds of dispatch on a CPU, and as many again in backward): forward runs
    :func:`_latent_kernel`, which also returns the gradients, and backward only
    scales the ones it needs by the incoming gradients.
    """

    @staticmethod
    def forward(
        ctx: Any,
        latent: torch.Tensor,
        scale: torch.Tensor | float,
        dist_x: torch.Tensor,
        mode: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        dtype = torch.float64 if torch.float64 in (latent.dtype, dist_x.dtype) else torch.float32
        array_x, array_z, array_scale = _host_arrays(dist_x, latent, scale, dtype)
        values, shared, grad_latent, grad_scale = _latent_kernel(
            array_x, array_z, array_scale, mode
        )
        ctx.set_materialize_grads(False)
        ctx.grad_latent, ctx.grad_scale = grad_latent, grad_scale  # NumPy, used in backward
        ctx.scale_shape = scale.shape if isinstance(scale, torch.Tensor) else None
        # Three separate 0-d tensors: cheaper than indexing one (an operation each).
        total, x_to_z, z_to_x = (_on(np.asarray(v, array_z.dtype), latent.device) for v in values)
        return total, x_to_z, z_to_x, int(shared)

    @staticmethod
    def backward(
        ctx: Any, *grads: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        grad_latent = grad_scale = None
        for slot, grad in enumerate(grads[:3]):
            if grad is None:  # an output that does not reach the loss
                continue
            if ctx.needs_input_grad[0]:
                part = grad * _on(ctx.grad_latent[slot], grad.device)
                grad_latent = part if grad_latent is None else grad_latent + part
            if ctx.needs_input_grad[1]:
                part = grad * float(ctx.grad_scale[slot])
                grad_scale = part if grad_scale is None else grad_scale + part
        if grad_scale is not None and grad_scale.shape != ctx.scale_shape:
            grad_scale = grad_scale.reshape(ctx.scale_shape)
        return grad_latent, grad_scale, None, None


class _RegularizedObjective(torch.autograd.Function):
    """``loss + weight · L_topo`` of a CPU batch, as one autograd node.

    The training step's path: one compiled call (:func:`_points_kernel`) computes
    the data distances, the latent distances, both trees, the terms and the
    gradient, and the sum with the reconstruction loss happens here too, so the
    step adds a single node to the graph. Every tensor this node makes shares
    memory with a NumPy array (no dispatcher call: on a CPU, each costs
    microseconds), and the settings travel in one :class:`_ObjectiveStep`, which
    also receives the parts of the loss as Python floats. ``scale`` is a tensor
    (the model's ``latent_norm``) of any shape holding one value.
    """

    @staticmethod
    def forward(
        ctx: Any,
        loss: torch.Tensor,
        latent: torch.Tensor,
        scale: torch.Tensor,
        points: torch.Tensor,
        step: _ObjectiveStep,
    ) -> torch.Tensor:
        array_latent = np.ascontiguousarray(_numpy_view(latent))
        if points.ndim != 2:
            points = points.reshape(points.shape[0], -1)
        array_points = np.ascontiguousarray(_numpy_view(points))
        dtype = array_latent.dtype.type
        step.scale = scale.item()
        values, shared, grad_latent, grad_scale = _points_kernel(
            array_points, dtype(step.data_scale), array_latent, dtype(step.scale), step.weight,
            step.mode,
        )  # fmt: skip
        step.reconstruction = loss.item()
        total = dtype(step.reconstruction + step.weight * values[0])
        step.loss, step.shared_edges = float(total), int(shared)
        step.total, step.x_to_z, step.z_to_x = float(values[0]), float(values[1]), float(values[2])
        ctx.grad_latent = torch.from_numpy(grad_latent)
        ctx.grad_scale = torch.from_numpy(np.full(tuple(scale.shape), grad_scale, dtype=dtype))
        return torch.from_numpy(np.array(total))

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        # loss.backward() seeds exactly 1: then the stored gradients are the answer.
        unit = grad.item() == 1.0
        grad_latent = ctx.grad_latent if unit else ctx.grad_latent * grad
        grad_scale = ctx.grad_scale if unit else ctx.grad_scale * grad
        needs = ctx.needs_input_grad
        return (
            grad if needs[0] else None,
            grad_latent if needs[1] else None,
            grad_scale if needs[2] else None,
            None,
            None,
        )


class _ObjectiveStep:
    """Settings of one :class:`_RegularizedObjective` call, and the floats it reports.

    Set: ``data_scale`` (``0``: the batch's largest distance), ``weight`` (λ/m) and
    ``mode`` (index into ``MATCH_MODES``). Reported: ``loss``, ``reconstruction``,
    ``total``, ``x_to_z``, ``z_to_x`` (unweighted), ``shared_edges``, ``scale``.
    """

    __slots__ = (
        "data_scale", "loss", "mode", "reconstruction", "scale", "shared_edges", "total",
        "weight", "x_to_z", "z_to_x",
    )  # fmt: skip

    data_scale: float
    weight: float
    mode: int
    scale: float
    loss: float
    reconstruction: float
    total: float
    x_to_z: float
    z_to_x: float
    shared_edges: int

    def __init__(self, data_scale: float | None, weight: float, mode: int) -> None:
        self.data_scale = data_scale or 0.0
        self.weight = weight
        self.mode = mode


def _numpy_view(tensor: torch.Tensor) -> np.ndarray:
    """The NumPy array sharing a CPU tensor's memory (detached only when it needs to be)."""
    return (tensor.detach() if tensor.requires_grad else tensor).numpy()


def _fits_regularized_objective(points: torch.Tensor, latent: torch.Tensor) -> bool:
    """Whether :class:`_RegularizedObjective` can take this batch (CPU, one float dtype)."""
    return (
        points.device.type == "cpu"
        and latent.device.type == "cpu"
        and points.dtype == latent.dtype
        and latent.dtype in (torch.float32, torch.float64)
        and latent.ndim == 2
    )
