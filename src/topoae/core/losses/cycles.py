"""The dimension-1 (cycle) terms of the topological loss (docs/cycles.md).

Like the dimension-0 term (docs/method.md §3), each term pairs both spaces on detached
copies (:mod:`topoae.core.cycles`: integer edge indices, no gradient), gathers the
differentiable distances at those edges, and sums squared differences in both
directions: over the data-space cycles (``x_to_z``) and over the latent-space
cycles (``z_to_x``). The sum is not divided by the batch size, as for dimension 0.

Formulations (``formulation=``):

``"persistence"``
    The authors' ``use_cycles``: for each cycle ``(b, d)`` (birth edge, death
    edge) of one space, the squared difference of its persistence ``A_d − A_b``
    in the two spaces: ``Σ ((X_d − X_b) − (Z_d − Z_b))²``.
``"edges"``
    The plain extension of the dimension-0 term (TTK's "TopoAE with dimension 1"):
    the birth and the death edge each compared, ``Σ (X_b − Z_b)² + (X_d − Z_d)²``.
    TopoAE++ shows that a zero of this term need not give equal H1 pairs.
``"cascade"``
    TopoAE++ (Clémot, Digne, Tierny 2025): ``"edges"`` plus, for each space, the
    squared differences on the union of the strict cascades of its cycles (the
    edges the reduction of each death triangle passes through).
``"asymmetric-cascade"``
    As ``"cascade"`` with the data-space cascade only (the variant of the
    TopoAE++ experiments: the latent cascade is not needed for the penalty to
    vanish only on matching cycles, and costs a second reduction per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from topoae.core.cycles import H1Cascades, h1_cascades, h1_pairs
from topoae.errors import InputError

__all__ = ["CYCLE_FORMULATIONS", "CycleLoss", "CycleLossTerms"]

CYCLE_FORMULATIONS = ("persistence", "edges", "cascade", "asymmetric-cascade")
_ENGINES = ("reduction", "gudhi")


@dataclass
class CycleLossTerms:
    """The parts of one evaluation of a cycle term.

    Attributes
    ----------
    total : torch.Tensor, scalar
        ``x_to_z + z_to_x`` (not divided by the batch size).
    x_to_z, z_to_x : torch.Tensor, scalar
        The sums over the data-space and over the latent-space cycles (and cascades).
    cycles_x, cycles_z : int
        Number of cycles (H1 pairs) in each space.
    shared_cycles : int
        Cycles with the same birth and death edges in both spaces.
    cascade_x, cascade_z : int
        Cascade edges compared (0 unless a cascade formulation).
    """

    total: torch.Tensor
    x_to_z: torch.Tensor
    z_to_x: torch.Tensor
    cycles_x: int
    cycles_z: int
    shared_cycles: int
    cascade_x: int = 0
    cascade_z: int = 0


def _gather(matrix: torch.Tensor, edges: np.ndarray) -> torch.Tensor:
    index = torch.from_numpy(np.ascontiguousarray(edges)).to(matrix.device)
    return matrix[index[:, 0], index[:, 1]]


def _shared(pairs_x: np.ndarray, pairs_z: np.ndarray) -> int:
    return len({tuple(row) for row in pairs_x.tolist()} & {tuple(row) for row in pairs_z.tolist()})


class CycleLoss(nn.Module):
    """Distance between the 1-dimensional topological signatures of two spaces.

    Parameters
    ----------
    formulation : {"persistence", "edges", "cascade", "asymmetric-cascade"}
        See the module docstring; ``"persistence"`` is the authors' ``use_cycles``,
        ``"cascade"`` is TopoAE++.
    engine : {"reduction", "gudhi"}
        Who pairs the cycles: our reduction (:func:`~topoae.core.cycles.h1_cascades`,
        no dependency, faster) or gudhi (:func:`~topoae.core.cycles.h1_pairs`, the
        ``tda`` extra; not for the cascade formulations). Both give the same pairs.
    check_input : bool
        Validate the distance matrices on every call (O(m²)).

    Notes
    -----
    A batch with no cycle in either space (always when m < 4) gives exactly 0 with
    a gradient of zeros. Pairs with zero persistence are not cycles (as in ripser's
    and gudhi's diagrams).

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(16, 5, dtype=torch.float64)
    >>> d = torch.cdist(x, x)
    >>> float(CycleLoss("cascade")(d, d))
    0.0
    """

    def __init__(
        self,
        formulation: str = "persistence",
        *,
        engine: str = "reduction",
        check_input: bool = True,
    ) -> None:
        super().__init__()
        if formulation not in CYCLE_FORMULATIONS:
            raise InputError(
                f"formulation must be one of {', '.join(CYCLE_FORMULATIONS)}; got {formulation!r}."
            )
        if engine not in _ENGINES:
            raise InputError(f"engine must be one of {', '.join(_ENGINES)}; got {engine!r}.")
        if engine == "gudhi" and "cascade" in formulation:
            raise InputError("The cascade formulations need engine='reduction' (gudhi has none).")
        self.formulation = formulation
        self.engine = engine
        self.check_input = check_input

    def extra_repr(self) -> str:
        return f"formulation={self.formulation!r}, engine={self.engine!r}"

    def structure(self, distances: torch.Tensor | np.ndarray) -> H1Cascades:
        """The cycles (and cascades) of one space, computed without gradient.

        A caller that sees the same data batch again may keep the data-space result
        and pass it to :meth:`forward` as ``structure_x``.
        """
        if self.engine == "gudhi":
            pairs = h1_pairs(distances, check=self.check_input)
            empty = np.zeros((0, 2), dtype=np.int64)
            return H1Cascades(pairs, empty, np.zeros(len(pairs), dtype=np.int64))
        return h1_cascades(distances, check=self.check_input)

    def forward(
        self,
        dist_x: torch.Tensor,
        dist_z: torch.Tensor,
        return_components: bool = False,
        *,
        structure_x: H1Cascades | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, CycleLossTerms]:
        """Cycle term between two distance matrices of the same batch.

        Parameters
        ----------
        dist_x : torch.Tensor of shape (m, m)
            Data-space distances, normalised as for dimension 0 (docs/method.md §3).
        dist_z : torch.Tensor of shape (m, m)
            Latent-space distances (divided by ``latent_norm``); gradients flow through it.
        return_components : bool
            Also return the :class:`CycleLossTerms`.
        structure_x : H1Cascades, optional
            The data-space cycles if already known (:meth:`structure` of ``dist_x``).

        Returns
        -------
        loss : torch.Tensor, scalar
        terms : CycleLossTerms, only if ``return_components``
        """
        if dist_x.ndim != 2 or dist_x.shape != dist_z.shape or dist_x.shape[0] != dist_x.shape[1]:
            raise InputError(
                "dist_x and dist_z must both have shape (m, m) for the same m; got "
                f"{tuple(dist_x.shape)} and {tuple(dist_z.shape)}."
            )
        found_x = structure_x if structure_x is not None else self.structure(dist_x)
        found_z = self.structure(dist_z)
        dist_x = dist_x.to(dist_z.dtype)
        cascade_x = "cascade" in self.formulation
        cascade_z = self.formulation == "cascade"
        x_to_z = self._direction(found_x, dist_x, dist_z, cascade_x)
        z_to_x = self._direction(found_z, dist_z, dist_x, cascade_z)
        terms = CycleLossTerms(
            total=x_to_z + z_to_x,
            x_to_z=x_to_z,
            z_to_x=z_to_x,
            cycles_x=len(found_x.pairs),
            cycles_z=len(found_z.pairs),
            shared_cycles=_shared(found_x.pairs, found_z.pairs),
            cascade_x=len(found_x.cascade) if cascade_x else 0,
            cascade_z=len(found_z.cascade) if cascade_z else 0,
        )
        return (terms.total, terms) if return_components else terms.total

    def _direction(
        self, found: Any, own: torch.Tensor, other: torch.Tensor, with_cascade: bool
    ) -> torch.Tensor:
        """Squared differences over the cycles of the space whose matrix is ``own``."""
        birth, death = found.pairs[:, :2], found.pairs[:, 2:]
        own_b, own_d = _gather(own, birth), _gather(own, death)
        other_b, other_d = _gather(other, birth), _gather(other, death)
        if self.formulation == "persistence":
            return ((own_d - own_b) - (other_d - other_b)).pow(2).sum()
        total = (own_b - other_b).pow(2).sum() + (own_d - other_d).pow(2).sum()
        if with_cascade:
            total = (
                total + (_gather(own, found.cascade) - _gather(other, found.cascade)).pow(2).sum()
            )
        return total
