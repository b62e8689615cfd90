"""Persistence pairs against a slow stable Kruskal, scipy's MST and ripser / gudhi."""

import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from topoae.core.topology import h0_deaths, persistence_pairs


def kruskal_reference(dist: np.ndarray) -> np.ndarray:
    """Stable-sorted Kruskal over the row-major upper triangle (the reference's procedure)."""
    n = len(dist)
    rows, cols = np.triu_indices(n, k=1)
    order = np.argsort(dist[rows, cols], kind="stable")
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    edges = []
    for e in order:
        i, j = rows[e], cols[e]
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
            edges.append((i, j))
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def random_points(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


CASES = {
    "random": lambda: cdist(random_points(40, 5, 0), random_points(40, 5, 0)),
    "random_float32": lambda: cdist(random_points(33, 3, 1), random_points(33, 3, 1)).astype(
        np.float32
    ),
    # Many ties: integer-valued points on a small grid.
    "integer_valued": lambda: cdist(
        *(2 * [np.random.default_rng(2).integers(0, 3, size=(30, 2)).astype(float)]),
        metric="cityblock",
    ),
    # Every distance equal: the order alone decides.
    "all_tied": lambda: np.ones((12, 12)) - np.eye(12),
    "duplicate_points": lambda: cdist(*(2 * [np.repeat(random_points(10, 4, 3), 3, axis=0)])),
    "integer_dtype": lambda: np.random.default_rng(4).integers(1, 5, size=(20, 20)),
}


def symmetric(matrix):
    upper = np.triu(matrix, 1)
    return upper + upper.T


@pytest.mark.parametrize("name", list(CASES))
def test_pairs_equal_stable_kruskal(name):
    dist = symmetric(CASES[name]())
    pairs = persistence_pairs(dist)
    assert pairs.dtype == np.int64
    assert pairs.shape == (len(dist) - 1, 2)
    np.testing.assert_array_equal(pairs, kruskal_reference(dist))


@pytest.mark.parametrize("seed", range(5))
def test_tree_properties_and_scipy_weight(seed):
    points = random_points(50, 3, seed)
    dist = cdist(points, points)
    pairs = persistence_pairs(dist)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    # Spanning and acyclic: n-1 edges joining all n vertices.
    parent = list(range(len(dist)))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for i, j in pairs:
        assert find(i) != find(j), "cycle"
        parent[find(i)] = find(j)
    assert len({find(v) for v in range(len(dist))}) == 1
    weights = dist[pairs[:, 0], pairs[:, 1]]
    assert np.all(np.diff(weights) >= 0), "not in filtration order"
    assert weights.sum() == pytest.approx(minimum_spanning_tree(dist).sum(), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_deaths_equal_ripser_and_gudhi(seed):
    ripser = pytest.importorskip("ripser")
    gudhi = pytest.importorskip("gudhi")
    points = random_points(60, 4, seed)
    dist = cdist(points, points)
    ours = h0_deaths(dist)
    h0 = ripser.ripser(dist, distance_matrix=True, maxdim=0)["dgms"][0]
    np.testing.assert_allclose(ours, np.sort(h0[np.isfinite(h0[:, 1]), 1]), rtol=1e-6)
    tree = gudhi.RipsComplex(distance_matrix=dist).create_simplex_tree(max_dimension=1)
    tree.compute_persistence()
    intervals = tree.persistence_intervals_in_dimension(0)
    finite = np.sort(intervals[np.isfinite(intervals[:, 1]), 1])
    np.testing.assert_allclose(ours, finite, rtol=1e-12)


def test_batch_and_tensor_inputs():
    points = random_points(3 * 16, 2, 5).reshape(3, 16, 2)
    batch = np.stack([cdist(p, p) for p in points])
    pairs = persistence_pairs(batch)
    assert pairs.shape == (3, 15, 2)
    for b in range(3):
        np.testing.assert_array_equal(pairs[b], persistence_pairs(batch[b]))
    tensor_pairs = persistence_pairs(torch.from_numpy(batch).float())
    assert isinstance(tensor_pairs, torch.Tensor) and tensor_pairs.dtype == torch.int64
    np.testing.assert_array_equal(tensor_pairs.numpy(), pairs)


def test_tiny_inputs():
    assert persistence_pairs(np.zeros((1, 1))).shape == (0, 2)
    np.testing.assert_array_equal(persistence_pairs(np.array([[0, 2.0], [2.0, 0]])), [[0, 1]])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.zeros((3, 4)), "square"),
        (np.zeros(5), "square"),
        (np.zeros((0, 0)), "no points"),
        (np.array([[0, np.nan], [np.nan, 0]]), "NaN or inf"),
        (np.array([[0, np.inf], [np.inf, 0]]), "NaN or inf"),
        (np.array([[0, -1.0], [-1.0, 0]]), "negative"),
        (np.array([[0, 1.0], [2.0, 0]]), "not symmetric"),
        (np.array([["a", "b"], ["b", "a"]]), "numeric"),
    ],
)
def test_bad_input_raises_clear_error(matrix, message):
    with pytest.raises(ValueError, match=message):
        persistence_pairs(matrix)
