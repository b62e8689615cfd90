"""TopoMap: the layout keeps the data's MST edge lengths (so its H0 diagram), exactly."""

import numpy as np
import pytest
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from topoae.baselines import make_baseline
from topoae.baselines_topomap import euclidean_mst, topomap_layout
from topoae.errors import InputError


def _mst_lengths(points):
    # scipy's MST on the dense matrix (no zero-length edges in these tests).
    tree = minimum_spanning_tree(cdist(points, points)).tocoo()
    return np.sort(tree.data)


def test_layout_keeps_the_mst_edge_lengths():
    X = np.random.default_rng(0).normal(size=(200, 10))
    Y = topomap_layout(X)
    assert Y.shape == (200, 2)
    data, layout = _mst_lengths(X), _mst_lengths(Y)
    assert len(layout) == 199
    np.testing.assert_allclose(layout, data, rtol=1e-6, atol=0)
    assert layout.sum() == pytest.approx(data.sum(), rel=1e-9)
    # The H0 diagram of the layout is the data's (ripser's death times, where installed).
    ripser = pytest.importorskip("ripser")
    h0_x = np.sort(ripser.ripser(X, maxdim=0)["dgms"][0][:-1, 1])
    h0_y = np.sort(ripser.ripser(Y, maxdim=0)["dgms"][0][:-1, 1])
    np.testing.assert_allclose(h0_y, h0_x, rtol=1e-6)


def test_deterministic_and_robust_to_repeated_and_collinear_points():
    X = np.random.default_rng(1).normal(size=(60, 5))
    np.testing.assert_array_equal(topomap_layout(X), topomap_layout(X.copy()))
    repeated = np.repeat(X[:15], 3, axis=0)
    line = np.outer(np.linspace(0, 1, 12) ** 2, np.ones(4))
    for points in (repeated, line):
        Y = topomap_layout(points)
        assert np.isfinite(Y).all()
        np.testing.assert_allclose(
            np.sort(euclidean_mst(Y)[1]), np.sort(euclidean_mst(points)[1]), atol=1e-9
        )
    assert topomap_layout(X[:1]).shape == (1, 2)


def test_euclidean_mst_matches_scipy():
    X = np.random.default_rng(2).normal(size=(80, 3))
    edges, lengths = euclidean_mst(X)
    assert edges.shape == (79, 2) and np.all(edges[:, 0] < edges[:, 1])
    assert np.all(np.diff(lengths) >= 0)
    assert lengths.sum() == pytest.approx(minimum_spanning_tree(cdist(X, X)).sum(), rel=1e-12)


def test_baseline_has_no_out_of_sample_map():
    X = np.random.default_rng(3).normal(size=(40, 6))
    model = make_baseline("topomap", random_state=0)
    assert model.out_of_sample is False
    np.testing.assert_array_equal(model.fit(X).transform(X), topomap_layout(X))
    np.testing.assert_array_equal(model.fit_transform(X), model.embedding_)
    with pytest.raises(InputError, match="no out-of-sample map"):
        model.transform(X[:10])
    with pytest.raises(ValueError, match="n_components must be 2"):
        make_baseline("topomap", n_components=3).fit(X)
