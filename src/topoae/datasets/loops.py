"""Data sets with known loops (docs/cycles.md §4): circle, torus, linked rings, K4, K5, twist.

Each generator draws points on a low-dimensional shape with known Betti numbers,
adds Gaussian noise in the shape's own coordinates, and embeds the result in
``dim`` dimensions by a random isometry (the first columns of a random orthogonal
matrix), so every distance, and hence every persistence diagram, is the shape's
own. All randomness comes from ``np.random.default_rng(seed)``: the same seed
gives the same points. Nothing is standardised (a per-feature scaling would
distort the loops); the points are only centred.

======================  ===========================================  ====  ====
name                    shape                                        b0    b1
======================  ===========================================  ====  ====
``circle``              circle of radius 1                           1     1
``torus``               torus, radii 2 and 1                         1     2
``linked-rings``        two unit circles linked as a Hopf link       2     2
``k4-edges``            the 6 edges of K4 (regular simplex, unit     1     3
                        edges)
``k5-edges``            the 10 edges of K5 (no plane drawing         1     6
                        without crossings)
``twist``               closed space curve whose plane projections   1     1
                        cross themselves (in the spirit of
                        TopoAE++'s Twist)
======================  ===========================================  ====  ====

The split: a fixed test split of ``TEST_FRACTION`` of the points drawn with
``SPLIT_SEED`` (independent of the run's seed, as for Spheres), then
``validation_fraction`` of the rest drawn with the run's seed.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from topoae.datasets import Dataset, register, split_validation
from topoae.errors import InputError

__all__ = [
    "LOOP_DATASETS",
    "make_circle",
    "make_complete_graph_edges",
    "make_linked_rings",
    "make_torus",
    "make_twist",
]

SPLIT_SEED = 42
#: Larger than Spheres' 10 %: the test split's diagrams need enough points per loop.
TEST_FRACTION = 0.2

#: Registry name -> (b0, b1) of the shape.
LOOP_DATASETS: dict[str, tuple[int, int]] = {
    "circle": (1, 1),
    "torus": (1, 2),
    "linked-rings": (2, 2),
    "k4-edges": (1, 3),
    "k5-edges": (1, 6),
    "twist": (1, 1),
}


def _check(n_samples: int, dim: int, low_dim: int, noise: float) -> None:
    if n_samples < 1:
        raise InputError(f"n_samples must be >= 1, got {n_samples}.")
    if dim < low_dim:
        raise InputError(f"dim must be >= {low_dim} for this shape, got {dim}.")
    if noise < 0:
        raise InputError(f"noise must be >= 0, got {noise}.")


def _embed(points: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Centre ``points`` (n, k) and map them isometrically into R^dim (a random rotation)."""
    basis, _ = np.linalg.qr(rng.normal(size=(dim, points.shape[1])))
    centred = points - points.mean(axis=0)
    return (centred @ basis.T).astype(np.float32)


def _angle_labels(angle: np.ndarray, n_labels: int = 8) -> np.ndarray:
    return (np.mod(angle, 2 * np.pi) / (2 * np.pi) * n_labels).astype(np.int64) % n_labels


