"""Numeric guards: what overflows on the way is refused with the numbers, the rest passes."""

import itertools

import numpy as np
import pytest

from topoae._guards import (
    check_castable,
    check_finite,
    check_finite_results,
    check_finite_scale,
    check_squared_distances,
    squared_distance_bound,
)
from topoae.errors import InputError


def test_scale_of_huge_data_overflows_and_is_refused():
    X = np.random.default_rng(0).normal(size=(50, 3)) * 1e300
    assert np.isfinite(X).all()
    with np.errstate(over="ignore"):
        scale = X.std(axis=0, dtype=np.float64)  # what standardisation computes
    assert np.isinf(scale).all()
    with pytest.raises(InputError, match=r"std of the data|standard deviation of the data"):
        check_finite_scale(scale)
    with pytest.raises(InputError, match=r"in 3 of 3 features \(first: feature 0, std = inf\)"):
        check_finite_scale(scale, "the data")
    check_finite_scale((X / 1e300).std(axis=0))


def test_bound_covers_every_pair_and_is_tight_within_d():
    rng = np.random.default_rng(1)
    for d in (1, 2, 5):
        Z = rng.normal(size=(30, d)) * rng.uniform(0.1, 10, size=d)
        exact = max(float(np.sum((a - b) ** 2)) for a, b in itertools.combinations(Z, 2))
        bound = squared_distance_bound(Z)
        assert exact <= bound * (1 + 1e-12) and bound <= d * exact * (1 + 1e-12)
        norms = float(np.max(np.sum(Z**2, axis=1)))
        assert squared_distance_bound(Z, from_origin=True) >= max(norms, bound)
    assert squared_distance_bound(np.ones((4, 2))) == 0.0


def test_embedding_near_the_float_limit_is_refused():
    Z = np.array([[1e308, -1e308], [-1e308, 1e308], [0.0, 0.0]])
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum((Z[0] - Z[1]) ** 2))  # what a distance pass would compute
    with pytest.raises(InputError, match=r"squared distances of Z overflow float64: .*inf"):
        check_squared_distances(Z, "Z")
    near = np.array([[0.0, 0.0], [1e154, 0.0]])  # 1e308 squared: still finite
    check_squared_distances(near, "Z")
    with pytest.raises(InputError, match="overflow float32"):
        check_squared_distances(near, "Z", dtype=np.float32)
    far_but_close = np.array([[1e160, 0.0], [1e160 + 1e150, 0.0]])  # norms² ≈ 1e320
    check_squared_distances(far_but_close, "X")
    with pytest.raises(InputError, match="overflow"):
        check_squared_distances(far_but_close, "X", from_origin=True)


def test_castable_finite_and_results():
    check_castable(np.array([3e38, -3e38]), np.float32, "X")
    with pytest.raises(InputError, match=r"X holds values up to 1e\+39, beyond float32"):
        check_castable(np.array([1.0, -1e39]), np.float32, "X")
    with pytest.raises(InputError, match=r"X holds 1 NaN and 2 infinite values \(of 4\)"):
        check_finite(np.array([np.nan, np.inf, -np.inf, 0.0]), "X")
    check_finite(np.arange(3), "labels")
    check_finite_results({"kl_0.1": 0.4, "n": 3, "ok": True, "name": "pca"}, "The measures")
    with pytest.raises(InputError, match=r"The measures came out non-finite for kl_0\.1, rmse"):
        check_finite_results({"kl_0.1": float("nan"), "rmse": np.inf, "t": 1.0}, "The measures")


def test_guard_refuses_exactly_what_overflows_up_to_the_dimension():
    """Near the limit: refused when some squared distance is inf, passed when d times it fits."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(25, 2))
    limit = np.finfo(np.float64).max
    seen = set()
    for scale in np.logspace(150, 156, 25):
        Z = base * scale
        with np.errstate(over="ignore"):
            exact = max(float(np.sum((a - b) ** 2)) for a, b in itertools.combinations(Z, 2))
        try:
            check_squared_distances(Z, "Z")
            refused = False
        except InputError:
            refused = True
        if np.isinf(exact):
            assert refused
        elif 2 * exact < limit:
            assert not refused
        seen.add(refused)
    assert seen == {True, False}


def test_estimator_refuses_data_whose_scale_overflows():
    """Data scaled by 1e300: finite values, an infinite std; refused, not an inf ``scale_``."""
    import warnings

    from topoae.estimator import TopologicalAutoencoder

    X = np.random.default_rng(0).normal(size=(60, 5)) * 1e300
    estimator = TopologicalAutoencoder(max_epochs=1, batch_size=8, standardize=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy overflow warning on the way
        with pytest.raises(InputError, match="overflows float64"):
            estimator.fit(X)
    assert not hasattr(estimator, "scale_") or estimator.scale_ is None
