"""Users' files as data sets: CSV, TSV, NumPy, Parquet and AnnData in, a split :class:`Dataset` out.

:func:`load_file` reads a table of points (rows) and features (columns), draws a seeded split
by row indices, standardises every feature with the mean and population standard deviation of
the non-test rows (one streaming pass; the validation rows count, as in the paper's Spheres
protocol, docs/method.md §4) and records all of it in a :class:`FileSource`, whose
:meth:`FileSource.to_dict` goes into a run folder so that the run can be reproduced
(:func:`reload`) and new rows embedded with the same preprocessing (:func:`read_rows_like`).

The split (defaults):

- test: ``ceil(0.1 · n)`` rows, at least 1, at most 10,000;
- validation (early stopping): ``round(0.15 · rest)`` of the remaining rows, at least 2, at most
  10,000, so that a validation pass stays cheap at a million points;
- training: the rest.

All three come from one ``RandomState(seed).permutation(n)`` and are kept in file order.

Memory: a ``.npy`` is opened memory-mapped and an ``.h5ad``'s ``X`` backed; for these
``x_train`` is a :class:`~topoae.datasets._split.Rows` view that reads and standardises only the
rows asked for (a batch), so a 1,000,000 × 50 array is never copied whole. ``x_val`` and
``x_test`` (at most 10,000 rows each) are always NumPy arrays. Pass ``lazy=True`` / ``False``
to choose for any format.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from topoae.datasets import Dataset
from topoae.datasets._readers import (
    FORMATS,
    LabelSpec,
    Table,
    column_names,
    encode_labels,
    format_of,
    read_table,
)
from topoae.datasets._split import (
    Rows,
    index_digest,
    minimum_rows,
    scan,
    split_indices,
    split_sizes,
)
from topoae.errors import DataFileError, InputError

__all__ = [
    "FORMATS",
    "FileSource",
    "Rows",
    "file_sha256",
    "is_file_dataset",
    "load_file",
    "read_rows_like",
    "reload",
]

#: Version of :meth:`FileSource.to_dict`'s layout.
RECORD_VERSION = 1


@dataclass
class FileSource:
    """Where a file data set came from and how it was split and preprocessed.

    Attributes
    ----------
    path : str
        Absolute path of the file.
    format : str
        One of ``FORMATS.values()``.
    sha256 : str or None
        Hex digest of the file's bytes (``None`` when hashing was skipped).
    n_rows, n_features : int
    feature_names : list of str or None
        The feature columns (``None`` for files without column names).
    features : list of str or int, or None
        The ``features`` selection as given (``None``: all columns but the labels).
    label_column : str or None
        Column, obs key or array the labels came from (``None``: no labels, ``y`` is zeros).
    label_names : list of str or None
        Class names of the integer labels.
    use_rep, layer : str or None
        The ``.h5ad`` matrix used (``None`` for both: ``X``).
    seed, test_fraction, validation_fraction, max_test, max_val
        The split's settings.
    n_train, n_val, n_test : int
    split_sha256 : str
        Digest of the train, validation and test index arrays.
    standardize : bool
    mean, std : list of float or None
        Per-feature statistics of the non-test rows (float64); ``std`` is the divisor (a
        constant feature's 0 is replaced by 1).
    train_index, val_index, test_index : ndarray of int64
        Source rows of each split, in file order (not part of :meth:`to_dict`: the seed
        reproduces them and ``split_sha256`` checks that).
    """

    path: str
    format: str
    sha256: str | None
    n_rows: int
    n_features: int
    feature_names: list[str] | None
    features: list[str | int] | None
    label_column: str | None
    label_names: list[str] | None
    use_rep: str | None
    layer: str | None
    seed: int
    test_fraction: float
    validation_fraction: float
    max_test: int
    max_val: int
    n_train: int
    n_val: int
    n_test: int
    split_sha256: str
    standardize: bool
    mean: list[float] | None
    std: list[float] | None
    train_index: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.int64))
    val_index: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.int64))
    test_index: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.int64))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the source, split and preprocessing (no index arrays)."""
        record = asdict(self)
        for key in ("train_index", "val_index", "test_index"):
            record.pop(key)
        return {"kind": "file", "version": RECORD_VERSION, **record}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FileSource:
        """Inverse of :meth:`to_dict` (without the index arrays)."""
        if record.get("kind") != "file" or record.get("version") != RECORD_VERSION:
            raise InputError(
                f"Not a topoae file-source record of version {RECORD_VERSION}: "
                f"kind={record.get('kind')!r}, version={record.get('version')!r}."
            )
        names = {f.name for f in cls.__dataclass_fields__.values()} - {
            "train_index",
            "val_index",
            "test_index",
        }
        missing = names - set(record)
        if missing:
            raise InputError(f"The file-source record lacks {sorted(missing)}.")
        return cls(**{key: record[key] for key in names})

    def scaling(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(mean, std)`` as float64 arrays, or ``(None, None)`` without standardisation."""
        if not self.standardize:
            return None, None
        return np.asarray(self.mean, dtype=np.float64), np.asarray(self.std, dtype=np.float64)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def is_file_dataset(name: str | os.PathLike) -> bool:
    """Whether ``name`` means a file: an existing path or a known extension."""
    path = Path(name)
    return path.suffix.lower() in FORMATS or path.is_file()


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFileError(f"{path}: no such file.")
    if not path.is_file():
        raise DataFileError(f"{path}: not a file.")
    return path.resolve()


class _Fractions(TypedDict):
    """The split settings, passed on as keywords."""

    test_fraction: float
    validation_fraction: float
    max_test: int
    max_val: int


def load_file(
    path: str | os.PathLike,
    *,
    labels: LabelSpec = None,
    features: Sequence[str | int] | None = None,
    use_rep: str | None = None,
    layer: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.1,
    validation_fraction: float = 0.15,
    max_test: int = 10_000,
    max_val: int = 10_000,
    standardize: bool = True,
    lazy: bool | None = None,
    min_train: int = 2,
    hash_file: bool = True,
    name: str | None = None,
) -> Dataset:
    """Read a file of points as a split, standardised :class:`~topoae.datasets.Dataset`.

    Parameters
    ----------
    path : str or path-like
        ``.csv``, ``.tsv`` (or ``.tab``), ``.npy``, ``.npz``, ``.parquet`` (or ``.pq``),
        ``.h5ad``; the extension decides the reader. CSV/TSV: a first line that is not all
        numbers is a header.
    labels : str, int, array-like or None
        Class labels: a column (name, or position from 0, for CSV/TSV/Parquet), an ``obs``
        column (``.h5ad``), an array name (``.npz``; default ``y`` or ``labels`` when present),
        or one label per row. Kept out of the features. Names become codes ``0 … k-1`` with
        the names in ``Dataset.label_names``. ``None``: no labels (``y`` is zeros).
    features : sequence of str or int, optional
        Feature columns (names or positions); default all but the labels. Every feature must
        be numeric and finite.
    use_rep : str, optional
        ``.h5ad`` only: an ``obsm`` key such as ``"X_pca"`` (``"X"``: the default matrix).
    layer : str, optional
        ``.h5ad`` only: a layer instead of ``X``. Sparse matrices are densified per block or
        batch, never whole.
    seed : int
        Seed of the split.
    test_fraction, validation_fraction : float
        Fractions of all rows for testing and of the rest for validation.
    max_test, max_val : int
        Caps on the test and validation sizes.
    standardize : bool
        Centre and scale every feature by the non-test rows' mean and std.
    lazy : bool or None
        Keep ``x_train`` a lazy :class:`Rows` view; ``None``: for memory-mapped / backed
        sources (``.npy``, ``.h5ad`` ``X``).
    min_train : int
        Fewest training rows accepted (pass the batch size).
    hash_file : bool
        Record the file's SHA-256 (one extra sequential read).
    name : str, optional
        Data set name; default the file name.

    Returns
    -------
    Dataset
        ``x_*`` float32 of shape ``(n_split, n_features)``, ``y_*`` int64; ``source`` is the
        :class:`FileSource`.

    Raises
    ------
    DataFileError
        For a missing, damaged or unsuitable file; the message names the column and row.
    """
    path = _check_path(path)
    fmt = format_of(path)
    _check_split_options(seed, test_fraction, validation_fraction, max_test, max_val, min_train)
    given = None if labels is None or isinstance(labels, str | int) else labels
    table = read_table(
        path,
        fmt,
        labels=None if given is not None else labels,
        features=features,
        use_rep=use_rep,
        layer=layer,
    )
    if given is not None:
        table.labels, table.label_column = given, "<array>"
    n = table.matrix.shape[0]
    fractions = _Fractions(
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        max_test=max_test,
        max_val=max_val,
    )
    needed = minimum_rows(min_train, **fractions)
    if n < needed:
        raise DataFileError(
            f"{path}: {n} rows, but the split needs at least {needed} ({min_train} for training "
            "after the test and validation rows); use more rows or a smaller batch size."
        )
    sizes = split_sizes(n, **fractions)
    train, val, test = split_indices(n, sizes, seed)
    codes, label_names = _labels(table, n, path)
    stats = scan(
        table.matrix, np.union1d(train, val), path=str(path), column_names=table.feature_names
    )
    mean = scale = None
    if standardize:
        mean, scale = stats.mean, np.where(stats.std > 0, stats.std, 1.0)
    source = FileSource(
        path=str(path),
        format=fmt,
        sha256=file_sha256(path) if hash_file else None,
        n_rows=n,
        n_features=table.matrix.shape[1],
        feature_names=table.feature_names,
        features=None if features is None else [_json_key(f) for f in features],
        label_column=table.label_column if codes is not None else None,
        label_names=None if label_names is None else list(label_names),
        use_rep=use_rep,
        layer=layer,
        seed=int(seed),
        n_train=sizes.train,
        n_val=sizes.val,
        n_test=sizes.test,
        split_sha256=index_digest(train, val, test),
        standardize=bool(standardize),
        mean=None if mean is None else mean.tolist(),
        std=None if scale is None else scale.tolist(),
        train_index=train,
        val_index=val,
        test_index=test,
        **fractions,
    )
    return _dataset(name or path.name, table, source, codes, lazy)


def _json_key(feature: str | int) -> str | int:
    return feature if isinstance(feature, str) else int(feature)


def _dataset(name: str, table: Table, source: FileSource, codes, lazy: bool | None) -> Dataset:
    """The :class:`Dataset` of a read table and its record."""
    mean, scale = source.scaling()
    y = codes if codes is not None else np.zeros(source.n_rows, dtype=np.int64)
    x_train = Rows(table.matrix, source.train_index, mean, scale)
    lazy = table.lazy if lazy is None else lazy
    return Dataset(
        name=name,
        x_train=x_train if lazy else np.asarray(x_train),
        y_train=y[source.train_index],
        x_val=np.asarray(Rows(table.matrix, source.val_index, mean, scale)),
        y_val=y[source.val_index],
        x_test=np.asarray(Rows(table.matrix, source.test_index, mean, scale)),
        y_test=y[source.test_index],
        data_scale=None,
        info={
            "source": source.path,
            "format": source.format,
            "standardised": source.standardize,
            **table.details,
        },
        feature_names=None if table.feature_names is None else tuple(table.feature_names),
        label_names=None if source.label_names is None else tuple(source.label_names),
        source=source,
    )


def _check_split_options(
    seed, test_fraction, validation_fraction, max_test, max_val, min_train
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be an integer in [0, 2**32), got {seed!r}.")
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    if not 0 <= validation_fraction < 1:
        raise InputError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    for key, value in (("max_test", max_test), ("max_val", max_val), ("min_train", min_train)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{key} must be a positive integer, got {value!r}.")


def _labels(table: Table, n: int, path: Path):
    if table.labels is None:
        return None, None
    return encode_labels(table.labels, n=n, path=path, column=table.label_column)


def reload(
    record: dict[str, Any] | FileSource, *, path: str | os.PathLike | None = None, **options: Any
) -> Dataset:
    """Load the data set a run was trained on, from its recorded source, and check it is the same.

    Parameters
    ----------
    record : dict or FileSource
        :meth:`FileSource.to_dict` of the run.
    path : str or path-like, optional
        Where the file is now (default: the recorded path).
    **options
        Passed to :func:`load_file` (``lazy``, ``min_train``).

    Raises
    ------
    DataFileError
        If the file's bytes (SHA-256) or the resulting split differ from the record.
    """
    source = record if isinstance(record, FileSource) else FileSource.from_dict(record)
    labels = None if source.label_column in (None, "<array>") else source.label_column
    if source.label_column == "<array>":
        raise DataFileError(
            f"{source.path}: the run's labels were passed as an array; pass load_file the "
            "same labels instead of reload."
        )
    data = load_file(
        path or source.path,
        labels=labels,
        features=source.features,
        use_rep=source.use_rep,
        layer=source.layer,
        seed=source.seed,
        test_fraction=source.test_fraction,
        validation_fraction=source.validation_fraction,
        max_test=source.max_test,
        max_val=source.max_val,
        standardize=source.standardize,
        hash_file=source.sha256 is not None,
        **options,
    )
    new = data.source
    if source.sha256 is not None and new.sha256 != source.sha256:
        raise DataFileError(
            f"{new.path}: the file changed since the run (SHA-256 {new.sha256[:12]}… ≠ recorded "
            f"{source.sha256[:12]}…); use the original file."
        )
    if new.split_sha256 != source.split_sha256:
        raise DataFileError(f"{new.path}: the split differs from the recorded one.")
    return data


def read_rows_like(
    path: str | os.PathLike,
    record: dict[str, Any] | FileSource,
    *,
    use_rep: str | None = None,
    layer: str | None = None,
) -> Rows:
    """New rows with a run's feature selection and standardisation (for ``transform``).

    Columns are matched by name when the run recorded names and the new file has them (extra
    columns, such as the label column, are ignored), by position otherwise. Every row is
    kept, in file order.

    Parameters
    ----------
    path : str or path-like
        A file of any format :func:`load_file` reads.
    record : dict or FileSource
        The run's :meth:`FileSource.to_dict`.
    use_rep, layer : str, optional
        ``.h5ad`` only; default the run's.

    Returns
    -------
    Rows
        Lazy float32 rows of shape ``(n_rows, n_features)``: ``np.asarray`` or ``.chunks()``.

    Raises
    ------
    DataFileError
        Missing columns, a different number of features, non-numeric or non-finite values.
    """
    source = record if isinstance(record, FileSource) else FileSource.from_dict(record)
    path = _check_path(path)
    fmt = format_of(path)
    if fmt == "h5ad":
        use_rep = source.use_rep if use_rep is None and layer is None else use_rep
        layer = source.layer if use_rep is None and layer is None else layer
    names = column_names(path, fmt, use_rep=use_rep, layer=layer)
    features: Sequence[str | int] | None = (
        source.features if names is None or source.feature_names is None else None
    )
    if source.feature_names is not None and names is not None:
        missing = [c for c in source.feature_names if c not in names]
        if missing:
            raise DataFileError(
                f"{path}: lacks the column(s) {', '.join(map(repr, missing[:10]))} the run was "
                "trained on."
            )
        features = source.feature_names
    table = read_table(path, fmt, features=features, use_rep=use_rep, layer=layer)
    if table.matrix.shape[1] != source.n_features:
        raise DataFileError(
            f"{path}: {table.matrix.shape[1]} feature columns, but the run was trained on "
            f"{source.n_features}."
        )
    scan(
        table.matrix,
        np.empty(0, np.int64),
        path=str(path),
        column_names=table.feature_names,
    )
    mean, scale = source.scaling()
    return Rows(table.matrix, np.arange(table.matrix.shape[0]), mean, scale)
