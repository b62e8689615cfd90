"""Architectures of docs/method.md §5 and the regularised objective of §3."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from topoae.core.losses import TopologicalSignatureLoss, pairwise_distances
from topoae.core.models import (
    DeepAutoencoder,
    LinearAutoencoder,
    MLPAutoencoder,
    TopologicallyRegularizedAutoencoder,
    build_autoencoder,
)
from topoae.paper import image_data_scale


def layer_types(module):
    return [type(layer).__name__ for layer in module]


def test_spheres_mlp_matches_the_paper():
    model = MLPAutoencoder(101)
    assert layer_types(model.encoder) == [
        "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear",
    ]  # fmt: skip
    assert [m.out_features for m in model.encoder if isinstance(m, nn.Linear)] == [32, 32, 2]
    assert [m.out_features for m in model.decoder if isinstance(m, nn.Linear)] == [32, 32, 101]
    assert isinstance(model.decoder[-1], nn.Linear)  # linear output
    z, x_hat = model(torch.randn(5, 101))
    assert z.shape == (5, 2) and x_hat.shape == (5, 101)


def test_deep_ae_matches_the_paper():
    model = DeepAutoencoder((1, 28, 28))
    assert layer_types(model.encoder)[:3] == ["Linear", "ReLU", "BatchNorm1d"]
    sizes = [m.out_features for m in model.encoder if isinstance(m, nn.Linear)]
    assert sizes == [1000, 500, 250, 2]
    sizes = [m.out_features for m in model.decoder if isinstance(m, nn.Linear)]
    assert sizes == [250, 500, 1000, 784]
    assert isinstance(model.decoder[-1], nn.Tanh)
    z, x_hat = model(torch.randn(4, 1, 28, 28))
    assert z.shape == (4, 2) and x_hat.shape == (4, 1, 28, 28)
    assert x_hat.abs().max() <= 1


def test_linear_ae_and_builder():
    model = LinearAutoencoder(7, latent_dim=3)
    assert isinstance(model.encoder, nn.Linear) and isinstance(model.decoder, nn.Linear)
    assert model.encode(torch.randn(2, 7)).shape == (2, 3)
    assert isinstance(build_autoencoder("mlp", (10,), 2, hidden_sizes=[8]), MLPAutoencoder)
    with pytest.raises(ValueError, match="Unknown architecture"):
        build_autoencoder("transformer", (10,))
    with pytest.raises(ValueError, match="no hidden layers"):
        build_autoencoder("linear", (10,), hidden_sizes=[4])


def test_image_scale_constants():
    assert image_data_scale((1, 28, 28)) == 56
    assert image_data_scale((3, 32, 32)) == pytest.approx(110.85, abs=0.01)


def test_objective_is_mse_plus_lambda_topo_over_m():
    torch.manual_seed(0)
    ae = MLPAutoencoder(12, hidden_sizes=(8,))
    model = TopologicallyRegularizedAutoencoder(ae, lam=0.7)
    with torch.no_grad():
        model.latent_norm.fill_(1.3)
    x = torch.randn(16, 12)
    loss, components = model(x)
    z, x_hat = ae(x)
    dist_x = torch.cdist(x, x)
    expected_topo = TopologicalSignatureLoss()(dist_x / dist_x.max(), pairwise_distances(z) / 1.3)
    expected = F.mse_loss(x_hat, x) + 0.7 * expected_topo / 16
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert components["topological"] == pytest.approx(expected_topo.item() / 16, rel=1e-5)
    assert components["latent_norm"] == pytest.approx(1.3)
    assert 0 <= components["shared_edges"] <= 15
    loss.backward()
    assert model.latent_norm.grad is not None and torch.isfinite(model.latent_norm.grad)


def test_fixed_image_scale_is_used():
    ae = MLPAutoencoder((1, 4, 4), hidden_sizes=(8,))
    model = TopologicallyRegularizedAutoencoder(ae, lam=1.0, data_scale=image_data_scale((1, 4, 4)))
    x = torch.rand(6, 1, 4, 4) * 2 - 1
    flat = x.reshape(6, -1)
    torch.testing.assert_close(model.data_distances(x), torch.cdist(flat, flat) / 8.0)


def test_vanilla_has_no_topology_and_no_latent_norm():
    model = TopologicallyRegularizedAutoencoder(MLPAutoencoder(5, hidden_sizes=(4,)), lam=0)
    assert not hasattr(model, "latent_norm")
    assert "latent_norm" not in dict(model.named_parameters())
    x = torch.randn(8, 5)
    loss, components = model(x)
    assert set(components) == {"loss", "reconstruction"}
    assert loss.item() == pytest.approx(F.mse_loss(model.autoencoder(x)[1], x).item())


def test_invalid_settings():
    with pytest.raises(ValueError, match="lam"):
        TopologicallyRegularizedAutoencoder(MLPAutoencoder(5), lam=-1)
    with pytest.raises(ValueError, match="lam"):
        TopologicallyRegularizedAutoencoder(MLPAutoencoder(5), lam=math.nan)
    with pytest.raises(ValueError, match="data_scale"):
        TopologicallyRegularizedAutoencoder(MLPAutoencoder(5), data_scale=0)


def _general_path(monkeypatch):
    # Force the device-independent path (data distances + from_latent + add).
    monkeypatch.setattr("topoae.core.models.fits_regularized_objective", lambda *_: False)


@pytest.mark.parametrize("mode", ["symmetric", "x_to_z", "z_to_x", "signature"])
@pytest.mark.parametrize("data_scale", [None, 3.0])
def test_fused_cpu_path_equals_the_general_path(monkeypatch, mode, data_scale):
    torch.manual_seed(0)
    ae = MLPAutoencoder(12, hidden_sizes=(8,)).double()
    model = TopologicallyRegularizedAutoencoder(
        ae, lam=0.7, match_edges=mode, data_scale=data_scale
    ).double()
    with torch.no_grad():
        model.latent_norm.fill_(1.3)
    x = torch.randn(30, 12, dtype=torch.float64)
    results = []
    for general in (False, True):
        if general:
            _general_path(monkeypatch)
        model.zero_grad()
        loss, components = model(x)
        loss.backward()
        results.append((loss.item(), components, [p.grad.clone() for p in model.parameters()]))
    (loss_fused, fused, grads_fused), (loss_general, general, grads_general) = results
    assert loss_fused == pytest.approx(loss_general, rel=1e-12)
    assert fused.keys() == general.keys()
    for key in fused:
        assert fused[key] == pytest.approx(general[key], rel=1e-12, abs=1e-15), key
    for a, b in zip(grads_fused, grads_general, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


def test_fused_objective_gradcheck():
    from topoae.core.losses._autograd import _ObjectiveStep, _RegularizedObjective

    gen = torch.Generator().manual_seed(3)
    points = torch.randn(14, 6, generator=gen, dtype=torch.float64)
    latent = torch.randn(14, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    base = torch.tensor(0.25, dtype=torch.float64, requires_grad=True)

    def objective(base, latent, scale):
        step = _ObjectiveStep(None, 0.3, 0)
        return _RegularizedObjective.apply(base, latent, scale, points, step)

    assert torch.autograd.gradcheck(objective, (base, latent, scale))
    # A seed other than 1 (e.g. a scaled loss) scales every gradient.
    inputs = (base, latent, scale)
    unit = torch.autograd.grad(objective(*inputs), inputs)
    seed = torch.tensor(2.5, dtype=torch.float64)
    scaled = torch.autograd.grad(objective(*inputs), inputs, grad_outputs=seed)
    for a, b in zip(unit, scaled, strict=True):
        torch.testing.assert_close(2.5 * a, b)


def test_fused_path_reports_non_finite_as_nan():
    from topoae.core.losses._kernels import _points_kernel

    model = TopologicallyRegularizedAutoencoder(MLPAutoencoder(4, hidden_sizes=(3,)), lam=1.0)
    x = torch.randn(8, 4)
    x[3, 1] = float("nan")
    loss, components = model(x)
    assert math.isnan(loss.item()) and math.isnan(components["topological"])
    # Finite points whose distances overflow float32, with finite codes.
    points = np.zeros((5, 3), dtype=np.float32)
    points[0], points[1] = 3e38, -3e38
    latent = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    values, *_ = _points_kernel(points, np.float32(0), latent, np.float32(1), 1.0, 0)
    assert np.isnan(values).all()
