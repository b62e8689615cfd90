"""The Spheres data of docs/method.md §4 and the data-set registry."""

import numpy as np
import pandas as pd
import pytest

from topoae import datasets, make_spheres


def test_make_spheres_geometry():
    x, y = make_spheres()
    assert x.shape == (10_000, 101) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [500] * 10 + [5000])
    # The enclosing sphere is centred at the origin with radius 25.
    np.testing.assert_allclose(np.linalg.norm(x[y == 10], axis=1), 25, rtol=1e-5)
    # Each small sphere has radius 5 around its own centre.
    for label in range(10):
        points = x[y == label].astype(np.float64)
        radii = np.linalg.norm(points - points.mean(0), axis=1)
        assert 4.5 < radii.mean() < 5.5


def test_make_spheres_is_deterministic_and_seeded():
    a, _ = make_spheres(n_samples=20, d=5)
    b, _ = make_spheres(n_samples=20, d=5)
    c, _ = make_spheres(n_samples=20, d=5, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_spheres_split_matches_the_paper():
    data = datasets.load("spheres", seed=0)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (7650, 1350, 1000)
    np.testing.assert_array_equal(
        np.bincount(data.y_test), [66, 46, 47, 52, 47, 39, 56, 35, 46, 58, 508]
    )
    train = np.concatenate([data.x_train, data.x_val]).astype(np.float64)
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-4)
    assert data.data_scale is None and data.input_shape == (101,)


def test_test_split_aligns_with_the_authors_embeddings(reference_dir):
    data = datasets.load("spheres")
    labels = pd.read_csv(reference_dir / "TopoAE.csv")["labels"].to_numpy()
    np.testing.assert_array_equal(labels.astype(np.int64), data.y_test)


def test_validation_split_depends_on_seed_only():
    a, b, c = (datasets.load("spheres", seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    np.testing.assert_array_equal(a.x_test, c.x_test)


def test_registry_errors():
    assert "spheres" in datasets.available()
    with pytest.raises(ValueError, match="Unknown data set 'nope'"):
        datasets.load("nope")
    with pytest.raises(ValueError, match="validation_fraction"):
        datasets.load("spheres", validation_fraction=1.5)
    with pytest.raises(ValueError, match="make_spheres needs"):
        make_spheres(n_samples=0)
