"""``compare`` with the cycle variants of TopoAE and the TopoMap baseline."""

import numpy as np
import pytest

from topoae import datasets
from topoae.apps.compare.methods import run_method
from topoae.apps.compare.tables import summarize, table_markdown
from topoae.paper import AUTOENCODERS, CYCLE_METHODS, METHODS


@pytest.fixture(scope="module")
def circle():
    return datasets.load("circle", seed=0, n_samples=200)


def test_cycle_methods_are_known_autoencoders():
    for method in CYCLE_METHODS:
        assert method in METHODS and method in AUTOENCODERS
    assert "topomap" in METHODS and "topomap" not in AUTOENCODERS


@pytest.mark.parametrize("method", sorted(CYCLE_METHODS))
def test_cycle_variant_trains_with_the_h1_term(circle, method):
    result = run_method(method, circle, seed=1, max_epochs=1, device="cpu", ks=[5], sigmas=[0.1])
    config = result.info["config"]
    assert config["homology_dims"] == [0, 1]
    assert config["cycle_formulation"] == CYCLE_METHODS[method]["cycle_formulation"]
    assert config["lam"] > 0  # TopoAE's H0 weight, kept
    assert result.model.cycle_lam == CYCLE_METHODS[method]["cycle_lam"]
    assert result.latent.shape == (len(circle.x_test), 2)


def test_topomap_is_fitted_on_the_test_split(circle):
    from topoae.metrics.diagrams import persistence_diagrams

    result = run_method("topomap", circle, seed=1, ks=[5], sigmas=[0.1])
    assert result.info["fitted_on"] == "test"
    assert result.latent.shape == (len(circle.x_test), 2)
    # Laid out from the test points themselves: their H0 deaths (MST lengths) are kept.
    data_h0 = persistence_diagrams(circle.x_test, max_dimension=0)[0]
    layout_h0 = persistence_diagrams(result.latent, max_dimension=0)[0]
    np.testing.assert_allclose(np.sort(layout_h0[:, 1]), np.sort(data_h0[:, 1]), rtol=1e-5)
    records = [{"method": "topomap", "seed": 1, "measures": result.measures}]
    table = table_markdown(summarize(records), ["topomap"], None)
    assert "TopoMap" in table and "fitted on the test split" in table
