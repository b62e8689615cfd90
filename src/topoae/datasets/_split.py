"""Seeded index splits, one streaming pass for standardisation, and lazy standardised rows.

Users' files can be larger than memory (a ``.npy`` opened memory-mapped, the backed ``X`` of an
``.h5ad``), so a split is a set of row indices into the source matrix, never a copy of it. The
standardisation statistics come from one pass over the file in contiguous blocks, and
:class:`Rows` standardises rows only when they are gathered (per batch).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from topoae.errors import DataFileError

__all__ = ["Matrix", "Rows", "SplitSizes", "Stats", "block_rows", "scan", "split_indices"]

#: Values per block of the streaming pass (32 MiB of float64). Blocks depend only on the
#: matrix's shape, so every reader of the same array sums the same numbers in the same order.
BLOCK_VALUES = 1 << 22


class Matrix(Protocol):
    """What a reader hands over: a 2-D float64 view of the feature columns of a file."""

    shape: tuple[int, int]

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows at sorted, unique indices, as float64 of shape (len(rows), n_features)."""

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float64 of shape (stop - start, n_features)."""


@dataclass(frozen=True)
class SplitSizes:
    """Numbers of test, validation and training rows."""

    test: int
    val: int
    train: int


def split_sizes(
    n: int, *, test_fraction: float, validation_fraction: float, max_test: int, max_val: int
) -> SplitSizes:
    """Test ``ceil(test_fraction · n)`` (at least 1) capped at ``max_test``; validation
    ``round(validation_fraction · rest)`` (at least 2 when the fraction is positive) capped at
    ``max_val``; training the remainder."""
    n_test = min(max_test, max(1, math.ceil(test_fraction * n)))
    rest = n - n_test
    n_val = (
        0 if validation_fraction == 0 else min(max_val, max(2, round(validation_fraction * rest)))
    )
    return SplitSizes(test=n_test, val=n_val, train=rest - n_val)


def minimum_rows(min_train: int, **fractions: Any) -> int:
    """Smallest number of rows whose split leaves ``min_train`` training rows."""
    n = min_train + 1
    while split_sizes(n, **fractions).train < min_train:
        n += 1
    return n


def split_indices(
    n: int, sizes: SplitSizes, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(train, val, test)``, each sorted (file order) and int64.

    One ``RandomState(seed).permutation(n)``: its first ``sizes.test`` entries are the test
    rows, the next ``sizes.val`` the validation rows.
    """
    order = np.random.RandomState(seed).permutation(n).astype(np.int64)
    test = np.sort(order[: sizes.test])
    val = np.sort(order[sizes.test : sizes.test + sizes.val])
    train = np.sort(order[sizes.test + sizes.val :])
    return train, val, test


