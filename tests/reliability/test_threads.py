"""Thread counts: set for a block and restored; numba's start no longer changes torch's."""

import os
import subprocess
import sys

import numba
import pytest
import torch

from topoae._threads import TRAIN_THREADS, fixed_threads, preserve_threads, start_numba_threads

# The first parallel numba kernel in a fresh process, with and without starting numba first.
_PROBE = """
import numpy as np, torch
torch.set_num_threads(1)
assert torch.get_num_threads() == 1  # torch has started its threads, as after any training
import contextlib
from topoae._threads import preserve_threads, start_numba_threads
if "{guard}" == "start":
    start_numba_threads()
from numba import njit, prange

@njit(parallel=True)
def total(a):  # a raw parallel kernel (topoae.metrics guards its own since)
    s = 0.0
    for i in prange(a.shape[0]):
        s += a[i]
    return s

with preserve_threads() if "{guard}" == "preserve" else contextlib.nullcontext():
    total(np.ones(1000))
print(torch.get_num_threads())
"""


def _probe(guard: str) -> int:
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    code = _PROBE.format(guard=guard)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def test_fixed_threads_sets_and_restores():
    start_numba_threads()  # else reading numba's count below would raise torch's
    torch_before, numba_before = torch.get_num_threads(), numba.get_num_threads()
    with fixed_threads(1):
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    assert (torch.get_num_threads(), numba.get_num_threads()) == (torch_before, numba_before)
    with pytest.raises(RuntimeError, match="inside"), fixed_threads(2):
        assert torch.get_num_threads() == 2
        raise RuntimeError("inside")
    assert torch.get_num_threads() == torch_before
    with preserve_threads():
        torch.set_num_threads(torch_before + 1)  # what numba's start did
    assert torch.get_num_threads() == torch_before
    with pytest.raises(ValueError, match="at least 1"), fixed_threads(0):
        pass


@pytest.mark.skipif(numba.config.THREADING_LAYER not in ("default", "omp"), reason="omp only")
def test_numba_start_no_longer_changes_torch_threads():
    unguarded = _probe(guard="none")
    if unguarded == 1:
        pytest.skip("numba did not pick its OpenMP layer here; nothing to guard against")
    assert unguarded == 2  # the side effect: numba's omp_set_num_threads(NUMBA_NUM_THREADS)
    assert _probe(guard="start") == 1
    assert _probe(guard="preserve") == 1


def _tiny_training(seed: int = 0) -> list[torch.Tensor]:
    """A few Adam steps of a BatchNorm MLP on data large enough for torch to split work."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(4096, 64, generator=generator)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(), torch.nn.Linear(64, 64)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(5):
        optimizer.zero_grad()
        loss = (model(x) - x).pow(2).mean()
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def test_same_weights_whatever_the_callers_thread_count():
    before = torch.get_num_threads()
    runs = []
    try:
        for caller in (1, 2):
            torch.set_num_threads(caller)
            with fixed_threads(TRAIN_THREADS):
                runs.append(_tiny_training())
            assert torch.get_num_threads() == caller
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_train_gives_the_same_weights_with_1_and_2_caller_threads():
    """``core.training.train`` fixes its own thread count and gives the caller's back."""
    import numpy as np

    from topoae.core.training import TrainConfig, train
    from topoae.datasets.spheres import make_spheres

    x, _ = make_spheres(n_samples=100, d=100)  # a Spheres subset: 1,100 points in R^101
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    order = np.random.RandomState(0).permutation(len(x))
    x_train, x_val = x[order[:900]], x[order[900:]]
    config = TrainConfig(lam=1.0, batch_size=28, max_epochs=3, patience=10, seed=0)
    before = torch.get_num_threads()
    weights = []
    try:
        for caller in (1, 2):
            torch.set_num_threads(caller)
            result = train(x_train, x_val, config)
            assert torch.get_num_threads() == caller  # restored
            weights.append({k: v.clone() for k, v in result.model.state_dict().items()})
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
