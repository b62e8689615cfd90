"""Benchmarks in tiny configurations (never timed), their peers, and the fast paths they time."""

import json

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from topoae.apps import bench
from topoae.cli import main
from topoae.core.losses import TopologicalSignatureLoss, _autograd
from topoae.core.models import MLPAutoencoder, TopologicallyRegularizedAutoencoder
from topoae.core.topology import persistence_pairs


def symmetric(matrix):
    upper = np.triu(matrix, 1)
    return upper + upper.T


MATRICES = {
    "random": lambda rng: cdist(*(2 * [rng.normal(size=(45, 4))])),
    "float32": lambda rng: cdist(*(2 * [rng.normal(size=(30, 3))])).astype(np.float32),
    "integer_grid_ties": lambda rng: cdist(
        *(2 * [rng.integers(0, 3, size=(30, 2)).astype(float)]), metric="cityblock"
    ),
    "all_tied": lambda rng: np.ones((10, 10)) - np.eye(10),
    "duplicates": lambda rng: cdist(*(2 * [np.repeat(rng.normal(size=(8, 3)), 3, axis=0)])),
}


@pytest.mark.parametrize("name", list(MATRICES))
def test_union_find_peer_equals_persistence_pairs(name):
    dist = MATRICES[name](np.random.default_rng(0))
    np.testing.assert_array_equal(bench.union_find_pairs(dist), persistence_pairs(dist))


def test_upper_triangle_decides_when_not_exactly_symmetric():
    # Within the symmetry tolerance but not exactly symmetric: only the upper
    # triangle may count (the row-reading fast path must not be taken).
    rng = np.random.default_rng(1)
    dist = symmetric(cdist(*(2 * [rng.normal(size=(40, 3))])))
    noisy = dist + np.tril(rng.uniform(0, 1e-7, size=dist.shape), -1)
    np.testing.assert_array_equal(persistence_pairs(noisy), bench.union_find_pairs(dist))


def test_union_find_peer_has_our_objective():
    torch.manual_seed(0)
    x = torch.randn(16, 12)
    ours = TopologicallyRegularizedAutoencoder(MLPAutoencoder(12, hidden_sizes=(8,)), lam=0.6)
    peer = bench._UnionFindTopoAE(MLPAutoencoder(12, hidden_sizes=(8,)), 0.6, None)
    peer.autoencoder.load_state_dict(ours.autoencoder.state_dict())
    loss_ours, _ = ours(x)
    loss_peer, _ = peer(x)
    assert loss_peer.item() == pytest.approx(loss_ours.item(), rel=1e-5)


def test_data_distances_fast_path_matches_cdist():
    model = TopologicallyRegularizedAutoencoder(MLPAutoencoder(7, hidden_sizes=(4,)), lam=1.0)
    x = torch.randn(40, 7, dtype=torch.float64)
    fast = model.data_distances(x)
    direct = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    torch.testing.assert_close(fast, direct / direct.max())
    assert torch.equal(fast, fast.T) and torch.all(fast.diagonal() == 0)
    assert torch.equal(model.data_distances(torch.ones(5, 7)), torch.zeros(5, 5))


def test_fast_latent_path_propagates_nan():
    dist_x = torch.rand(6, 6, dtype=torch.float64)
    dist_x = dist_x + dist_x.T
    latent = torch.randn(6, 2, dtype=torch.float64)
    latent[2, 0] = float("nan")
    terms = TopologicalSignatureLoss().from_latent(dist_x, latent.requires_grad_())
    assert torch.isnan(terms.total)


def test_gpu_transfer_packing_matches_cpu_views():
    # The one-copy packing used off the CPU, exercised on CPU tensors (no GPU here).
    dist_x = torch.rand(7, 7)
    latent = torch.randn(7, 3, requires_grad=True)
    scale = torch.tensor(1.5, requires_grad=True)
    views = _autograd._host_arrays(dist_x, latent, scale, torch.float32)
    packed = _autograd._host_arrays_packed(dist_x, latent, scale, torch.float32)
    for a, b in zip(views, packed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert packed[0].dtype == np.float32


def test_step_benchmark_runs_tiny():
    peers = [p for p in bench.PEERS if p != "torch_topological" or bench._has_torch_topological()]
    result = bench.bench_step([8], peers=peers, repeats=2, steps=1, warmup=1)
    (row,) = result.rows
    assert row["batch_size"] == 8
    for peer in peers:
        assert row[f"{peer}_ms"] > 0
    assert row["ratio"] == pytest.approx(row["topoae_ms"] / row["ae_ms"])
    assert row["union_find_speedup"] == pytest.approx(row["union_find_ms"] / row["topoae_ms"])
    mnist = bench.bench_step([4], model="mnist", peers=["ae", "topoae"], repeats=1, steps=1)
    assert mnist.rows[0]["topoae_ms"] > 0 and mnist.rows[0]["union_find_ms"] is None


def test_pairing_and_training_benchmarks_run_tiny():
    pairing = bench.bench_pairing([16, 40], repeats=1)
    assert [r["n"] for r in pairing.rows] == [16, 40]
    assert all(r["ms"] > 0 and r["extra_kib"] >= 0 and r["union_find_ms"] > 0 for r in pairing.rows)
    training = bench.bench_training(epochs=1, batch_size=10, repeats=1, n_train=60)
    (row,) = training.rows
    assert row["n_train"] == 60 and row["ae_s"] > 0 and row["topoae_s"] > 0


def test_cli_json_and_bad_input(capsys):
    assert main(["bench", "--which", "pairing", "--pairing-sizes", "12,20", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["n"] for r in results["pairing"]["rows"]] == [12, 20]
    assert "load_average" in results["environment"]
    assert main(["bench", "--which", "step", "--peers", "nobody"]) == 2
    args = ["bench", "--which", "training", "--quick", "--training-repeats", "2", "--json"]
    assert main(args) == 0
    (row,) = json.loads(capsys.readouterr().out)["training"]["rows"]
    assert row["ratio_q1"] <= row["ratio_paired"] <= row["ratio_q3"] and row["ae_s"] > 0
    with pytest.raises(SystemExit):
        main(["bench", "--which", "everything"])
