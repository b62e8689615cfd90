"""Data sets: generators and loaders behind one registry.

Every data set is a function registered under a name that returns a
:class:`Dataset` record with the train / validation / test split fixed by the
protocol of docs/method.md §4 (or the data set's official split).

Examples
--------
>>> from topoae import datasets
>>> data = datasets.load("spheres", seed=0)
>>> data.x_train.shape, data.x_val.shape, data.x_test.shape
((7650, 101), (1350, 101), (1000, 101))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topoae.datasets._split import Rows
from topoae.errors import InputError

__all__ = [
    "Dataset",
    "available",
    "load",
    "load_file",
    "make_spheres",
    "register",
    "split_validation",
    "validation_indices",
]


@dataclass
class Dataset:
    """A data set split for training and evaluation.

    Attributes
    ----------
    name : str
        Registry name.
    x_train, x_val, x_test : ndarray of shape (n, d) or (n, C, H, W), float32
        Inputs, already preprocessed (standardised, or scaled to [-1, 1] for images).
    y_train, y_val, y_test : ndarray of shape (n,), int64
        Labels (used for colouring and stratification only).
    data_scale : float or None
        Fixed constant that data-space distances are divided by in the topological
        loss (the largest possible distance for images in [-1, 1]); ``None`` divides
        by the largest distance in each batch instead (docs/method.md §3).
    info : dict
        Free-form facts about the data (source, preprocessing, ...).
    feature_names : tuple of str or None
        Names of the feature columns, where the source has them (users' files).
    label_names : tuple of str or None
        Class names: label ``k`` is ``label_names[k]`` (``None``: the labels are the classes).
    source : FileSource or None
        For a user's file (:func:`topoae.datasets.files.load_file`): path, hash, split indices
        and standardisation; ``source.to_dict()`` is the record for a run folder. ``None`` for
        the registered data sets. With it, ``x_train`` may be a lazy
        :class:`~topoae.datasets.files.Rows` view of a memory-mapped file: index it with row
        indices (a batch) rather than converting it whole.
    """

    name: str
    x_train: np.ndarray | Rows
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    data_scale: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    feature_names: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None
    source: Any = None

    @property
    def has_labels(self) -> bool:
        """Whether ``y_*`` are real labels (an unlabelled file gets zeros)."""
        return self.source is None or self.source.label_column is not None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(101,)`` or ``(1, 28, 28)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Number of input values per sample (flattened)."""
        return int(np.prod(self.input_shape))

    def summary(self) -> str:
        """One line: name, split sizes and sample shape."""
        return (
            f"{self.name}: train {len(self.x_train)}, val {len(self.x_val)}, "
            f"test {len(self.x_test)}, sample shape {self.input_shape}"
        )


Loader = Callable[..., Dataset]
_REGISTRY: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    """Register a loader ``f(*, seed, validation_fraction, **kwargs) -> Dataset`` under ``name``."""

    def decorator(loader: Loader) -> Loader:
        _REGISTRY[name] = loader
        return loader

    return decorator


def available() -> list[str]:
    """Names of all registered data sets, sorted."""
    return sorted(_REGISTRY)


def load(name: str, *, seed: int = 0, validation_fraction: float = 0.15, **kwargs: Any) -> Dataset:
    """Load a registered data set, or a user's file, with its split.

    Parameters
    ----------
    name : str or path-like
        One of :func:`available`, or the path of a file that
        :func:`topoae.datasets.files.load_file` reads (an existing file, or any name with a
        known extension such as ``.csv``, ``.npy``, ``.h5ad``).
    seed : int
        Seed of the validation split (the test split is fixed by the data set).
    validation_fraction : float
        Fraction of the training set held out for validation / early stopping.
    **kwargs
        Passed to the data set's loader (e.g. ``data_dir`` for image data; ``labels``,
        ``use_rep``, ... for files).

    Returns
    -------
    Dataset
    """
    if str(name) not in _REGISTRY and files.is_file_dataset(name):
        return files.load_file(name, seed=seed, validation_fraction=validation_fraction, **kwargs)
    if name not in _REGISTRY:
        raise InputError(f"Unknown data set {name!r}; available: {', '.join(available())}.")
    if not 0.0 <= validation_fraction < 1.0:
        raise InputError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    return _REGISTRY[name](seed=seed, validation_fraction=validation_fraction, **kwargs)


def validation_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The one validation-split rule of topoae (data sets and the estimator).

    A random permutation of ``range(n)`` from ``np.random.RandomState(seed)``; its first
    ``max(2, round(fraction * n))`` entries validate (none when ``fraction == 0``), the rest
    train. At least 2, because a validation loss needs a pair of samples.

    Returns
    -------
    train, val : ndarray of int
        Indices, in permutation order.
    """
    n_val = max(2, round(fraction * n)) if fraction > 0 else 0
    order = np.random.RandomState(seed).permutation(n)
    return order[n_val:], order[:n_val]


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a random ``fraction`` of the samples for validation (:func:`validation_indices`).

    Returns
    -------
    x_train, y_train, x_val, y_val
    """
    train, val = validation_indices(len(x), fraction, seed)
    return x[train], y[train], x[val], y[val]


# Importing the modules registers their data sets.
from topoae.datasets import cifar, digits, files, idx  # noqa: E402, F401
from topoae.datasets import loops as _loops  # noqa: E402, F401
from topoae.datasets import spheres as _spheres  # noqa: E402, F401
from topoae.datasets.files import load_file  # noqa: E402
from topoae.datasets.spheres import make_spheres  # noqa: E402
