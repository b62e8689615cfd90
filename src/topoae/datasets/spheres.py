"""The Spheres data set of the paper (docs/method.md §4): ten small 100-spheres in a large one."""

from __future__ import annotations

import numpy as np

from topoae.datasets import Dataset, register, split_validation
from topoae.errors import InputError

#: Seed of the fixed train / test split, independent of the run's seed (as in the reference).
SPLIT_SEED = 42
TEST_FRACTION = 0.1


def _sample_sphere(n_samples: int, dim: int, radius: float) -> np.ndarray:
    # Uses the legacy global RNG on purpose: the draw order reproduces the paper's points.
    points = np.random.randn(n_samples, dim + 1)
    return radius * points / np.linalg.norm(points, axis=1, keepdims=True)


def make_spheres(
    n_samples: int = 500, d: int = 100, n_spheres: int = 11, r: float = 5, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the nested-spheres data exactly as the paper did.

    ``n_spheres - 1`` spheres of radius ``r`` with ``n_samples`` points each, centred
    at random shifts, are enclosed by one sphere of radius ``5 r`` centred at the
    origin with ``n_samples * (n_spheres - 1)`` points. With the defaults this is
    the very same 10,000 points the paper used.

    Parameters
    ----------
    n_samples : int
        Points per small sphere.
    d : int
        Intrinsic dimension; the spheres live in R^(d+1).
    n_spheres : int
        Number of spheres including the enclosing one.
    r : float
        Radius of the small spheres.
    seed : int
        Seed of NumPy's legacy global RNG (it is reseeded: the global state changes).

    Returns
    -------
    X : ndarray of shape (n_samples * 2 * (n_spheres - 1), d + 1), float32
    y : ndarray of shape (n_samples * 2 * (n_spheres - 1),), int64
        Sphere index; ``n_spheres - 1`` marks the enclosing sphere.

    Examples
    --------
    >>> X, y = make_spheres()
    >>> X.shape, int(y.max())
    ((10000, 101), 10)
    """
    if n_samples < 1 or d < 1 or n_spheres < 2 or r <= 0:
        raise InputError(
            "make_spheres needs n_samples >= 1, d >= 1, n_spheres >= 2 and r > 0; got "
            f"n_samples={n_samples}, d={d}, n_spheres={n_spheres}, r={r}."
        )
    np.random.seed(seed)
    # Shifts are drawn for all spheres, though the last row is never used (as in the reference).
    shifts = np.random.normal(0, 10 / np.sqrt(d), size=(n_spheres, d + 1))
    parts, labels = [], []
    for index in range(n_spheres - 1):
        parts.append(_sample_sphere(n_samples, d, r) + shifts[index])
        labels.append(np.full(n_samples, index, dtype=np.int64))
    n_big = n_samples * (n_spheres - 1)
    parts.append(_sample_sphere(n_big, d, 5 * r))
    labels.append(np.full(n_big, n_spheres - 1, dtype=np.int64))
    return np.concatenate(parts).astype(np.float32), np.concatenate(labels)


def spheres_test_indices(n_total: int = 10_000) -> np.ndarray:
    """Indices of the fixed test split: ``RandomState(42).permutation(n)[:n // 10]``."""
    n_test = int(np.ceil(TEST_FRACTION * n_total))
    return np.random.RandomState(SPLIT_SEED).permutation(n_total)[:n_test]


@register("spheres")
def load_spheres(*, seed: int = 0, validation_fraction: float = 0.15, **kwargs) -> Dataset:
    """Spheres with the paper's split (docs/method.md §4).

    The fixed test split (1,000 points) is drawn with seed 42; every feature is
    standardised with the mean and population std of all 9,000 training points;
    ``validation_fraction`` of the training points, drawn with ``seed``, are held out.
    Extra keyword arguments go to :func:`make_spheres`.
    """
    x, y = make_spheres(**kwargs)
    test = spheres_test_indices(len(x))
    train_mask = np.ones(len(x), dtype=bool)
    train_mask[test] = False
    x_train, y_train = x[train_mask], y[train_mask]
    x_test, y_test = x[test], y[test]
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    x_train = ((x_train - mean) / std).astype(np.float32)
    x_test = ((x_test - mean) / std).astype(np.float32)
    x_tr, y_tr, x_val, y_val = split_validation(x_train, y_train, validation_fraction, seed)
    return Dataset(
        name="spheres",
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        data_scale=None,
        info={"source": "make_spheres (docs/method.md §4)", "standardised": True},
    )