def index_digest(*indices: np.ndarray) -> str:
    """SHA-256 of the index arrays (int64, little-endian), to check a reproduced split."""
    digest = hashlib.sha256()
    for index in indices:
        digest.update(np.asarray(index, dtype="<i8").tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def block_rows(n_features: int) -> int:
    """Rows per block of the streaming pass."""
    return max(1, BLOCK_VALUES // max(1, n_features))


@dataclass(frozen=True)
class Stats:
    """Per-feature mean and population standard deviation (float64)."""

    mean: np.ndarray
    std: np.ndarray
    count: int


def scan(
    matrix: Matrix,
    stats_rows: np.ndarray,
    *,
    path: str,
    column_names: list[str] | None,
) -> Stats:
    """Check every value is finite and compute mean / std of ``stats_rows`` in one pass.

    The file is read in contiguous blocks (sequential I/O on a memory map); each block's
    selected rows contribute their mean and sum of squared deviations, merged with Chan et
    al.'s pairwise update, which is exact up to rounding and stable for large counts.

    Parameters
    ----------
    matrix : Matrix
    stats_rows : ndarray of int64, sorted
        Rows the statistics are computed over (the non-test rows).
    path : str
        For messages.
    column_names : list of str or None
        For messages.
    """
    n, d = matrix.shape
    count, mean, m2 = 0, np.zeros(d), np.zeros(d)
    step = block_rows(d)
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = matrix.block(start, stop)
        check_finite(block, start, path=path, column_names=column_names)
        lo, hi = np.searchsorted(stats_rows, [start, stop])
        chosen = block[stats_rows[lo:hi] - start]
        if len(chosen) == 0:
            continue
        b_mean = chosen.mean(axis=0)
        b_m2 = ((chosen - b_mean) ** 2).sum(axis=0)
        total = count + len(chosen)
        delta = b_mean - mean
        mean = mean + delta * (len(chosen) / total)
        m2 = m2 + b_m2 + delta**2 * (count * len(chosen) / total)
        count = total
    return Stats(mean=mean, std=np.sqrt(m2 / max(count, 1)), count=count)


def check_finite(
    block: np.ndarray, first_row: int, *, path: str, column_names: list[str] | None
) -> None:
    """Raise naming the first NaN or infinite cell (rows counted from 1)."""
    bad = ~np.isfinite(block)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        name = column_names[col] if column_names else str(col)
        raise DataFileError(
            f"{path}: row {first_row + row + 1}, column {name!r} holds {float(block[row, col])!r}; "
            "NaN and infinite values are not allowed: remove or impute them."
        )


class Rows:
    """Lazily standardised rows of a source matrix: a training split that is never copied whole.

    Behaves like a read-only float32 array of shape ``(len(index), n_features)`` for what
    training needs: ``len``, ``shape``, ``dtype``, indexing with an int, a slice or an array of
    ints (any order, repeats allowed) returns a NumPy array, and ``np.asarray(rows)`` gathers
    everything (only for small data). Each gather reads just the requested rows from the source
    and applies ``(x - mean) / scale`` in float64, then rounds to float32, so a batch has
    exactly the values of the same rows of the materialised array.

    Parameters
    ----------
    matrix : Matrix
        The source (memory-mapped, backed or in memory).
    index : ndarray of int64
        Source rows of this split.
    mean, scale : ndarray of shape (n_features,), float64, or None
        Standardisation; ``None`` leaves the values as they are.
    """

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(
        self, matrix: Matrix, index: np.ndarray, mean: np.ndarray | None, scale: np.ndarray | None
    ):
        self.matrix = matrix
        self.index = np.asarray(index, dtype=np.int64)
        self.mean, self.scale = mean, scale

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.index), self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"Rows(shape={self.shape}, dtype=float32, lazy)"

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            raise TypeError("Rows supports row indexing only (an int, a slice or an index array).")
        if isinstance(key, int | np.integer):
            return self[np.array([key])][0]
        rows = self.index[key]
        if len(rows) and np.all(rows[1:] > rows[:-1]):  # a slice or sorted batch: read as is
            return self.standardize(self.matrix.take(rows))
        # Readers (h5py) need sorted, unique rows: read those, then restore the order asked for.
        unique, inverse = np.unique(rows, return_inverse=True)
        return self.standardize(self.matrix.take(unique))[inverse.reshape(-1)]

    def standardize(self, values: np.ndarray) -> np.ndarray:
        """Apply the standardisation to raw float64 rows; float32 out."""
        if self.mean is not None:
            values = (values - self.mean) / self.scale
        return values.astype(np.float32)

    def chunks(self, size: int | None = None) -> Iterator[np.ndarray]:
        """The rows in order, ``size`` at a time (default: one streaming block)."""
        size = size or block_rows(self.shape[1])
        for start in range(0, len(self), size):
            yield self[start : start + size]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape, dtype=np.float32)
        start = 0
        for chunk in self.chunks():
            out[start : start + len(chunk)] = chunk
            start += len(chunk)
        return out if dtype is None else out.astype(dtype)
