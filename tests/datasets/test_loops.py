"""The loop data sets: registered, seeded, and with the Betti numbers they claim."""

import numpy as np
import pytest

from topoae import datasets
from topoae.datasets.loops import LOOP_DATASETS, make_circle, make_complete_graph_edges
from topoae.errors import InputError

ripser = pytest.importorskip("ripser")

#: Persistence above which a class counts (H0, H1), below the shape's and above the noise's.
THRESHOLDS = {
    "circle": (0.5, 0.5),
    "torus": (0.8, 0.8),
    "linked-rings": (0.5, 0.3),
    "k4-edges": (0.3, 0.15),
    "k5-edges": (0.3, 0.15),
    "twist": (0.8, 0.8),
}


def _maxmin(points, k):
    """Greedy farthest-point subsample: covers the shape evenly with few points."""
    chosen = [0]
    nearest = np.linalg.norm(points - points[0], axis=1)
    for _ in range(k - 1):
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return points[chosen]


@pytest.mark.parametrize("name", sorted(LOOP_DATASETS))
def test_betti_numbers_by_persistence(name):
    data = datasets.load(name)
    points = np.concatenate([data.x_train, data.x_val, data.x_test]).astype(np.float64)
    sample = _maxmin(points, 400)
    h0, h1 = ripser.ripser(sample, maxdim=1)["dgms"]
    t0, t1 = THRESHOLDS[name]
    b0 = 1 + int(np.sum(h0[np.isfinite(h0[:, 1]), 1] > t0))
    b1 = int(np.sum(h1[:, 1] - h1[:, 0] > t1))
    assert (b0, b1) == LOOP_DATASETS[name]
    assert data.info["betti"] == list(LOOP_DATASETS[name])


@pytest.mark.parametrize("name", sorted(LOOP_DATASETS))
def test_records_and_splits(name):
    data = datasets.load(name, seed=1)
    n = len(data.x_train) + len(data.x_val) + len(data.x_test)
    assert data.input_shape == (100,) and data.x_train.dtype == np.float32
    assert len(data.x_test) == round(0.2 * n)
    assert data.y_train.dtype == np.int64 and len(data.y_val) == len(data.x_val)
    again = datasets.load(name, seed=1)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    # The run's seed changes only the validation split, never the points or the test split.
    other = datasets.load(name, seed=2)
    np.testing.assert_array_equal(data.x_test, other.x_test)
    assert not np.array_equal(data.x_val, other.x_val)


def test_generators_are_seeded_and_isometric():
    a, _ = make_circle(n_samples=50, seed=5)
    b, _ = make_circle(n_samples=50, seed=5)
    c, _ = make_circle(n_samples=50, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Without noise the embedded circle spans a plane and keeps radius 1 (about its
    # centroid, which sampling moves by ~0.01).
    clean, _ = make_circle(n_samples=4000, noise=0.0, seed=0)
    centred = clean - clean.mean(axis=0)
    assert np.linalg.matrix_rank(centred.astype(np.float64), tol=1e-4) == 2
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, atol=0.03)
    x, y = make_complete_graph_edges(n_vertices=4, n_per_edge=10, dim=20, noise=0.0)
    assert x.shape == (60, 20) and sorted(set(y.tolist())) == list(range(6))


def test_bad_parameters():
    with pytest.raises(InputError, match="dim"):
        make_circle(dim=1)
    with pytest.raises(InputError, match="noise"):
        make_circle(noise=-1)
    with pytest.raises(InputError, match="n_vertices"):
        make_complete_graph_edges(n_vertices=2)
    with pytest.raises(InputError, match="radius"):
        datasets.load("torus", minor_radius=3.0)
