"""Baselines: the paper's settings as defaults, known answers, out-of-sample placement, errors."""

import sys

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from topoae.baselines import (
    BASELINES,
    SKLEARN_TO_OPENTSNE_LEARNING_RATE,
    IsomapBaseline,
    PCABaseline,
    make_baseline,
)


def _plane(n: int, seed: int = 0, dim: int = 6) -> np.ndarray:
    """Points of a random 2-D plane in R^dim (an isometric linear embedding)."""
    rng = np.random.RandomState(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return rng.uniform(-3, 3, size=(n, 2)) @ basis.T + rng.normal(size=dim)


def _blobs(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four well-separated Gaussian clusters in R^10."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=20, size=(4, 10))
    x = np.concatenate([c + rng.normal(size=(n_per, 10)) for c in centres])
    return x, np.repeat(np.arange(4), n_per)


def _knn_accuracy(z_train, y_train, z_test, y_test) -> float:
    nearest = np.argmin(((z_test[:, None, :] - z_train[None, :, :]) ** 2).sum(-1), axis=1)
    return float(np.mean(y_train[nearest] == y_test))


def test_defaults_are_the_papers_spheres_settings():
    assert make_baseline("isomap").n_neighbors == 25
    tsne = make_baseline("tsne")
    assert (tsne.perplexity, tsne.learning_rate) == (35.43, 10.33)
    umap = make_baseline("umap", random_state=3)
    assert (umap.n_neighbors, umap.min_dist, umap.random_state) == (118, 0.7097, 3)
    # Overrides win; None means "keep the default".
    assert make_baseline("isomap", n_neighbors=7).n_neighbors == 7
    assert make_baseline("isomap", n_neighbors=None).n_neighbors == 25
    # The image data sets have their own t-SNE / UMAP settings.
    assert make_baseline("umap", "mnist").n_neighbors == 355
    assert set(BASELINES) == {"pca", "isomap", "tsne", "umap", "topomap", "pacmap", "trimap"}


def test_unknown_name_and_bad_setting_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown baseline 'lle'"):
        make_baseline("lle")
    with pytest.raises(ValueError, match="Invalid setting for baseline 'pca'"):
        make_baseline("pca", perplexity=3)


def test_pca_reconstructs_planar_data_exactly_and_keeps_distances():
    x = _plane(120)
    pca = make_baseline("pca").fit(x[:100])
    z = pca.transform(x[100:])
    assert z.shape == (20, 2)
    assert np.allclose(pca.inverse_transform(z), x[100:], atol=1e-8)
    assert np.allclose(pdist(z), pdist(x[100:]), atol=1e-8)
    assert pca.reconstructs and not make_baseline("isomap").reconstructs


def test_isomap_with_full_neighbourhoods_is_exact_on_flat_data():
    # With every other point a neighbour, geodesic = Euclidean distance on flat data, so Isomap
    # is classical MDS and keeps the training distances exactly. A new point sees 59 of the 60
    # training points directly (one via a detour), so its placement is only nearly exact.
    x = _plane(90, seed=1)
    isomap = IsomapBaseline(n_neighbors=59).fit(x[:60])
    assert np.allclose(pdist(isomap.embedding_), pdist(x[:60]), rtol=1e-6)
    z = isomap.transform(x[60:])
    assert np.allclose(pdist(z), pdist(x[60:]), rtol=5e-3)
    assert not np.allclose(pdist(z), 2 * pdist(x[60:]), rtol=0.5)  # not a trivial pass


def test_isomap_seed_makes_it_repeatable():
    x = _plane(80, seed=2) + np.random.RandomState(0).normal(scale=0.1, size=(80, 6))
    a = make_baseline("isomap", random_state=5, n_neighbors=10).fit_transform(x)
    b = make_baseline("isomap", random_state=5, n_neighbors=10).fit_transform(x)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["tsne", "umap"])
def test_new_points_land_in_their_clusters(name):
    # The fitted map places held-out points next to training points of their own cluster;
    # a 1-NN classifier on the raw random start would be near chance (0.25).
    x, y = _blobs(60)
    order = np.random.RandomState(1).permutation(len(x))
    train, test = order[:180], order[180:]
    small = {"tsne": {"perplexity": 10, "n_iter": 250}, "umap": {"n_neighbors": 10}}[name]
    model = make_baseline(name, random_state=0, **small).fit(x[train])
    z = model.transform(x[test])
    assert z.shape == (60, 2) and np.isfinite(z).all()
    assert _knn_accuracy(model.embedding_, y[train], z, y[test]) > 0.95
    random_start = np.random.RandomState(0).normal(size=(180, 2))
    assert _knn_accuracy(random_start, y[train], z, y[test]) < 0.6


def test_tsne_learning_rate_is_converted_from_sklearns_convention(monkeypatch):
    import openTSNE

    seen = {}

    class FakeTSNE:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def fit(self, x):
            return np.zeros((len(x), 2))

    monkeypatch.setattr(openTSNE, "TSNE", FakeTSNE)
    make_baseline("tsne", random_state=1).fit(np.random.RandomState(0).normal(size=(200, 3)))
    assert seen["learning_rate"] == pytest.approx(SKLEARN_TO_OPENTSNE_LEARNING_RATE * 10.33)
    assert seen["perplexity"] == 35.43 and seen["early_exaggeration"] == 12.0
    assert seen["early_exaggeration_iter"] + seen["n_iter"] == 1000  # scikit-learn's total


def test_bad_inputs_are_clear_errors():
    x = _plane(50)
    with pytest.raises(ValueError, match="not fitted"):
        PCABaseline().transform(x)
    fitted = PCABaseline().fit(x)
    with pytest.raises(ValueError, match="has 3 features but PCABaseline was fitted on 6"):
        fitted.transform(x[:, :3])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PCABaseline().fit(bad)
    with pytest.raises(ValueError, match="shape"):
        PCABaseline().fit(np.ones(5))
    with pytest.raises(ValueError, match="at least 26"):
        make_baseline("isomap").fit(x[:20])
    with pytest.raises(ValueError, match="perplexity"):
        make_baseline("tsne").fit(x[:40])
    with pytest.raises(NotImplementedError, match="no inverse"):
        make_baseline("isomap").inverse_transform(np.zeros((2, 2)))


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "openTSNE", None)  # makes `import openTSNE` fail
    with pytest.raises(ImportError, match=r"topoae\[baselines\]"):
        make_baseline("tsne").fit(_plane(200))


