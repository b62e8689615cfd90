"""The batched evaluation helper: batches equal one pass, memory maps are read slice by slice."""

import warnings

import numpy as np
import pytest
import torch

from topoae.core.evaluation import apply_batched, decode, embed, reconstruct
from topoae.core.models import MLPAutoencoder, TopologicallyRegularizedAutoencoder


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TopologicallyRegularizedAutoencoder(MLPAutoencoder(6, (8, 8), 2), 0.5)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(23, 6))


def one_pass(model, x):
    model.eval()
    with torch.no_grad():
        batch = torch.as_tensor(x, dtype=torch.float32)
        z = model.encode(batch)
        return z.numpy(), model.decode(z).numpy()


def test_batches_equal_one_pass(model, x):
    z, x_hat = one_pass(model, x)
    model.train()
    for batch_size in (1, 5, 23, 100):
        np.testing.assert_allclose(embed(model, x, batch_size=batch_size), z, rtol=1e-6)
        np.testing.assert_allclose(reconstruct(model, x, batch_size=batch_size), x_hat, rtol=1e-6)
        np.testing.assert_allclose(decode(model, z, batch_size=batch_size), x_hat, rtol=1e-6)
        assert model.training  # the mode it came in with
    assert embed(model, torch.as_tensor(x)).dtype == np.float32


def test_memory_map_is_read_in_slices(model, x, tmp_path):
    path = tmp_path / "x.f64"
    x.tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=x.shape)
    seen = []

    def encode(batch):
        seen.append(len(batch))
        return model.encode(batch)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's warning about read-only buffers
        z = apply_batched(model, mapped, encode, batch_size=10)
    assert seen == [10, 10, 3]
    np.testing.assert_allclose(z, one_pass(model, x)[0], rtol=1e-6)
