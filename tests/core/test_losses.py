"""The topological loss: known values, gradients, the fast latent path, bad input."""

import numpy as np
import pytest
import torch

from topoae.core.losses import (
    MATCH_MODES,
    TopologicalSignatureLoss,
    pair_distances,
    pairwise_distances,
)


def line_distances(coordinates):
    points = torch.tensor(coordinates, dtype=torch.float64)[:, None]
    return (points - points.T).abs()


# Hand-computed example. Data points on a line at 0, 1, 3, 6: the MST is
# (0,1) w1, (1,2) w2, (2,3) w3 (edge (0,2), also w3, closes a cycle).
# Latent points at 0, 2, 10, 2.5: the MST is (1,3) w0.5, (0,1) w2, (2,3) w7.5.
#   L_X→Z = (1-2)² + (2-8)² + (3-7.5)² = 1 + 36 + 20.25 = 57.25
#   L_Z→X = (0.5-5)² + (2-1)² + (7.5-3)² = 20.25 + 1 + 20.25 = 41.5
#   shared edges: (0,1) and (2,3)
#   signature: sorted deaths [1, 2, 3] vs [0.5, 2, 7.5]: 0.25 + 0 + 20.25 = 20.5
DIST_X = line_distances([0, 1, 3, 6])
DIST_Z = line_distances([0, 2, 10, 2.5])
EXPECTED = {"symmetric": 98.75, "x_to_z": 57.25, "z_to_x": 41.5, "signature": 20.5}


@pytest.mark.parametrize("mode", MATCH_MODES)
def test_hand_computed_four_points(mode):
    loss, terms = TopologicalSignatureLoss(mode)(DIST_X, DIST_Z, return_components=True)
    assert loss.item() == pytest.approx(EXPECTED[mode])
    assert terms.x_to_z.item() == pytest.approx(57.25)
    assert terms.z_to_x.item() == pytest.approx(41.5)
    assert terms.shared_edges == 2


@pytest.mark.parametrize("mode", MATCH_MODES)
def test_zero_for_equal_matrices(mode):
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
    dist = torch.cdist(x, x)
    loss, terms = TopologicalSignatureLoss(mode)(dist, dist.clone(), return_components=True)
    assert loss.item() == 0.0
    assert terms.shared_edges == 19


def test_isometric_latent_has_zero_loss_via_fast_path():
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rotation = torch.tensor([[0.6, -0.8], [0.8, 0.6]], dtype=torch.float64)
    terms = TopologicalSignatureLoss().from_latent(torch.cdist(x, x), x @ rotation)
    assert terms.total.item() == pytest.approx(0.0, abs=1e-20)


def test_fast_path_equals_matrix_path():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(24, 10, generator=gen, dtype=torch.float64)
    z = torch.randn(24, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    dist_x = torch.cdist(x, x) / torch.cdist(x, x).max()
    loss = TopologicalSignatureLoss()
    slow = loss(dist_x, pairwise_distances(z) / scale)
    fast = loss.from_latent(dist_x, z, scale).total
    assert fast.item() == pytest.approx(slow.item(), rel=1e-12)
    grad_slow = torch.autograd.grad(slow, (z, scale))
    grad_fast = torch.autograd.grad(fast, (z, scale))
    for a, b in zip(grad_slow, grad_fast, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("mode", MATCH_MODES)
def test_gradcheck_float64(mode):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(10, 5, generator=gen, dtype=torch.float64)
    dist_x = torch.cdist(x, x)
    z = torch.randn(10, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    loss = TopologicalSignatureLoss(mode)
    assert torch.autograd.gradcheck(lambda p: loss(dist_x, pairwise_distances(p)), (z,))
    scale = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, s: loss.from_latent(dist_x, p, s).total, (z, scale))


def test_gradients_finite_for_coincident_points():
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(4))
    z = torch.randn(8, 2, generator=torch.Generator().manual_seed(5))
    z[3] = z[2]  # two latent codes coincide: their distance is 0
    z[6] = z[2]
    z.requires_grad_(True)
    dist_x = torch.cdist(x, x)
    loss = TopologicalSignatureLoss()
    for value in (loss(dist_x, pairwise_distances(z)), loss.from_latent(dist_x, z).total):
        (grad,) = torch.autograd.grad(value, z)
        assert torch.isfinite(grad).all()


def test_pair_distances_values():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    pairs = torch.tensor([[0, 1], [1, 2]])
    torch.testing.assert_close(pair_distances(points, pairs), torch.tensor([5.0, 0.0]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="match_edges"):
        TopologicalSignatureLoss("both")
    loss = TopologicalSignatureLoss()
    with pytest.raises(ValueError, match=r"shape \(m, m\)"):
        loss(torch.zeros(4, 4), torch.zeros(5, 5))
    bad = DIST_Z.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        loss(DIST_X, bad)
    with pytest.raises(ValueError, match="negative"):
        loss(DIST_X, -DIST_Z)


def test_float32_and_numpy_agree():
    rng = np.random.default_rng(6)
    x, z = rng.normal(size=(15, 4)), rng.normal(size=(15, 2))
    dx, dz = (torch.cdist(torch.tensor(a), torch.tensor(a)) for a in (x, z))
    full = TopologicalSignatureLoss()(dx, dz).item()
    single = TopologicalSignatureLoss()(dx.float(), dz.float()).item()
    assert single == pytest.approx(full, rel=1e-5)
