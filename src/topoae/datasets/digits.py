"""scikit-learn's handwritten digits: 1,797 images of 8×8 pixels that ship with scikit-learn.

A small, real image data set that works offline: the fastest way to see TopoAE on
images. There is no official split, so a fixed stratified 20 % test split is drawn
(seed 42, as for Spheres): 1,437 training and 360 test images, and 15 % of the
training images (216) are held out for validation with the run's seed.
"""

from __future__ import annotations

import numpy as np

from topoae.datasets import Dataset, register
from topoae.datasets.images import image_dataset

__all__ = ["load_digits"]

#: Seed and size of the fixed test split.
SPLIT_SEED = 42
TEST_FRACTION = 0.2

#: Pixel values of scikit-learn's digits are counts 0-16 (of a 4×4 block of a 32×32 bitmap).
MAX_VALUE = 16


@register("digits")
def load_digits(
    *,
    seed: int = 0,
    validation_fraction: float = 0.15,
    train_size: int | None = None,
    test_size: int | None = None,
) -> Dataset:
    """The digits with a fixed stratified test split, pixels scaled to [-1, 1].

    Parameters
    ----------
    seed : int
        Seed of the validation split.
    validation_fraction : float
    train_size, test_size : int, optional
        Stratified subsample sizes of the 1,437 training and 360 test images.

    Returns
    -------
    Dataset
        ``x_*`` of shape ``(n, 1, 8, 8)`` float32 in [-1, 1]; ``data_scale = 16``.

    Examples
    --------
    >>> from topoae import datasets
    >>> data = datasets.load("digits")
    >>> data.x_train.shape, data.x_val.shape, data.x_test.shape, data.data_scale
    ((1221, 1, 8, 8), (216, 1, 8, 8), (360, 1, 8, 8), 16.0)
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    train, test = train_test_split(
        np.arange(len(images)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    train, test = np.sort(train), np.sort(test)
    return image_dataset(
        "digits",
        (images[train], labels[train]),
        (images[test], labels[test]),
        max_value=MAX_VALUE,
        seed=seed,
        validation_fraction=validation_fraction,
        train_size=train_size,
        test_size=test_size,
        info={
            "source": "sklearn.datasets.load_digits",
            "test_split": f"stratified {TEST_FRACTION:.0%}, seed {SPLIT_SEED}",
            "classes": [str(d) for d in range(10)],
        },
    )
