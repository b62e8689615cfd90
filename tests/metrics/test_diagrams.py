"""Persistence diagrams and their distances: against ripser, gudhi and topoae's own MST."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from topoae.metrics.diagrams import (
    compare_persistence,
    compare_persistence_each,
    diagram_distances,
    persistence_diagrams,
    subsample_indices,
)


def random_points(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


def circle(n, seed=0, noise=0.0):
    angles = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
    return np.column_stack([np.cos(angles), np.sin(angles)]) + noise * np.random.default_rng(
        seed + 1
    ).normal(size=(n, 2))


# --------------------------------------------------------------------------- diagrams


def test_points_vs_precomputed_give_same_diagram():
    points = random_points(30, 3, 6)
    from_points = persistence_diagrams(points, max_dimension=1)
    from_matrix = persistence_diagrams(cdist(points, points), 1, metric="precomputed")
    for a, b in zip(from_points, from_matrix, strict=True):
        np.testing.assert_allclose(a, b)


def test_circle_has_one_persistent_cycle():
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    circle_ = np.column_stack([np.cos(angles), np.sin(angles)])
    h0, h1 = persistence_diagrams(circle_, max_dimension=1)
    assert len(h0) == 39
    lifetimes = np.sort(h1[:, 1] - h1[:, 0])
    assert lifetimes[-1] > 1.0  # the circle's hole lives from ~0.16 to ~1.73
    assert lifetimes[:-1].sum() < 0.1  # and nothing else persists


@pytest.mark.parametrize("duplicates", [False, True])
def test_h0_equals_ripser_and_the_loss_pairing(duplicates):
    ripser = pytest.importorskip("ripser").ripser
    from topoae.core.topology import h0_deaths

    points = np.round(random_points(50, 2, 3), 1)  # rounding makes ties
    if duplicates:
        points[10:15] = points[0]  # coincident points join at scale 0
    dist = cdist(points, points)
    (h0,) = persistence_diagrams(dist, 0, metric="precomputed")
    assert len(h0) == 49 and (h0[:, 0] == 0).all()
    np.testing.assert_array_equal(h0[:, 1], np.sort(h0_deaths(dist)))
    theirs = ripser(dist, maxdim=0, distance_matrix=True)["dgms"][0]
    theirs = np.sort(theirs[np.isfinite(theirs[:, 1]), 1])
    # ripser leaves out classes of persistence 0 (coincident points) and works in float32.
    np.testing.assert_allclose(h0[h0[:, 1] > 0, 1], theirs, rtol=1e-6)
    assert (h0[:, 1] == 0).sum() == 49 - len(theirs) >= (5 if duplicates else 0)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.zeros((3, 4)), "square"),
        (np.array([[0, np.nan], [np.nan, 0]]), "NaN or inf"),
        (np.array([[0, -1.0], [-1.0, 0]]), "negative"),
        (np.array([[0, 1.0], [2.0, 0]]), "not symmetric"),
    ],
)
def test_bad_distance_matrix(matrix, message):
    with pytest.raises(ValueError, match=message):
        persistence_diagrams(matrix, 0, metric="precomputed")


def test_subsample_indices():
    idx = subsample_indices(100, 30, 4)
    assert len(idx) == 30 and (np.diff(idx) > 0).all()
    np.testing.assert_array_equal(idx, subsample_indices(100, 30, 4))
    np.testing.assert_array_equal(subsample_indices(10, None, 0), np.arange(10))
    np.testing.assert_array_equal(subsample_indices(10, 50, 0), np.arange(10))


# --------------------------------------------------------------------------- comparisons


def test_compare_persistence_isometric_copy_has_distance_zero():
    X = np.column_stack([circle(60), np.zeros(60)])  # a circle in a plane of R^3
    theta = 0.7
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    Z = 3.0 * X[:, :2] @ rotation  # rotated and scaled: the same after normalising
    result = compare_persistence(X, Z, n_subsample=None)
    assert result.n_points == 60
    assert len(result.diagrams_x[1]) >= 1  # the circle's loop
    for key, value in result.distances.items():
        assert value == pytest.approx(0.0, abs=1e-9), key


def test_compare_persistence_loop_lost_in_a_line():
    X = circle(80)
    Z = np.column_stack([np.arctan2(X[:, 1], X[:, 0]), np.zeros(80)])  # the circle cut open
    result = compare_persistence(X, Z, n_subsample=50, random_state=3)
    assert result.n_points == 50
    assert len(result.diagrams_z[1]) == 0
    # The bottleneck distance in H1 is half the persistence of the circle's loop (it is
    # matched to the diagonal), computed here by hand.
    loop = result.diagrams_x[1][np.argmax(np.diff(result.diagrams_x[1], axis=1))]
    assert result.distances["bottleneck_h1"] == pytest.approx((loop[1] - loop[0]) / 2)
    assert result.distances["bottleneck_h1"] > 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"Z": np.zeros((5, 2))}, "same points"),
        ({"max_dimension": 3}, "max_dimension"),
        ({"n_subsample": 2}, "n_subsample"),
    ],
)
def test_compare_persistence_bad_input(kwargs, message):
    args = {"X": circle(10), "Z": circle(10), **kwargs}
    with pytest.raises(ValueError, match=message):
        compare_persistence(**args)


def test_each_shares_the_data_diagrams_and_equals_one_by_one():
    rng = np.random.RandomState(1)
    X = np.column_stack([circle(70, noise=0.1), rng.normal(size=(70, 3)) * 0.2])
    embeddings = {"noisy": X[:, :2] + rng.normal(size=(70, 2)) * 0.2, "line": X[:, :1]}
    each = compare_persistence_each(X, embeddings, n_subsample=45, random_state=7)
    assert each["noisy"].diagrams_x is each["line"].diagrams_x
    for name, Z in embeddings.items():
        alone = compare_persistence(X, Z, n_subsample=45, random_state=7)
        assert each[name].distances == alone.distances
        # The measure of topoae.metrics.evaluate is the same computation.
        assert diagram_distances(X, Z, n_subsample=45, random_state=7) == alone.distances