def test_images_are_flattened():
    x = np.random.RandomState(0).normal(size=(40, 1, 3, 3))
    model = make_baseline("pca").fit(x)
    assert model.n_features_in_ == 9
    assert model.transform(x[:5]).shape == (5, 2)


@pytest.mark.parametrize("name", ["pacmap", "trimap"])
def test_pacmap_and_trimap_place_test_points_among_their_clusters(name):
    pytest.importorskip(name)
    x, y = _blobs(40)
    order = np.random.RandomState(1).permutation(len(x))
    train, test = order[:120], order[120:]
    model = make_baseline(name, "auto", random_state=0).fit(x[train])
    z_test = model.transform(x[test])
    assert z_test.shape == (len(test), 2) and np.isfinite(z_test).all()
    assert model.embedding_.shape == (len(train), 2)
    # Clusters 20 standard deviations apart: every test point lands among its own cluster.
    assert _knn_accuracy(model.embedding_, y[train], z_test, y[test]) > 0.95


def test_pacmap_and_trimap_missing_name_the_extra(monkeypatch):
    from topoae.errors import MissingDependencyError

    for name in ("pacmap", "trimap"):
        monkeypatch.setitem(sys.modules, name, None)
        with pytest.raises(MissingDependencyError, match=r"topoae\[more-baselines\]"):
            make_baseline(name).fit(np.random.RandomState(0).normal(size=(40, 3)))
