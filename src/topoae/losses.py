"""The topological loss of Topological Autoencoders (METHOD.md §3).

The persistence pairs of data space and latent space are computed on detached
copies (integer edge indices, no gradient); the loss then gathers the
differentiable distances at those edges and compares the two spaces there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit
from torch import nn

from topoae.topology import _prim_tree, _tree_edges, check_distance_matrix

__all__ = [
    "MATCH_MODES",
    "TopologicalLossTerms",
    "TopologicalSignatureLoss",
    "pair_distances",
    "pairwise_distances",
]

#: ``symmetric``: both directions (the paper's final choice); ``x_to_z`` / ``z_to_x``: one
#: direction; ``signature``: sorted death values compared without matching edges.
MATCH_MODES = ("symmetric", "x_to_z", "z_to_x", "signature")


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


@njit(cache=True, inline="always")
def _count_shared(parent_x, parent_z):
    """Edges two spanning trees (as parent arrays) share, in O(m) without sorting.

    Tree Z's edge ``(parent_z[v], v)`` is in tree X exactly when X joins the two
    vertices directly, i.e. one is the other's parent there.
    """
    shared = 0
    for v in range(1, parent_z.shape[0]):
        p = parent_z[v]
        if parent_x[v] == p or parent_x[p] == v:
            shared += 1
    return shared


@njit(cache=True)
def _pairs_and_overlap(dist_x, dist_z):
    """Both pairings in one compiled call, and how many edges they share."""
    parent_x = _prim_tree(dist_x)
    parent_z = _prim_tree(dist_z)
    shared = _count_shared(parent_x, parent_z)
    return _tree_edges(dist_x, parent_x), _tree_edges(dist_z, parent_z), shared


@njit(cache=True, inline="always")
def _edge_gradient(grad_latent, grad_scale, latent, i, j, r, scale, g):
    """Chain ``dL/d(r / scale) = g`` for the edge (i, j) of length r to latent and scale."""
    grad_scale[0] -= g * r / (scale * scale)
    if r > 0:  # coincident points: value 0 and gradient 0, as in ``_safe_sqrt``
        factor = g / (scale * r)
        for c in range(latent.shape[1]):
            step = factor * (latent[i, c] - latent[j, c])
            grad_latent[i, c] += step
            grad_latent[j, c] -= step


@njit(cache=True)
def _latent_distance_matrix(latent):
    """Unscaled Euclidean distances of the rows of ``latent`` (m, k), both triangles.

    In the input dtype and the summation order of :func:`pair_distances`, so that
    the values equal what the matrix path gathers. Both triangles are filled, so
    that Prim can read rows only.
    """
    m, k = latent.shape
    r = np.zeros((m, m), dtype=latent.dtype)
    for i in range(m):
        for j in range(i + 1, m):
            d = latent[i, 0] - latent[j, 0]
            acc = d * d
            for c in range(1, k):
                d = latent[i, c] - latent[j, c]
                acc += d * d
            r[i, j] = r[j, i] = np.sqrt(acc)
    return r


@njit(cache=True, inline="always")
def _all_finite(array):
    for value in array.ravel():
        if not np.isfinite(value):
            return False
    return True


@njit(cache=True)
def _terms_and_gradients(dist_x, r, parent_x, parent_z, latent, scale, mode, separate):
    """The loss terms over two spanning trees and their gradients.

    Parameters
    ----------
    dist_x : ndarray of shape (m, m)
        Data-space distances (upper triangle read).
    r : ndarray of shape (m, m)
        Unscaled latent distances; ``r / scale`` are the latent-space distances.
    parent_x, parent_z : ndarray of shape (m,), int64
        The two spanning trees as parent arrays.
    latent : ndarray of shape (m, k)
    scale : float
    mode : int
        Index into ``MATCH_MODES``: which combination ``values[0]`` is.
    separate : bool
        Gradients of all three values (slots 0, 1, 2), or of ``values[0]`` only
        (one slot: what a training step needs, and less work).

    Returns
    -------
    values : ndarray of shape (3,), float64
        ``total``, ``x_to_z``, ``z_to_x``.
    grad_latent : ndarray of shape (3 or 1, m, k), float64
    grad_scale : ndarray of shape (3 or 1,), float64
    """
    m, k = latent.shape
    slots = 3 if separate else 1
    values = np.zeros(3)
    grad_latent = np.zeros((slots, m, k))
    grad_scale = np.zeros(slots)
    # Which slot each direction's gradient goes to (-1: not needed).
    slot_x = 1 if separate else (0 if mode == 0 or mode == 1 else -1)
    slot_z = 2 if separate else (0 if mode == 0 or mode == 2 else -1)
    for v in range(1, m):
        # L_X→Z over the data-space edges.
        i, j = min(parent_x[v], v), max(parent_x[v], v)
        diff = dist_x[i, j] - r[i, j] / scale
        values[1] += diff * diff
        if slot_x >= 0:
            _edge_gradient(
                grad_latent[slot_x], grad_scale[slot_x : slot_x + 1], latent, i, j, r[i, j],
                scale, -2.0 * diff,
            )  # fmt: skip
        # L_Z→X over the latent-space edges.
        i, j = min(parent_z[v], v), max(parent_z[v], v)
        diff = r[i, j] / scale - dist_x[i, j]
        values[2] += diff * diff
        if slot_z >= 0:
            _edge_gradient(
                grad_latent[slot_z], grad_scale[slot_z : slot_z + 1], latent, i, j, r[i, j],
                scale, 2.0 * diff,
            )  # fmt: skip
    if mode == 0:
        values[0] = values[1] + values[2]
        if separate:
            grad_latent[0] = grad_latent[1] + grad_latent[2]
            grad_scale[0] = grad_scale[1] + grad_scale[2]
    elif mode == 1 or mode == 2:
        values[0] = values[mode]
        if separate:
            grad_latent[0] = grad_latent[mode]
            grad_scale[0] = grad_scale[mode]
    else:
        # Signature: the sorted death values, i.e. both trees' edges in filtration order.
        edges_x = _tree_edges(dist_x, parent_x)
        edges_z = _tree_edges(r, parent_z)
        for e in range(m - 1):
            i, j = edges_z[e, 0], edges_z[e, 1]
            diff = dist_x[edges_x[e, 0], edges_x[e, 1]] - r[i, j] / scale
            values[0] += diff * diff
            _edge_gradient(
                grad_latent[0], grad_scale[0:1], latent, i, j, r[i, j], scale, -2.0 * diff
            )
    return values, grad_latent, grad_scale


@njit(cache=True)
def _latent_kernel(dist_x, latent, scale, mode):
    """Topological loss of latent points and its exact gradient, in one compiled call.

    The whole topological term without a torch operation: latent distances from
    the points, both spanning trees, the shared-edge count, the three terms and
    their gradients with respect to ``latent`` and ``scale``.

    Parameters
    ----------
    dist_x : ndarray of shape (m, m)
        Data-space distances (upper triangle read); same float dtype as ``latent``.
    latent : ndarray of shape (m, k)
    scale : float of that dtype
        Latent distances are divided by it.
    mode : int
        Index into ``MATCH_MODES``: which combination ``total`` is.

    Returns
    -------
    values : ndarray of shape (3,), float64
        ``total``, ``x_to_z``, ``z_to_x`` (NaN when an input is not finite).
    shared : int
    grad_latent : ndarray of shape (3, m, k)
        Gradient of each value with respect to ``latent``.
    grad_scale : ndarray of shape (3,)
        Gradient of each value with respect to ``scale``.
    """
    m, k = latent.shape
    if not (_all_finite(latent) and _all_finite(dist_x) and np.isfinite(scale)):
        # Propagate, so that training reports the divergence.
        return (
            np.full(3, np.nan), 0, np.zeros((3, m, k), latent.dtype), np.zeros(3, latent.dtype)
        )  # fmt: skip
    # A positive scale does not change the tree: it is applied to the selected edges only.
    r = _latent_distance_matrix(latent)
    parent_x = _prim_tree(dist_x)
    parent_z = _prim_tree(r, True)
    shared = _count_shared(parent_x, parent_z)
    values, grad_latent, grad_scale = _terms_and_gradients(
        dist_x, r, parent_x, parent_z, latent, scale, mode, True
    )
    return values, shared, grad_latent.astype(latent.dtype), grad_scale.astype(latent.dtype)


@njit(cache=True)
def _points_kernel(points, data_scale, latent, scale, weight, mode):
    """A training step's whole topological term, from the data points and the codes.

    :func:`_normalised_distances` of ``points`` (exactly symmetric, so both Prims
    read rows only), the latent distances, both trees, the terms, and the gradient
    of ``weight · values[0]`` with respect to ``latent`` and ``scale``.

    Returns
    -------
    values : ndarray of shape (3,), float64
        ``total``, ``x_to_z``, ``z_to_x``, unweighted (NaN when something is not finite).
    shared : int
    grad_latent : ndarray of shape (m, k), the dtype of ``latent``
    grad_scale : float
    """
    m, k = latent.shape
    nan_result = (np.full(3, np.nan), 0, np.zeros((m, k), latent.dtype), 0.0)
    if not (_all_finite(points) and _all_finite(latent) and np.isfinite(scale)):
        return nan_result
    dist_x, largest = _distance_matrix(points)
    if not np.isfinite(largest):  # finite points whose distances overflow
        return nan_result
    _normalise(dist_x, largest, data_scale)
    r = _latent_distance_matrix(latent)
    parent_x = _prim_tree(dist_x, True)
    parent_z = _prim_tree(r, True)
    shared = _count_shared(parent_x, parent_z)
    values, grad_latent, grad_scale = _terms_and_gradients(
        dist_x, r, parent_x, parent_z, latent, scale, mode, False
    )
    return values, shared, (weight * grad_latent[0]).astype(latent.dtype), weight * grad_scale[0]


def _host_arrays(dist_x, latent, scale, dtype):
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


def _host_arrays_packed(dist_x, latent, scale, dtype):
    # Everything the pairing needs in one device-to-host copy: one synchronisation.
    m, k = latent.shape
    scale = torch.as_tensor(scale, device=latent.device).detach().reshape(1)
    parts = [dist_x.detach().reshape(-1), latent.detach().reshape(-1), scale]
    packed = torch.cat([part.to(device=latent.device, dtype=dtype) for part in parts])
    packed = packed.cpu().numpy()
    return packed[: m * m].reshape(m, m), packed[m * m : -1].reshape(m, k), packed[-1]


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
    def forward(ctx, latent, scale, dist_x, mode):
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
    def backward(ctx, *grads):
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
    also receives the parts of the loss as Python floats.
    """

    @staticmethod
    def forward(ctx, loss, latent, scale, points, step):
        array_latent = np.ascontiguousarray(_numpy_view(latent))
        if points.ndim != 2:
            points = points.reshape(points.shape[0], -1)
        array_points = np.ascontiguousarray(_numpy_view(points))
        dtype = array_latent.dtype.type
        step.scale = scale.item() if isinstance(scale, torch.Tensor) else float(scale)
        values, shared, grad_latent, grad_scale = _points_kernel(
            array_points, dtype(step.data_scale), array_latent, dtype(step.scale), step.weight,
            step.mode,
        )  # fmt: skip
        step.reconstruction = loss.item()
        total = dtype(step.reconstruction + step.weight * values[0])
        step.loss, step.shared_edges = float(total), int(shared)
        step.total, step.x_to_z, step.z_to_x = float(values[0]), float(values[1]), float(values[2])
        ctx.grad_latent = torch.from_numpy(grad_latent)
        grad_scale = np.array(grad_scale, dtype=dtype)
        if isinstance(scale, torch.Tensor) and scale.ndim:
            grad_scale = grad_scale.reshape(scale.shape)
        ctx.grad_scale = torch.from_numpy(grad_scale)
        return torch.from_numpy(np.array(total))

    @staticmethod
    def backward(ctx, grad):
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

    def __init__(self, data_scale: float | None, weight: float, mode: int):
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


