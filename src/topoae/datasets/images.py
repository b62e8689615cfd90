"""Turning raw image arrays into a split :class:`~topoae.datasets.Dataset` (docs/method.md §3-§6).

Shared by the MNIST-format, CIFAR-10 and digits loaders: optional stratified
subsampling (for machines without a GPU), pixels scaled to [-1, 1], images kept as
``(n, C, H, W)`` float32, the validation split drawn with the run's seed, and the
fixed distance normaliser ``sqrt(4 · C · H · W)`` of the topological loss.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from topoae.datasets import _REGISTRY, Dataset, split_validation
from topoae.errors import InputError
from topoae.paper import image_data_scale

__all__ = ["SUBSAMPLE_SEED", "accepts_option", "image_dataset", "scale_pixels", "subsample"]

#: Seed of ``train_size`` / ``test_size`` subsampling. Fixed, not the run's seed, so that
#: repetitions with different seeds train and are scored on the same images.
SUBSAMPLE_SEED = 0


def scale_pixels(images: np.ndarray, max_value: float) -> np.ndarray:
    """Map pixel values ``0 … max_value`` linearly to ``-1 … 1`` as float32.

    Parameters
    ----------
    images : ndarray of shape (n, C, H, W)
    max_value : float
        Brightest possible pixel (255 for 8-bit images, 16 for scikit-learn's digits).

    Returns
    -------
    ndarray of shape (n, C, H, W), float32
    """
    scaled = images.astype(np.float32) * np.float32(2.0 / max_value)
    scaled -= np.float32(1.0)
    return scaled


def subsample(
    x: np.ndarray, y: np.ndarray, size: int | None, *, split: str, seed: int = SUBSAMPLE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``size`` samples, stratified by label, in their original order.

    Parameters
    ----------
    x : ndarray of shape (n, ...)
    y : ndarray of shape (n,)
    size : int or None
        ``None`` (or ``n``) keeps everything.
    split : str
        ``"train"`` or ``"test"``, for messages.
    seed : int

    Returns
    -------
    x_sub : ndarray of shape (size, ...)
    y_sub : ndarray of shape (size,)
    """
    if size is None or size == len(x):
        return x, y
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise InputError(f"{split}_size must be a positive integer or None, got {size!r}.")
    if size > len(x):
        raise InputError(
            f"{split}_size={size} exceeds the {len(x)} {split} images available; "
            "choose a smaller size or drop the option."
        )
    from sklearn.model_selection import train_test_split

    n_classes = len(np.unique(y))
    try:
        keep, _ = train_test_split(
            np.arange(len(x)), train_size=int(size), stratify=y, random_state=seed
        )
    except ValueError as error:
        raise InputError(
            f"Cannot draw a stratified {split} subsample of {size} out of {len(x)} images with "
            f"{n_classes} classes ({error}); choose a {split}_size of at least {n_classes}."
        ) from error
    keep = np.sort(keep)
    return x[keep], y[keep]


def image_dataset(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    max_value: float,
    seed: int,
    validation_fraction: float,
    train_size: int | None = None,
    test_size: int | None = None,
    info: dict[str, Any] | None = None,
) -> Dataset:
    """Build the split data set from raw images and labels.

    Parameters
    ----------
    name : str
        Registry name.
    train, test : tuple of ndarray
        ``(images of shape (n, C, H, W), labels of shape (n,))`` of the official split;
        images hold raw pixel values ``0 … max_value``.
    max_value : float
        See :func:`scale_pixels`.
    seed : int
        Seed of the validation split.
    validation_fraction : float
        Fraction of the (subsampled) training images held out for validation.
    train_size, test_size : int or None
        Stratified subsample sizes; ``train_size`` counts training plus validation images.
    info : dict, optional
        Facts about the source, completed here with the preprocessing.

    Returns
    -------
    Dataset
        Images of shape ``(n, C, H, W)``, float32 in [-1, 1]; labels int64;
        ``data_scale = sqrt(4 · C · H · W)``.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    if x_train.ndim != 4 or x_train.shape[1:] != x_test.shape[1:]:
        raise InputError(
            f"{name}: training images have shape {x_train.shape[1:]} and test images "
            f"{x_test.shape[1:]}; both must be (C, H, W) and equal. The files do not belong "
            "together; delete them and download them again."
        )
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    n_train_full, n_test_full = len(x_train), len(x_test)
    x_train, y_train = subsample(x_train, y_train, train_size, split="train")
    x_test, y_test = subsample(x_test, y_test, test_size, split="test")
    x_tr, y_tr, x_val, y_val = split_validation(
        scale_pixels(x_train, max_value), y_train, validation_fraction, seed
    )
    input_shape = tuple(int(s) for s in x_train.shape[1:])
    details = dict(info or {})
    details.update(
        {
            "preprocessing": f"pixels 0..{max_value:g} scaled linearly to [-1, 1]",
            "official_sizes": {"train": n_train_full, "test": n_test_full},
            "subsampled": {"train": train_size, "test": test_size, "seed": SUBSAMPLE_SEED},
        }
    )
    return Dataset(
        name=name,
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_val,
        y_val=y_val,
        x_test=scale_pixels(x_test, max_value),
        y_test=y_test,
        data_scale=image_data_scale(input_shape),
        info=details,
    )


def accepts_option(name: str, option: str) -> bool:
    """Whether the loader registered as ``name`` declares the keyword ``option``."""
    loader = _REGISTRY.get(name)
    return loader is not None and option in inspect.signature(loader).parameters
