"""topoae.anndata.embed follows the scanpy convention: obsm["X_topoae"] and uns["topoae"]."""

from __future__ import annotations

import numpy as np
import pytest

import topoae
from topoae.errors import InputError

anndata = pytest.importorskip("anndata")
from topoae.anndata import embed, write_embedded  # noqa: E402


def small(n=200, d=20):
    rng = np.random.default_rng(0)
    adata = anndata.AnnData(rng.normal(size=(n, d)).astype(np.float32))
    adata.obsm["X_pca"] = rng.normal(size=(n, 5)).astype(np.float32)
    return adata


def test_embed_writes_obsm_and_uns_and_survives_h5ad(tmp_path):
    adata = small()
    assert embed(adata, max_epochs=2, random_state=0) is None
    z = adata.obsm["X_topoae"]
    assert z.shape == (200, 2) and z.dtype == np.float32 and np.isfinite(z).all()
    settings = adata.uns["topoae"]
    assert settings["n_epochs"] == 2 and 1 <= settings["best_epoch"] <= 2
    assert settings["use_rep"] == "X" and settings["version"] == topoae.__version__
    assert settings["params"]["max_epochs"] == 2 and settings["params"]["random_state"] == 0
    # The same estimator settings on the same matrix give the same embedding.
    again = topoae.TopologicalAutoencoder(max_epochs=2, random_state=0).fit_transform(adata.X)
    np.testing.assert_allclose(z, again, rtol=1e-5, atol=1e-6)
    adata.write_h5ad(tmp_path / "e.h5ad")
    back = anndata.read_h5ad(tmp_path / "e.h5ad")
    np.testing.assert_array_equal(back.obsm["X_topoae"], z)
    assert back.uns["topoae"]["n_epochs"] == 2
    assert back.uns["topoae"]["params"]["max_epochs"] == 2


def test_embed_copy_rep_and_key():
    adata = small()
    out = embed(
        adata,
        use_rep="X_pca",
        key_added="X_topo3",
        copy=True,
        max_epochs=1,
        n_components=3,
        random_state=1,
    )
    assert "X_topo3" not in adata.obsm and out.obsm["X_topo3"].shape == (200, 3)
    assert out.uns["topo3"]["use_rep"] == "X_pca"


def test_embed_errors():
    adata = small()
    with pytest.raises(InputError, match="No representation 'X_umap'"):
        embed(adata, use_rep="X_umap", max_epochs=1)
    with pytest.raises(InputError, match="No layer 'counts'"):
        embed(adata, layer="counts", max_epochs=1)
    with pytest.raises(InputError, match="AnnData"):
        embed(np.zeros((3, 3)))


def test_write_embedded_adds_obsm_to_a_copy_of_the_file(tmp_path):
    adata = small(50, 4)
    adata.write_h5ad(tmp_path / "in.h5ad")
    z = np.arange(100, dtype=np.float32).reshape(50, 2)
    write_embedded(tmp_path / "in.h5ad", tmp_path / "out.h5ad", z, settings={"n_epochs": 3})
    back = anndata.read_h5ad(tmp_path / "out.h5ad")
    np.testing.assert_array_equal(back.obsm["X_topoae"], z)
    np.testing.assert_array_equal(back.X, adata.X)
    assert back.uns["topoae"]["n_epochs"] == 3
    assert "X_topoae" not in anndata.read_h5ad(tmp_path / "in.h5ad").obsm
    with pytest.raises(InputError, match="50 cells"):
        write_embedded(tmp_path / "in.h5ad", tmp_path / "bad.h5ad", z[:10])