@njit(cache=True, fastmath={"reassoc"})
def _distance_matrix(points):
    """Euclidean distances of the rows of ``points`` (m, d), and the largest of them.

    Summing the direct differences (``reassoc`` lets the compiler vectorise over the
    features) is as fast as ``torch.cdist`` for a training batch, makes no torch
    call, and is more accurate: cdist's matrix-product form for m > 25 leaves
    errors of ~1e-2 on the diagonal and on small distances. Exactly symmetric.
    """
    m, d = points.shape
    out = np.zeros((m, m), dtype=points.dtype)
    zero = out.dtype.type(0)
    largest = zero
    for i in range(m):
        j = i + 1
        # Four partners at a time: each feature of point i is loaded once for all
        # four sums, which runs about twice as fast as one pair at a time.
        while j + 4 <= m:
            acc0 = acc1 = acc2 = acc3 = zero
            for c in range(d):
                p = points[i, c]
                diff0 = p - points[j, c]
                diff1 = p - points[j + 1, c]
                diff2 = p - points[j + 2, c]
                diff3 = p - points[j + 3, c]
                acc0 += diff0 * diff0
                acc1 += diff1 * diff1
                acc2 += diff2 * diff2
                acc3 += diff3 * diff3
            for offset, acc in enumerate((acc0, acc1, acc2, acc3)):
                value = np.sqrt(acc)
                out[i, j + offset] = out[j + offset, i] = value
                largest = max(largest, value)
            j += 4
        for rest in range(j, m):
            acc = zero
            for c in range(d):
                diff = points[i, c] - points[rest, c]
                acc += diff * diff
            value = np.sqrt(acc)
            out[i, rest] = out[rest, i] = value
            largest = max(largest, value)
    return out, largest