def make_circle(
    n_samples: int = 1000, dim: int = 100, noise: float = 0.05, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy unit circle embedded in R^dim.

    Angles are uniform; noise (standard deviation ``noise``) is added to both plane
    coordinates before the embedding.

    Returns
    -------
    X : ndarray of shape (n_samples, dim), float32
    y : ndarray of shape (n_samples,), int64
        Which of 8 equal arcs the point's angle falls in.
    """
    _check(n_samples, dim, 2, noise)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_samples)
    plane = np.column_stack([np.cos(angle), np.sin(angle)])
    plane += noise * rng.normal(size=plane.shape)
    return _embed(plane, dim, rng), _angle_labels(angle)


def make_torus(
    n_samples: int = 3000,
    dim: int = 100,
    noise: float = 0.05,
    major_radius: float = 2.0,
    minor_radius: float = 1.0,
    seed: int = 42,
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy torus of revolution embedded in R^dim, uniform in area.

    Angles are drawn by rejection so that the density is uniform on the surface.

    Returns
    -------
    X : ndarray of shape (n_samples, dim), float32
    y : ndarray of shape (n_samples,), int64
        Which of 8 equal sectors the major angle falls in.
    """
    _check(n_samples, dim, 3, noise)
    if not 0 < minor_radius < major_radius:
        raise InputError(
            f"Need 0 < minor_radius < major_radius, got {minor_radius} and {major_radius}."
        )
    rng = np.random.default_rng(seed)
    major, minor = np.empty(0), np.empty(0)
    while len(major) < n_samples:
        u, v = rng.uniform(0, 2 * np.pi, (2, 2 * n_samples))
        # Area element ∝ R + r cos(v): accept with that probability.
        accept = rng.uniform(0, 1, 2 * n_samples) * (major_radius + minor_radius) <= (
            major_radius + minor_radius * np.cos(v)
        )
        major = np.concatenate([major, u[accept]])
        minor = np.concatenate([minor, v[accept]])
    major, minor = major[:n_samples], minor[:n_samples]
    ring = major_radius + minor_radius * np.cos(minor)
    points = np.column_stack(
        [ring * np.cos(major), ring * np.sin(major), minor_radius * np.sin(minor)]
    )
    points += noise * rng.normal(size=points.shape)
    return _embed(points, dim, rng), _angle_labels(major)


def make_linked_rings(
    n_samples: int = 1000, dim: int = 100, noise: float = 0.03, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Two unit circles linked as a Hopf link, embedded in R^dim.

    Ring 0 lies in the x–y plane around the origin, ring 1 in the x–z plane around
    (1, 0, 0): each passes through the other's centre. The rings are 1 apart at
    their closest (as far as each ring's radius), so they stay two components up to
    that scale.

    Returns
    -------
    X : ndarray of shape (n_samples, dim), float32
    y : ndarray of shape (n_samples,), int64
        The ring (0 or 1); the first ``n_samples // 2`` points are ring 0.
    """
    _check(n_samples, dim, 3, noise)
    rng = np.random.default_rng(seed)
    first = n_samples // 2
    angle = rng.uniform(0, 2 * np.pi, n_samples)
    cos, sin, zero = np.cos(angle), np.sin(angle), np.zeros(n_samples)
    ring0 = np.column_stack([cos, sin, zero])
    ring1 = np.column_stack([1 + cos, zero, sin])
    points = np.where((np.arange(n_samples) < first)[:, None], ring0, ring1)
    points += noise * rng.normal(size=points.shape)
    labels = (np.arange(n_samples) >= first).astype(np.int64)
    return _embed(points, dim, rng), labels


def make_complete_graph_edges(
    n_vertices: int = 5,
    n_per_edge: int = 100,
    dim: int = 100,
    noise: float = 0.01,
    seed: int = 42,
) -> tuple[np.ndarray, np.ndarray]:
    """Points along the edges of the complete graph K_n, embedded in R^dim.

    The vertices are those of a regular simplex with unit edges (in general position:
    no two edges meet except at a shared vertex); each edge carries ``n_per_edge``
    points at uniform random positions. The graph has
    ``b1 = n(n − 1)/2 − n + 1`` independent cycles (3 for K4, 6 for K5).

    Returns
    -------
    X : ndarray of shape (n_per_edge · n(n − 1)/2, dim), float32
    y : ndarray, int64
        The edge index, in the order of ``itertools.combinations(range(n), 2)``.
    """
    if n_vertices < 3:
        raise InputError(f"n_vertices must be >= 3 (a graph with a cycle), got {n_vertices}.")
    _check(n_per_edge, dim, n_vertices, noise)
    rng = np.random.default_rng(seed)
    vertices = np.eye(n_vertices) / np.sqrt(2)
    parts, labels = [], []
    for index, (a, b) in enumerate(combinations(range(n_vertices), 2)):
        t = rng.uniform(0, 1, n_per_edge)[:, None]
        parts.append((1 - t) * vertices[a] + t * vertices[b])
        labels.append(np.full(n_per_edge, index, dtype=np.int64))
    points = np.concatenate(parts)
    points += noise * rng.normal(size=points.shape)
    return _embed(points, dim, rng), np.concatenate(labels)


def make_twist(
    n_samples: int = 1000, dim: int = 100, noise: float = 0.02, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """A twisted closed curve ``(3 cos t, sin 2t, sin t)`` embedded in R^dim.

    The curve is simple (``x`` and ``z`` fix ``t``), but its shadow on the x–y plane is
    a figure eight (``y`` and ``z`` have equal variance, so a PCA plane may be any mix).
    Our own curve in the spirit of TopoAE++'s Twist data (not their points). Its Rips
    diagram has, besides the loop (persistence about 2), one class of about 0.28 where
    the two lobes of the figure eight pass each other.

    Returns
    -------
    X : ndarray of shape (n_samples, dim), float32
    y : ndarray of shape (n_samples,), int64
        Which of 8 equal arcs of ``t`` the point falls in.
    """
    _check(n_samples, dim, 3, noise)
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n_samples)
    points = np.column_stack([3 * np.cos(t), np.sin(2 * t), np.sin(t)])
    points += noise * rng.normal(size=points.shape)
    return _embed(points, dim, rng), _angle_labels(t)


def _split(name: str, x: np.ndarray, y: np.ndarray, seed: int, fraction: float, info) -> Dataset:
    n_test = round(TEST_FRACTION * len(x))
    order = np.random.RandomState(SPLIT_SEED).permutation(len(x))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    x_tr, y_tr, x_val, y_val = split_validation(x[train], y[train], fraction, seed)
    b0, b1 = LOOP_DATASETS[name]
    return Dataset(
        name=name,
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_val,
        y_val=y_val,
        x_test=x[test],
        y_test=y[test],
        data_scale=None,
        info={**info, "betti": [b0, b1], "standardised": False},
    )


@register("circle")
def load_circle(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """:func:`make_circle` with the loop data split (keyword arguments go to the generator)."""
    x, y = make_circle(**kwargs)
    return _split("circle", x, y, seed, validation_fraction, {"source": "make_circle"})


@register("torus")
def load_torus(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """:func:`make_torus` with the loop data split."""
    x, y = make_torus(**kwargs)
    return _split("torus", x, y, seed, validation_fraction, {"source": "make_torus"})


@register("linked-rings")
def load_linked_rings(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """:func:`make_linked_rings` with the loop data split."""
    x, y = make_linked_rings(**kwargs)
    info = {"source": "make_linked_rings"}
    return _split("linked-rings", x, y, seed, validation_fraction, info)


@register("k4-edges")
def load_k4_edges(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """:func:`make_complete_graph_edges` with 4 vertices and the loop data split."""
    x, y = make_complete_graph_edges(n_vertices=4, **kwargs)
    info = {"source": "make_complete_graph_edges(n_vertices=4)"}
    return _split("k4-edges", x, y, seed, validation_fraction, info)


@register("k5-edges")
def load_k5_edges(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """:func:`make_complete_graph_edges` with 5 vertices and the loop data split."""
    x, y = make_complete_graph_edges(n_vertices=5, **kwargs)
    info = {"source": "make_complete_graph_edges(n_vertices=5)"}
    return _split("k5-edges", x, y, seed, validation_fraction, info)


@register("twist")
def load_twist(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """:func:`make_twist` with the loop data split."""
    x, y = make_twist(**kwargs)
    return _split("twist", x, y, seed, validation_fraction, {"source": "make_twist"})
