"""The device pairing (Triton) equals the compiled CPU Prim, tie order included.

Without a GPU the kernel runs in Triton's interpreter on CPU tensors (tests/conftest.py sets
TRITON_INTERPRET=1); on a CUDA machine the same tests run on the device.
"""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from topoae.core import _device_prim
from topoae.core.losses import TopologicalSignatureLoss, pairwise_distances
from topoae.core.losses._device import device_topological_terms
from topoae.core.topology import persistence_pairs

pytest.importorskip("triton", reason="the gpu-test extra (triton) is not installed")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _device_pairs(matrix: np.ndarray) -> np.ndarray:
    return _device_prim.device_pairs(torch.from_numpy(matrix).to(DEVICE)).cpu().numpy()


def _tied(rng, m: int, levels: int) -> np.ndarray:
    upper = np.triu(rng.integers(0, levels, size=(m, m)), 1)
    return upper + upper.T


@pytest.mark.parametrize("m", [2, 3, 4, 7, 16, 33, 128, 257])
def test_random_points_match_the_cpu_kernel(m):
    rng = np.random.default_rng(m)
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=(m, 5))
        dist = cdist(x, x).astype(dtype)
        np.testing.assert_array_equal(_device_pairs(dist), persistence_pairs(dist))


@pytest.mark.parametrize("m", [3, 10, 64, 200])
def test_ties_integers_and_duplicate_points_match(m):
    rng = np.random.default_rng(100 + m)
    integers = _tied(rng, m, 3)  # heavy ties, integer dtype
    np.testing.assert_array_equal(_device_pairs(integers), persistence_pairs(integers))
    all_tied = np.ones((m, m)) - np.eye(m)
    np.testing.assert_array_equal(_device_pairs(all_tied), persistence_pairs(all_tied))
    points = rng.normal(size=(m // 2 + 1, 3))
    duplicated = points[rng.integers(0, len(points), size=m)]
    dist = cdist(duplicated, duplicated)
    np.testing.assert_array_equal(_device_pairs(dist), persistence_pairs(dist))


def test_largest_batch_size_and_batches():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1024, 2)).astype(np.float32)
    dist = cdist(x, x).astype(np.float32)
    np.testing.assert_array_equal(_device_pairs(dist), persistence_pairs(dist))
    batch = np.stack([cdist(p, p) for p in rng.normal(size=(3, 20, 4))])
    np.testing.assert_array_equal(_device_pairs(batch), persistence_pairs(batch))


def test_a_single_point_has_no_pairs_and_bad_shapes_are_refused():
    assert _device_pairs(np.zeros((1, 1))).shape == (0, 2)
    with pytest.raises(ValueError, match="square"):
        _device_prim.device_pairs(torch.zeros(3, 4))


@pytest.mark.parametrize("mode", ["symmetric", "x_to_z", "z_to_x", "signature"])
def test_device_terms_equal_the_loss_module_in_value_and_gradient(mode):
    torch.manual_seed(0)
    x = torch.randn(24, 6, dtype=torch.float64)
    dist_x = torch.cdist(x, x) / torch.cdist(x, x).max()
    latent = torch.randn(24, 2, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    total, x_to_z, z_to_x, shared = device_topological_terms(dist_x, latent, scale, mode)
    grads = torch.autograd.grad(total, (latent, scale))

    latent_ref = latent.detach().clone().requires_grad_(True)
    scale_ref = scale.detach().clone().requires_grad_(True)
    expected, terms = TopologicalSignatureLoss(mode)(
        dist_x, pairwise_distances(latent_ref) / scale_ref, return_components=True
    )
    expected_grads = torch.autograd.grad(expected, (latent_ref, scale_ref))
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(x_to_z, terms.x_to_z)
    torch.testing.assert_close(z_to_x, terms.z_to_x)
    assert int(shared) == terms.shared_edges
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_device_terms_are_zero_for_an_isometric_latent():
    x = torch.randn(12, 2, dtype=torch.float64)
    dist = torch.cdist(x, x)
    total, *_, shared = device_topological_terms(dist, x.clone().requires_grad_(True), 1.0)
    assert total.item() == 0.0
    assert int(shared) == 11