@njit(cache=True)
def _normalise(dist, largest, scale):
    """Divide ``dist`` in place by ``scale``, or by ``largest`` when ``scale <= 0``.

    A matrix of zeros (identical points) stays zeros.
    """
    divisor = scale if scale > 0 else largest
    if divisor > 0:
        dist /= divisor


@njit(cache=True)
def _normalised_distances(points, scale):
    """Distances of the rows of ``points`` (m, d) over ``scale`` (``<= 0``: over the largest)."""
    out, largest = _distance_matrix(points)
    _normalise(out, largest, out.dtype.type(scale))
    return out


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
    The result is the un-halved sum of squared differences (METHOD.md §3), *not*
    divided by the batch size: :class:`~topoae.models.TopologicallyRegularizedAutoencoder`
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
            raise ValueError(
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
            raise ValueError(
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
            raise ValueError(
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

    def _from_latent_by_gathering(self, dist_x, latent, latent_scale):
        # The general path (a data-distance matrix that needs a gradient too):
        # pairs from the kernel, values gathered with torch operations.
        with torch.no_grad():
            latent_dist = torch.cdist(latent.detach(), latent.detach())
        array_x, array_z = _as_numpy_pair(dist_x, latent_dist)

        def gather_x(matrix: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
            return matrix[pairs[:, 0], pairs[:, 1]]

        def gather_z(_: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
            return pair_distances(latent, pairs) / latent_scale

        return self._terms(array_x, array_z, dist_x, None, gather_x, gather_z)

    def _terms(self, array_x, array_z, dist_x, dist_z, gather_x, gather_z=None):
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
