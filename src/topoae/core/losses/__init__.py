"""The topological loss of Topological Autoencoders (docs/method.md §3).

The persistence pairs of data space and latent space are computed on detached
copies (integer edge indices, no gradient); the loss then gathers the
differentiable distances at those edges and compares the two spaces there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from topoae.core.losses._autograd import (
    _fits_regularized_objective,
    _LatentTopologicalLoss,
    _ObjectiveStep,
    _RegularizedObjective,
)
from topoae.core.losses._device import device_pairing_available, device_topological_terms
from topoae.core.losses._kernels import _normalised_distances, _pairs_and_overlap
from topoae.core.topology import check_distance_matrix
from topoae.errors import InputError

__all__ = [
    "MATCH_MODES",
    "TopologicalLossTerms",
    "TopologicalSignatureLoss",
    "device_pairing_available",
    "device_topological_terms",
    "fits_regularized_objective",
    "normalised_distances",
    "pair_distances",
    "pairwise_distances",
    "regularized_objective",
]

#: ``symmetric``: both directions (the paper's final choice); ``x_to_z`` / ``z_to_x``: one
#: direction; ``signature``: sorted death values compared without matching edges.
MATCH_MODES = ("symmetric", "x_to_z", "z_to_x", "signature")

#: ``gather(matrix, pairs)``: the values of one space at the edges ``pairs`` (p, 2).
_Gather = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TopologicalLossTerms:
    """The parts of one evaluation of the topological loss.

    Attributes
    ----------
    total : torch.Tensor, scalar
        ``L_topo`` for the chosen mode (not divided by the batch size).
    x_to_z : torch.Tensor, scalar
        ``Σ_{(i,j)∈π^X} (A^X_ij − A^Z_ij)²``.
    z_to_x : torch.Tensor, scalar
        ``Σ_{(i,j)∈π^Z} (A^Z_ij − A^X_ij)²``.
    shared_edges : int
        Number of MST edges that data and latent space share (``m - 1`` at best).
    """

    total: torch.Tensor
    x_to_z: torch.Tensor
    z_to_x: torch.Tensor
    shared_edges: int


def pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distance matrix whose gradient stays finite where points coincide.

    Parameters
    ----------
    x : torch.Tensor of shape (m, ...)
        Points; trailing dimensions are flattened.

    Returns
    -------
    torch.Tensor of shape (m, m)
    """
    flat = x.reshape(x.shape[0], -1)
    squared = (flat[:, None, :] - flat[None, :, :]).pow(2).sum(-1)
    return _safe_sqrt(squared)


