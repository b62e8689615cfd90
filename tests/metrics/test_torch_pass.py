"""The torch passes against the compiled ones: the same per-row quantities (k sums, kept
neighbours, moments, densities, sampled pairs, co-ranking histogram) for random data, exact
ties and duplicate points, on both distance paths; the same diameter; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from test_metrics import ref_ranks

from topoae.errors import InputError
from topoae.metrics._coranking import _full_pass
from topoae.metrics._distances import _max_distance, _Space
from topoae.metrics._passes import _PerRow, _rank_pass
from topoae.metrics._spearman import pair_columns
from topoae.metrics._torch_pass import (
    _DeviceSpace,
    _order_and_ranks,
    cuda_available,
    torch_max_distance,
    torch_pass,
)

# In the caller's order, not the kernels' (largest first): dens must come back in this one.
SIGMAS = np.array([0.1, 0.01, 1.0])
N_TOP = 5
# Rows per torch block: several blocks, with a boundary inside the data.
BLOCK = 61
RTOL = 1e-10

# --------------------------------------------------------------------------- data


def _gaussian(n, d, q, seed=0):
    """Random Gaussian points (distinct distances) and a noisy projection."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Z = X[:, :q] + 0.5 * rng.normal(size=(n, q))
    return X, Z


def _grid(n, d, q, seed=1):
    """Integer grid points: exact ties everywhere, duplicates (in X copied rows too)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3 if d <= 2 else 2, size=(n, d)).astype(np.float64)
    Z = rng.integers(0, 5 if q <= 2 else 2, size=(n, q)).astype(np.float64)
    copies = rng.choice(n, 40)  # may repeat: some rows get three or more copies
    X[rng.choice(n, 40, replace=False)] = X[copies]
    return X, Z


def _copies(n, d, q, seed=2):
    """Gaussian points of which some appear two or more times (in X and Z alike)."""
    X, Z = _gaussian(n, d, q, seed)
    rng = np.random.default_rng(seed)
    targets, copies = rng.choice(n, 40, replace=False), rng.choice(n, 40)
    X[targets], Z[targets] = X[copies], Z[copies]
    return X, Z


RANDOM = {
    "gaussian-low-d": lambda: _gaussian(400, 3, 2),
    "gaussian-high-d": lambda: _gaussian(400, 40, 2),  # X on the Gram path
    "gaussian-both-wide": lambda: _gaussian(400, 40, 20),  # X and Z on the Gram path
}
RANDOM_KS = np.array([1, 7, 40, 250])  # 250 <= (2n - 2) / 3 for n = 400
TIES = {
    "grid-low-d": lambda: _grid(300, 2, 2),
    "grid-high-d": lambda: _grid(300, 20, 2),
    "grid-both-wide": lambda: _grid(300, 20, 24),
    # Not integers: the Gram trick gives copies unequal distances unless repaired.
    "copies-both-wide": lambda: _copies(300, 40, 20),
}
TIES_KS = np.array([1, 3, 50, 199])

# --------------------------------------------------------------------------- helpers


def _compiled(X, Z, ks, rows, cols, full):
    sx, sz = _Space(X), _Space(Z)
    scales = (_max_distance(sx), _max_distance(sz))
    if full:
        return _full_pass(sx, sz, ks, N_TOP, SIGMAS, scales, None, cols), scales
    return _rank_pass(sx, sz, ks, rows, N_TOP, SIGMAS, scales, None, cols), scales


def _assert_same(fast: _PerRow, ref: _PerRow) -> None:
    """Integer quantities exactly, floating ones to RTOL."""
    np.testing.assert_array_equal(fast.rows, ref.rows)
    assert fast.sums.shape == ref.sums.shape
    # Trust and continuity penalties and the overlap are integers: exact.
    for c, name in ((0, "trust"), (1, "continuity"), (4, "overlap")):
        np.testing.assert_array_equal(fast.sums[:, :, c], ref.sums[:, :, c], err_msg=name)
    np.testing.assert_allclose(fast.sums[:, :, 2:4], ref.sums[:, :, 2:4], rtol=RTOL)
    np.testing.assert_array_equal(fast.top, ref.top)
    np.testing.assert_allclose(fast.pair, ref.pair, rtol=RTOL)
    assert fast.dens.shape == ref.dens.shape
    np.testing.assert_allclose(fast.dens, ref.dens, rtol=RTOL)
    if ref.hist is None:
        assert fast.hist is None
    else:
        assert fast.hist is not None
        np.testing.assert_array_equal(fast.hist, ref.hist)
    assert len(fast.pair_d) > 0 and len(ref.pair_d) > 0
    np.testing.assert_allclose(
        np.concatenate(fast.pair_d, axis=1), np.concatenate(ref.pair_d, axis=1), rtol=RTOL
    )


def _check(X, Z, ks, rows, full, device="cpu"):
    n = len(X)
    cols = pair_columns(np.arange(n) if rows is None else rows, n, 3 * n, 0)
    ref, scales = _compiled(X, Z, ks, rows, cols, full)
    fast = torch_pass(X, Z, ks, rows, N_TOP, SIGMAS, scales, BLOCK, cols, full, device)
    _assert_same(fast, ref)


def _some_rows(n, seed=3):
    """A random subset of rows in random order (the pass takes any)."""
    return np.random.default_rng(seed).permutation(n)[: n // 3]


# --------------------------------------------------------------------------- torch == compiled


@pytest.mark.parametrize("name", list(RANDOM))
def test_full_pass_matches_compiled(name):
    X, Z = RANDOM[name]()
    _check(X, Z, RANDOM_KS, None, full=True)


@pytest.mark.parametrize("name", list(RANDOM))
def test_rank_pass_matches_compiled_on_a_subset_of_rows(name):
    X, Z = RANDOM[name]()
    _check(X, Z, RANDOM_KS, _some_rows(len(X)), full=False)


@pytest.mark.parametrize("name", list(TIES))
@pytest.mark.parametrize("full", [True, False])
def test_ties_and_duplicates_give_the_compiled_ranks(name, full):
    X, Z = TIES[name]()
    rows = None if full else _some_rows(len(X))
    _check(X, Z, TIES_KS, rows, full=full)


@pytest.mark.parametrize("name", list(TIES))
def test_order_and_ranks_match_a_stable_sort(name):
    # The reference ranks (self first, then a stable sort of cdist's rows, where copies
    # are exactly 0 apart): integer distances are exact on every path, and the random
    # ones are far from ties.
    for A in TIES[name]():
        idx = torch.arange(len(A))
        order, ranks = _order_and_ranks(_DeviceSpace(A, torch.device("cpu")).rows_of(idx), idx)
        R = ref_ranks(cdist(A, A))
        np.testing.assert_array_equal(ranks.numpy(), R)
        # order lists the other points by rank: self left out, then ranks 1, 2, ...
        positions = np.take_along_axis(R, order.numpy(), 1)
        np.testing.assert_array_equal(positions, np.broadcast_to(np.arange(1, len(A)), order.shape))


def test_default_block_covers_all_rows_at_once():
    X, Z = _gaussian(300, 3, 2)
    ks = np.array([1, 10])
    one = torch_pass(X, Z, ks, n_top=3, full=True)
    many = torch_pass(X, Z, ks, n_top=3, full=True, block_rows=7)
    for name in ("sums", "top", "hist"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))
    # Row sums: torch may split a reduction between threads otherwise for another shape.
    np.testing.assert_allclose(one.pair, many.pair, rtol=1e-13)


# --------------------------------------------------------------------------- diameter


@pytest.mark.parametrize("d", [1, 2, 3, 10, 40])
def test_max_distance_matches_compiled(d):
    X, _ = _gaussian(500, d, 1, seed=d)
    got, want = torch_max_distance(X), _max_distance(_Space(X))
    if d <= 16:  # exact differences in the same order: the same float64 value
        assert got == want
    else:  # the Gram trick, products from another BLAS
        assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name", list(TIES))
def test_max_distance_with_duplicates(name):
    for A in TIES[name]():
        assert torch_max_distance(A) == _max_distance(_Space(A))


def test_max_distance_of_tiny_inputs():
    assert torch_max_distance(np.zeros((1, 3))) == 0.0
    assert torch_max_distance(np.zeros((4, 30))) == 0.0
    assert torch_max_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == 5.0


# --------------------------------------------------------------------------- bad input


def test_full_pass_runs_over_all_rows():
    X, Z = _gaussian(50, 3, 2)
    with pytest.raises(ValueError, match="all rows"):
        torch_pass(X, Z, np.array([3]), rows=np.arange(10), full=True)


def test_densities_need_positive_scales():
    X, Z = _gaussian(50, 3, 2)
    with pytest.raises(InputError, match="coincide"):
        torch_pass(X, Z, np.array([3]), sigmas=SIGMAS, scales=(0.0, 1.0))


def test_cuda_available_is_a_bool():
    assert cuda_available() in (True, False)


# --------------------------------------------------------------------------- device


# The GPU when there is one (benchmarks/gpu_check.sh runs this file there), else the CPU,
# as tests/core/test_device_prim.py does: never a skip.
DEVICE = "cuda" if cuda_available() else "cpu"


@pytest.mark.parametrize("name", ["gaussian-low-d", "gaussian-high-d", "grid-high-d"])
@pytest.mark.parametrize("full", [True, False])
def test_device_matches_compiled(name, full):
    X, Z = {**RANDOM, **TIES}[name]()
    ks = RANDOM_KS if name in RANDOM else TIES_KS
    _check(X, Z, ks, None if full else _some_rows(len(X)), full=full, device=DEVICE)
    for A in (X, Z):
        want = _max_distance(_Space(A))
        assert torch_max_distance(A, DEVICE) == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------- distances


@pytest.mark.parametrize("name", [*RANDOM, *TIES])
def test_distance_rows_are_the_compiled_ones(name):
    # Direct path: the same float64 operations, so the same values bit for bit (this fails
    # with torch's own CPU square root, one ulp off on some inputs). Gram path: products
    # from another BLAS, but duplicates tie at exactly 0 as in _Space.
    for A in {**RANDOM, **TIES}[name]():
        rows = _some_rows(len(A))
        fast = _DeviceSpace(A, torch.device("cpu")).rows_of(torch.from_numpy(rows)).numpy()
        ref = _Space(A).rows_of(rows)
        if A.shape[1] <= 16 or np.array_equal(A, np.round(A)):  # integers: exact products
            np.testing.assert_array_equal(fast, ref)
        else:
            np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(fast == 0.0, ref == 0.0)


# --------------------------------------------------------------------------- in evaluate


@pytest.mark.parametrize("max_exact", [None, 150])  # exact mode, and estimated from 100 rows
def test_evaluate_on_a_torch_device_equals_the_cpu_passes(monkeypatch, max_exact):
    # The torch pass wired into evaluate (run here on torch's CPU device, as it would run
    # on a GPU): every measure of the compiled passes, to rounding.
    from topoae import metrics
    from topoae.metrics import _evaluate

    X, Z = _gaussian(400, 40, 2, seed=5)
    labels = X[:, 0] > 0
    kwargs = dict(ks=[1, 10, 50], labels=labels, max_exact=max_exact, sample_size=100)
    ref = metrics.evaluate(X, Z, device="cpu", **kwargs)
    monkeypatch.setattr(_evaluate, "_resolve_device", lambda device: torch.device("cpu"))
    got = metrics.evaluate(X, Z, **kwargs)
    assert got.keys() == ref.keys()
    assert got["estimated"] is (max_exact is not None)
    for key, value in ref.items():
        # Half-widths of smooth functions come from a numerical gradient, which turns the
        # sums' last-bit differences into about 1e-10 relative.
        rel = 1e-7 if key.endswith("_ci95") else 1e-10
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=rel, abs=1e-12), key
        else:
            assert got[key] == value or np.allclose(got[key], value, rtol=1e-10), key


def test_evaluate_device_names(monkeypatch):
    from topoae.metrics import _evaluate

    monkeypatch.setattr("topoae.metrics._torch_pass.cuda_available", lambda: False)
    assert _evaluate._resolve_device("auto") is None  # no GPU: the compiled passes
    assert _evaluate._resolve_device(None) is None
    assert _evaluate._resolve_device("cpu") is None
    with pytest.raises(InputError, match="no CUDA device"):
        _evaluate._resolve_device("cuda")
    with pytest.raises(InputError, match="not a torch device"):
        _evaluate._resolve_device("gpu0")
    monkeypatch.setattr("topoae.metrics._torch_pass.cuda_available", lambda: True)
    assert _evaluate._resolve_device("auto") == torch.device("cuda")
