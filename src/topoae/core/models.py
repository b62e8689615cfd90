"""Autoencoders of the paper (docs/method.md §5) and the topologically regularised wrapper (§3)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from topoae.core.cycles import check_homology_dims
from topoae.core.losses import (
    CycleLoss,
    TopologicalLossTerms,
    TopologicalSignatureLoss,
    device_pairing_available,
    device_topological_terms,
    fits_regularized_objective,
    normalised_distances,
    pairwise_distances,
    regularized_objective,
)
from topoae.errors import InputError

__all__ = [
    "ARCHITECTURES",
    "Autoencoder",
    "DeepAutoencoder",
    "LinearAutoencoder",
    "MLPAutoencoder",
    "TopologicallyRegularizedAutoencoder",
    "build_autoencoder",
]


class Autoencoder(nn.Module):
    """An encoder and a decoder; inputs of any sample shape are flattened for the encoder.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(m, prod(input_shape))`` to ``(m, latent_dim)``.
    decoder : nn.Module
        Maps ``(m, latent_dim)`` to ``(m, prod(input_shape))``.
    input_shape : tuple of int
        Shape of one sample, e.g. ``(101,)`` or ``(1, 28, 28)``; decoded outputs take it.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, input_shape: Sequence[int]):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.input_shape = tuple(int(s) for s in input_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes, shape ``(m, latent_dim)``, of inputs of shape ``(m, *input_shape)``."""
        return self.encoder(x.reshape(x.shape[0], -1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions, shape ``(m, *input_shape)``, of codes of shape ``(m, latent_dim)``."""
        return self.decoder(z).reshape(z.shape[0], *self.input_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(z, x_hat)``."""
        z = self.encode(x)
        return z, self.decode(z)


def _mlp(sizes: Sequence[int], *, norm_after_activation: bool) -> list[nn.Module]:
    """Hidden blocks Linear→BN→ReLU (Spheres MLP) or Linear→ReLU→BN (DeepAE)."""
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers.append(nn.Linear(n_in, n_out))
        if norm_after_activation:
            layers += [nn.ReLU(), nn.BatchNorm1d(n_out)]
        else:
            layers += [nn.BatchNorm1d(n_out), nn.ReLU()]
    return layers


def _mirrored(
    shape: tuple[int, ...],
    hidden_sizes: Sequence[int],
    latent_dim: int,
    *,
    norm_after_activation: bool,
    output: nn.Module | None = None,
) -> tuple[nn.Sequential, nn.Sequential]:
    """An MLP encoder ``D→hidden→latent`` and its mirror image as the decoder (built in this
    order, so that a seeded build gives the same weights as before)."""
    d = math.prod(shape)
    encoder_sizes = [d, *hidden_sizes]
    decoder_sizes = [latent_dim, *reversed(hidden_sizes)]
    encoder = nn.Sequential(
        *_mlp(encoder_sizes, norm_after_activation=norm_after_activation),
        nn.Linear(encoder_sizes[-1], latent_dim),
    )
    hidden = _mlp(decoder_sizes, norm_after_activation=norm_after_activation)
    decoder = nn.Sequential(*hidden, nn.Linear(decoder_sizes[-1], d))
    if output is not None:
        decoder.append(output)
    return encoder, decoder


class MLPAutoencoder(Autoencoder):
    """The Spheres MLP: ``d→32→32→2``, Linear→BatchNorm→ReLU blocks, mirrored linear-output decoder.

    Parameters
    ----------
    input_shape : int or tuple of int
        Sample shape (default ``101`` features).
    hidden_sizes : sequence of int
        Hidden widths of the encoder (the decoder mirrors them).
    latent_dim : int
    """

    def __init__(
        self,
        input_shape: int | Sequence[int] = 101,
        hidden_sizes: Sequence[int] = (32, 32),
        latent_dim: int = 2,
    ):
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        encoder, decoder = _mirrored(shape, hidden_sizes, latent_dim, norm_after_activation=False)
        super().__init__(encoder, decoder, shape)


class DeepAutoencoder(Autoencoder):
    """The paper's "DeepAE" for images: ``D→1000→500→250→2``, Linear→ReLU→BN, Tanh output.

    Parameters
    ----------
    input_shape : int or tuple of int
        Sample shape, e.g. ``(1, 28, 28)``; outputs in [-1, 1] take this shape.
    hidden_sizes : sequence of int
    latent_dim : int
    """

    def __init__(
        self,
        input_shape: int | Sequence[int] = (1, 28, 28),
        hidden_sizes: Sequence[int] = (1000, 500, 250),
        latent_dim: int = 2,
    ):
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        encoder, decoder = _mirrored(
            shape, hidden_sizes, latent_dim, norm_after_activation=True, output=nn.Tanh()
        )
        super().__init__(encoder, decoder, shape)


class LinearAutoencoder(Autoencoder):
    """One linear layer each way ("TopoPCA" when trained with the topological loss)."""

    def __init__(self, input_shape: int | Sequence[int] = 101, latent_dim: int = 2):
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        d = math.prod(shape)
        super().__init__(nn.Linear(d, latent_dim), nn.Linear(latent_dim, d), shape)


# Each builds its Autoencoder from (input_shape, latent_dim, hidden_sizes).
ARCHITECTURES: dict[str, Callable[..., Autoencoder]] = {
    "mlp": MLPAutoencoder,
    "deep": DeepAutoencoder,
    "linear": LinearAutoencoder,
}


def build_autoencoder(
    architecture: str,
    input_shape: int | Sequence[int],
    latent_dim: int = 2,
    hidden_sizes: Sequence[int] | None = None,
) -> Autoencoder:
    """Build a built-in autoencoder by name (``"mlp"``, ``"deep"`` or ``"linear"``)."""
    if architecture not in ARCHITECTURES:
        raise InputError(
            f"Unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}."
        )
    kwargs: dict = {"latent_dim": latent_dim}
    if hidden_sizes is not None:
        if architecture == "linear":
            raise InputError("The linear autoencoder has no hidden layers; drop hidden_sizes.")
        kwargs["hidden_sizes"] = tuple(hidden_sizes)
    return ARCHITECTURES[architecture](input_shape, **kwargs)


class TopologicallyRegularizedAutoencoder(nn.Module):
    """An autoencoder trained with ``MSE(x, x̂) + (λ · L0 + λ1 · L1) / m`` (docs/method.md §3).

    ``L0`` is the paper's term (components); ``L1``, the cycle term of docs/cycles.md,
    is added only when ``1 in homology_dims``.

    Parameters
    ----------
    autoencoder : Autoencoder
        Anything with ``encode`` and ``decode``.
    lam : float
        Weight λ of the topological term; ``0`` gives the vanilla autoencoder, which
        computes no topology and has no ``latent_norm``.
    match_edges : str
        Mode of :class:`~topoae.core.losses.TopologicalSignatureLoss`.
    data_scale : float or None
        Data-space distances are divided by this constant (images in [-1, 1]:
        :func:`topoae.paper.image_data_scale`); ``None`` divides by the batch's largest distance.
    homology_dims : tuple of int
        ``(0,)`` (the paper), ``(0, 1)`` or ``(1,)``; see
        :func:`~topoae.core.cycles.check_homology_dims`.
    cycle_formulation : str
        Formulation of :class:`~topoae.core.losses.CycleLoss` (dimension 1).
    cycle_lam : float
        Weight λ1 of the dimension-1 term.

    Attributes
    ----------
    latent_norm : nn.Parameter, scalar
        Learnable scale of latent distances, initialised to 1 (only when a term is on).

    Notes
    -----
    The cycle term uses the same normalised matrices as the dimension-0 term. A batch
    with no cycle in either space (always when it has fewer than 4 points) adds exactly 0.
    """

    def __init__(
        self,
        autoencoder: Autoencoder,
        lam: float = 1.0,
        *,
        match_edges: str = "symmetric",
        data_scale: float | None = None,
        homology_dims: Sequence[int] = (0,),
        cycle_formulation: str = "persistence",
        cycle_lam: float = 1.0,
    ):
        super().__init__()
        if not (lam >= 0 and math.isfinite(lam)):
            raise InputError(f"lam must be a finite number >= 0, got {lam}.")
        if not (cycle_lam >= 0 and math.isfinite(cycle_lam)):
            raise InputError(f"cycle_lam must be a finite number >= 0, got {cycle_lam}.")
        self.homology_dims = check_homology_dims(homology_dims)
        if data_scale is not None and not data_scale > 0:
            raise InputError(f"data_scale must be positive or None, got {data_scale}.")
        self.autoencoder = autoencoder
        # The dimension-0 weight; 0 when that dimension is not matched.
        self.lam = float(lam) if 0 in self.homology_dims else 0.0
        self.cycle_lam = float(cycle_lam) if 1 in self.homology_dims else 0.0
        self.data_scale = data_scale
        #: Distributed training: match the topology of all ranks' batches together.
        self.pair_globally = False
        if self.lam > 0 or self.cycle_lam > 0:
            self.latent_norm = nn.Parameter(torch.ones(()))
        if self.lam > 0:
            self.topo_loss = TopologicalSignatureLoss(match_edges, check_input=False)
        if self.cycle_lam > 0:
            self.cycle_loss = CycleLoss(cycle_formulation, check_input=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes of shape ``(m, latent_dim)``."""
        return self.autoencoder.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions of shape ``(m, *input_shape)``."""
        return self.autoencoder.decode(z)

    def data_distances(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised data-space distances ``A^X`` of a batch, shape ``(m, m)``, no graph."""
        with torch.no_grad():
            flat = x.detach().reshape(x.shape[0], -1)
            if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
                # A compiled loop (no torch dispatch); from_numpy shares its memory.
                points = np.ascontiguousarray(flat.numpy())
                scale = points.dtype.type(self.data_scale or 0)  # 0: the batch's largest
                return torch.from_numpy(normalised_distances(points, scale))
            dist = torch.cdist(flat, flat)
            if self.data_scale is not None:
                return dist / self.data_scale
            # A batch of identical points has largest distance 0: leave the zeros as they are.
            return dist / dist.max().clamp_min(torch.finfo(dist.dtype).tiny)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """Total loss of a batch and its components.

        Parameters
        ----------
        x : torch.Tensor of shape (m, *input_shape)

        Returns
        -------
        loss : torch.Tensor, scalar
        components : dict of str to float (0-d tensors off the CPU)
            ``loss``, ``reconstruction``, and with ``lam > 0`` also ``topological``
            (``L_topo / m``), ``x_to_z``, ``z_to_x``, ``shared_edges``, ``latent_norm``;
            with the cycle term also ``cycles`` (``L1 / m``), ``cycles_x_to_z``,
            ``cycles_z_to_x``, ``cycles_in_x``, ``cycles_in_z``, ``shared_cycles``.
        """
        z = self.autoencoder.encode(x)
        x_hat = self.autoencoder.decode(z)
        reconstruction = F.mse_loss(x_hat, x)
        # Off the CPU the parts stay 0-d tensors: reading each back would wait for the device
        # at every step; the training loop sums them there and reads them once per epoch.
        on_device = x.device.type != "cpu"
        if self.lam == 0 and self.cycle_lam == 0:
            value = reconstruction.detach() if on_device else reconstruction.item()
            return reconstruction, {"loss": value, "reconstruction": value}
        x, z = self._pairing_batch(x, z)
        if self.lam == 0:
            loss = reconstruction
            value = reconstruction.detach() if on_device else reconstruction.item()
            components = {"loss": value, "reconstruction": value}
        else:
            loss, components = self._with_components_term(reconstruction, x, z, on_device)
        if self.cycle_lam > 0:
            loss, components = self._with_cycle_term(loss, components, x, z, on_device)
        if self.lam == 0:
            components["latent_norm"] = (
                self.latent_norm.detach() if on_device else self.latent_norm.item()
            )
        return loss, components

    def _with_components_term(
        self, reconstruction: torch.Tensor, x: torch.Tensor, z: torch.Tensor, on_device: bool
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """``MSE + λ · L0 / m`` and its components (the paper's term, three routes)."""
        m = x.shape[0]
        values: Sequence[Any]
        shared: Any
        latent_norm: Any
        if fits_regularized_objective(x, z):
            # The CPU path: the whole topological term and its sum with the MSE in one
            # compiled call behind one autograd node; its parts come back as floats.
            loss, step = regularized_objective(
                reconstruction,
                z,
                self.latent_norm,
                x,
                data_scale=self.data_scale,
                weight=self.lam / m,
                mode=self.topo_loss.match_edges,
            )
            values = (step.loss, step.reconstruction, step.total, step.x_to_z, step.z_to_x)
            shared, latent_norm = step.shared_edges, step.scale
        elif on_device and device_pairing_available(z):
            # Both pairings on the device (a Triton kernel): no copy to the host, no wait.
            total, x_to_z, z_to_x, shared = device_topological_terms(
                self.data_distances(x), z, self.latent_norm, self.topo_loss.match_edges
            )
            loss = torch.add(reconstruction, total, alpha=self.lam / m)
            values = tuple(t.detach() for t in (loss, reconstruction, total, x_to_z, z_to_x))
            latent_norm = self.latent_norm.detach()
        else:
            terms: TopologicalLossTerms = self.topo_loss.from_latent(
                self.data_distances(x), z, self.latent_norm
            )
            # MSE + λ·L_topo/m as one operation: each small one costs microseconds.
            loss = torch.add(reconstruction, terms.total, alpha=self.lam / m)
            *values, latent_norm = _floats(
                loss, reconstruction, terms.total, terms.x_to_z, terms.z_to_x, self.latent_norm
            )
            shared = terms.shared_edges
        components = {
            "loss": values[0],
            "reconstruction": values[1],
            "topological": values[2] / m,
            "x_to_z": values[3],
            "z_to_x": values[4],
            "shared_edges": shared,
            "latent_norm": latent_norm,
        }
        return loss, components

    def _with_cycle_term(self, loss, components, x, z, on_device):
        """Add ``λ1 · L1 / m`` (docs/cycles.md) beside the dimension-0 term, on the same
        normalised matrices; its parts join the components as ``cycles*``."""
        m = x.shape[0]
        dist_z = pairwise_distances(z) / self.latent_norm
        total, terms = self.cycle_loss(
            self.data_distances(x).to(dist_z.device), dist_z, return_components=True
        )
        loss = torch.add(loss, total, alpha=self.cycle_lam / m)
        parts = (loss, total, terms.x_to_z, terms.z_to_x)
        if on_device:
            values = [part.detach() for part in parts]
        else:
            values = [part.item() for part in parts]
        components["loss"] = values[0]
        components["cycles"] = values[1] / m
        components["cycles_x_to_z"] = values[2]
        components["cycles_z_to_x"] = values[3]
        components["cycles_in_x"] = terms.cycles_x
        components["cycles_in_z"] = terms.cycles_z
        components["shared_cycles"] = terms.shared_cycles
        return loss, components

    def _pairing_batch(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch whose topology is matched: this one, or all ranks' (``pair_globally``)."""
        if not self.pair_globally or not torch.distributed.is_initialized():
            return x, z
        from torch.distributed.nn.functional import all_gather

        # Latents with their gradient (each rank back-propagates the same global term through
        # its own share); the data without one.
        z_all = torch.cat(all_gather(z))
        x_parts = [torch.empty_like(x) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(x_parts, x.detach().contiguous())
        return torch.cat(x_parts), z_all


def _floats(*scalars: torch.Tensor) -> list[float]:
    """Python floats of 0-d tensors, read back in one transfer (one synchronisation) from a GPU."""
    if scalars[0].device.type == "cpu":
        return [s.item() for s in scalars]
    with torch.no_grad():
        return torch.stack([s.to(scalars[0].dtype) for s in scalars]).tolist()