def pair_distances(points: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Differentiable distances ``‖points[i] − points[j]‖`` for index pairs.

    Parameters
    ----------
    points : torch.Tensor of shape (m, d)
    pairs : torch.Tensor of shape (k, 2), int64

    Returns
    -------
    torch.Tensor of shape (k,)
    """
    diff = points[pairs[:, 0]] - points[pairs[:, 1]]
    return _safe_sqrt(diff.pow(2).sum(-1))


def normalised_distances(points: np.ndarray, scale: float) -> np.ndarray:
    """Data-space distances ``A^X`` of a batch divided by ``scale``, by the compiled kernel.

    Parameters
    ----------
    points : ndarray of shape (m, d), float32 or float64, C-contiguous
    scale : float
        Fixed normaliser (e.g. :func:`topoae.paper.image_data_scale`); ``<= 0`` divides by
        the batch's largest distance instead (a batch of identical points stays all zeros).

    Returns
    -------
    ndarray of shape (m, m), the dtype of ``points``
    """
    return _normalised_distances(points, scale)


def fits_regularized_objective(points: torch.Tensor, latent: torch.Tensor) -> bool:
    """Whether :func:`regularized_objective` can take this batch (CPU, one float dtype).

    Parameters
    ----------
    points : torch.Tensor of shape (m, ...)
        The batch in data space.
    latent : torch.Tensor of shape (m, k)
        Its latent codes.
    """
    return _fits_regularized_objective(points, latent)


def regularized_objective(
    reconstruction: torch.Tensor,
    latent: torch.Tensor,
    latent_norm: torch.Tensor,
    points: torch.Tensor,
    *,
    data_scale: float | None,
    weight: float,
    mode: str,
) -> tuple[torch.Tensor, _ObjectiveStep]:
    """``reconstruction + weight · L_topo`` of a CPU batch as one autograd node (the fast path).

    One compiled call computes the data and latent distances, both spanning trees, the
    terms and their gradient, so a training step adds a single node to the graph. Use only
    where :func:`fits_regularized_objective` holds.

    Parameters
    ----------
    reconstruction : torch.Tensor, scalar
        The batch's reconstruction loss (its gradient passes through unchanged).
    latent : torch.Tensor of shape (m, k)
    latent_norm : torch.Tensor holding one value
        Latent distances are divided by it (the model's learnable scale).
    points : torch.Tensor of shape (m, ...)
        The batch in data space (a constant).
    data_scale : float or None
        Fixed data-distance normaliser; ``None`` divides by the batch's largest distance.
    weight : float
        ``λ / m``.
    mode : str
        One of :data:`MATCH_MODES`.

    Returns
    -------
    loss : torch.Tensor, scalar
    parts : object
        Python floats of the parts: ``loss``, ``reconstruction``, ``total`` (``L_topo``,
        unweighted), ``x_to_z``, ``z_to_x``, ``shared_edges`` (int) and ``scale`` (the
        value of ``latent_norm``).
    """
    step = _ObjectiveStep(data_scale, weight, MATCH_MODES.index(mode))
    loss = _RegularizedObjective.apply(reconstruction, latent, latent_norm, points, step)
    return loss, step


def _safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    # d sqrt(s)/ds is infinite at s = 0 (coincident points); evaluate the root on a
    # clamped copy and mask, so such entries get value 0 and gradient 0, not NaN.
    positive = squared > 0
    root = squared.clamp_min(torch.finfo(squared.dtype).tiny).sqrt()
    return torch.where(positive, root, torch.zeros_like(root))


def _as_numpy_pair(dist_x: torch.Tensor, dist_z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    # One host transfer for both matrices (matters on CUDA); float32 stays float32.
    both = torch.stack([dist_x.detach(), dist_z.detach().to(dist_x.dtype)])
    array = both.to("cpu").numpy()
    return array[0], array[1]


class TopologicalSignatureLoss(nn.Module):
    """Distance between the 0-dimensional topological signatures of two spaces.

    Parameters
    ----------
    match_edges : {"symmetric", "x_to_z", "z_to_x", "signature"}
        ``"symmetric"`` (the paper's choice) sums ``L_X→Z`` over the data-space
        pairs and ``L_Z→X`` over the latent-space pairs; ``"x_to_z"`` and
        ``"z_to_x"`` keep one direction; ``"signature"`` compares the sorted death
        values of both spaces without matching edges.
    check_input : bool
        Validate the distance matrices on every call (O(m²), off on the training path).

    Notes
    -----
    The result is the un-halved sum of squared differences (docs/method.md §3), *not*
    divided by the batch size: :class:`~topoae.core.models.TopologicallyRegularizedAutoencoder`
    does that, as the reference does.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(8, 5)
    >>> d = torch.cdist(x, x)
    >>> float(TopologicalSignatureLoss()(d, d))
    0.0
    """

    def __init__(self, match_edges: str = "symmetric", *, check_input: bool = True):
        super().__init__()
        if match_edges not in MATCH_MODES:
            raise InputError(
                f"match_edges must be one of {', '.join(MATCH_MODES)}; got {match_edges!r}."
            )
        self.match_edges = match_edges
        self.check_input = check_input

    def extra_repr(self) -> str:
        return f"match_edges={self.match_edges!r}"

    def forward(
        self, dist_x: torch.Tensor, dist_z: torch.Tensor, return_components: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, TopologicalLossTerms]:
        """Topological loss between two distance matrices of the same batch.

        Parameters
        ----------
        dist_x : torch.Tensor of shape (m, m)
            Data-space distances (already normalised).
        dist_z : torch.Tensor of shape (m, m)
            Latent-space distances (already normalised); gradients flow through it.
        return_components : bool
            Also return the :class:`TopologicalLossTerms`.

        Returns
        -------
        loss : torch.Tensor, scalar
        terms : TopologicalLossTerms, only if ``return_components``
        """
        if dist_x.shape != dist_z.shape or dist_x.ndim != 2:
            raise InputError(
                "dist_x and dist_z must both have shape (m, m) for the same m; got "
                f"{tuple(dist_x.shape)} and {tuple(dist_z.shape)}."
            )
        array_x, array_z = _as_numpy_pair(dist_x, dist_z)
        if self.check_input:
            check_distance_matrix(array_x)
            check_distance_matrix(array_z)

        def gather(matrix: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
            return matrix[pairs[:, 0], pairs[:, 1]]

        terms = self._terms(array_x, array_z, dist_x, dist_z, gather)
        return (terms.total, terms) if return_components else terms.total

    def from_latent(
        self, dist_x: torch.Tensor, latent: torch.Tensor, latent_scale: torch.Tensor | float = 1.0
    ) -> TopologicalLossTerms:
        """The loss for latent *points*: the fast path of training.

        Equivalent to ``forward(dist_x, pairwise_distances(latent) / latent_scale)``,
        but computed in one compiled call (:func:`_latent_kernel`): the latent
        distances, both pairings, the terms and their gradient with respect to
        ``latent`` and ``latent_scale``, which reaches them through the ``2 (m − 1)``
        selected distances only. ``dist_x`` gets no gradient unless it requires one
        (then the values are gathered with torch operations instead).

        Parameters
        ----------
        dist_x : torch.Tensor of shape (m, m)
            Normalised data-space distances (a constant).
        latent : torch.Tensor of shape (m, k)
            Latent codes.
        latent_scale : torch.Tensor or float
            Latent distances are divided by it (the model's learnable ``latent_norm``).

        Returns
        -------
        TopologicalLossTerms
        """
        m = latent.shape[0]
        if latent.ndim != 2 or tuple(dist_x.shape) != (m, m):
            raise InputError(
                f"Expected dist_x of shape (m, m) and latent of shape (m, k); got "
                f"{tuple(dist_x.shape)} and {tuple(latent.shape)}."
            )
        if dist_x.requires_grad:
            return self._from_latent_by_gathering(dist_x, latent, latent_scale)
        mode = MATCH_MODES.index(self.match_edges)
        total, x_to_z, z_to_x, shared = _LatentTopologicalLoss.apply(
            latent, latent_scale, dist_x, mode
        )
        return TopologicalLossTerms(total, x_to_z, z_to_x, shared)

    def _from_latent_by_gathering(
        self, dist_x: torch.Tensor, latent: torch.Tensor, latent_scale: torch.Tensor | float
    ) -> TopologicalLossTerms:
        # The general path (a data-distance matrix that needs a gradient too):
        # pairs from the kernel, values gathered with torch operations.
        with torch.no_grad():
            latent_dist = torch.cdist(latent.detach(), latent.detach())
        array_x, array_z = _as_numpy_pair(dist_x, latent_dist)

        def gather_x(matrix: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
            return matrix[pairs[:, 0], pairs[:, 1]]

        def gather_z(_: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
            return pair_distances(latent, pairs) / latent_scale

        # gather_z computes the latent values itself (with their gradient), ignoring the matrix.
        return self._terms(array_x, array_z, dist_x, latent_dist, gather_x, gather_z)

    def _terms(
        self,
        array_x: np.ndarray,
        array_z: np.ndarray,
        dist_x: torch.Tensor,
        dist_z: torch.Tensor,
        gather_x: _Gather,
        gather_z: _Gather | None = None,
    ) -> TopologicalLossTerms:
        gather_z = gather_z or gather_x
        if array_x.dtype.kind != "f":
            array_x, array_z = array_x.astype(np.float64), array_z.astype(np.float64)
        pairs_x, pairs_z, shared = _pairs_and_overlap(array_x, array_z)
        n_x = len(pairs_x)
        # One gather per space over both pairings, then split.
        pairs = torch.from_numpy(np.concatenate([pairs_x, pairs_z])).to(dist_x.device)
        values_x = gather_x(dist_x, pairs)
        values_z = gather_z(dist_z, pairs).to(values_x.dtype)
        x_at_x, x_at_z = values_x[:n_x], values_x[n_x:]
        z_at_x, z_at_z = values_z[:n_x], values_z[n_x:]
        x_to_z = (x_at_x - z_at_x).pow(2).sum()
        z_to_x = (z_at_z - x_at_z).pow(2).sum()
        if self.match_edges == "symmetric":
            total = x_to_z + z_to_x
        elif self.match_edges == "x_to_z":
            total = x_to_z
        elif self.match_edges == "z_to_x":
            total = z_to_x
        else:
            # Pairs come in filtration order, so both death vectors are already sorted.
            total = (x_at_x - z_at_z).pow(2).sum()
        return TopologicalLossTerms(total, x_to_z, z_to_x, int(shared))


# The dimension-1 (cycle) terms, docs/cycles.md.
from topoae.core.losses.cycles import (  # noqa: E402
    CYCLE_FORMULATIONS,
    CycleLoss,
    CycleLossTerms,
)

__all__ += ["CYCLE_FORMULATIONS", "CycleLoss", "CycleLossTerms"]
