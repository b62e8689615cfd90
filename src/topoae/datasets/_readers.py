"""Readers of users' files: each turns one format into a :class:`Table` (features + labels).

Every reader checks what it reads and raises :class:`~topoae.errors.DataFileError` naming the
file, the column and the row; nothing is unpickled. Memory: ``.npy`` is memory-mapped and an
``.h5ad``'s ``X`` is opened backed (both read per block or batch later); CSV, TSV, Parquet,
``.npz`` members and ``.h5ad`` ``obsm`` / ``layers`` are read into memory.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topoae.datasets._split import Matrix
from topoae.errors import DataFileError, MissingDependencyError

__all__ = ["FORMATS", "Table", "column_names", "encode_labels", "format_of", "read_table"]

#: File extension -> format name.
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".npy": "npy",
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5ad": "h5ad",
}
_CSV_CHUNK = 10_000
LabelSpec = str | int | Sequence | np.ndarray | None


@dataclass
class Table:
    """What a reader found.

    Attributes
    ----------
    matrix : Matrix
        The feature columns, read per block or row set.
    feature_names : list of str or None
        Column names (``None`` where the file has none: ``.npy``, headerless CSV).
    labels : array-like or None
        Raw label values, one per row (a pandas Categorical for ``.h5ad`` obs columns).
    label_column : str or None
        Where the labels came from.
    lazy : bool
        Whether the matrix stays on disk (memory-mapped or backed).
    details : dict
        Format-specific facts for the record (header present, sparse, ...).
    """

    matrix: Matrix
    feature_names: list[str] | None
    labels: Any = None
    label_column: str | None = None
    lazy: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class ArrayMatrix:
    """A dense 2-D array: ndarray, ``np.memmap`` or an h5py dataset (backed ``.h5ad``)."""

    def __init__(self, data: Any, columns: np.ndarray | None = None):
        self.data, self.columns = data, columns
        width = data.shape[1] if columns is None else len(columns)
        self.shape = (int(data.shape[0]), int(width))

    def _cols(self, values: np.ndarray) -> np.ndarray:
        values = values if self.columns is None else values[:, self.columns]
        return np.asarray(values, dtype=np.float64)

    def take(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) and not isinstance(self.data, np.ndarray):
            # h5py reads a contiguous range much faster than scattered points.
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            if hi - lo <= 4 * len(rows):
                return self._cols(self.data[lo:hi][rows - lo])
        return self._cols(self.data[rows])

    def block(self, start: int, stop: int) -> np.ndarray:
        return self._cols(self.data[start:stop])


class SparseMatrix(ArrayMatrix):
    """A CSR matrix (scipy, or anndata's backed one), densified per block or batch."""

    def _cols(self, values: Any) -> np.ndarray:
        values = values if self.columns is None else values[:, self.columns]
        return np.asarray(values.toarray(), dtype=np.float64)

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self._cols(self.data[rows])


def format_of(path: Path) -> str:
    """The format named by the file's extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(
            f"{path}: unknown extension {path.suffix!r}; topoae reads {', '.join(sorted(FORMATS))}."
        )
    return fmt


def read_table(
    path: Path,
    fmt: str,
    *,
    labels: LabelSpec = None,
    features: Sequence[str | int] | None = None,
    use_rep: str | None = None,
    layer: str | None = None,
) -> Table:
    """Read ``path`` of format ``fmt`` (see :data:`FORMATS`)."""
    if fmt != "h5ad" and (use_rep is not None or layer is not None):
        raise DataFileError(f"{path}: use_rep and layer apply to .h5ad files only.")
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "," if fmt == "csv" else "\t", labels, features)
    if fmt == "parquet":
        return _read_parquet(path, labels, features)
    if fmt == "h5ad":
        return _read_h5ad(path, labels, features, use_rep, layer)
    return _read_numpy(path, fmt, labels, features)


def column_names(
    path: Path, fmt: str, *, use_rep: str | None = None, layer: str | None = None
) -> list[str] | None:
    """The file's column names without reading its rows (``None`` where it has none)."""
    if fmt in ("csv", "tsv"):
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle, delimiter="," if fmt == "csv" else "\t")
                first = next((row for row in reader if row), None)
        except (UnicodeDecodeError, csv.Error) as error:
            raise DataFileError(f"{path}: cannot be read as delimited text ({error}).") from None
        if first is None or all(_is_number(cell) for cell in first):
            return None
        return [c.strip() or f"column {i + 1}" for i, c in enumerate(first)]
    if fmt == "parquet":
        return _read_parquet(path, None, None, schema_only=True)
    if fmt == "h5ad":
        return _read_h5ad(path, None, None, use_rep, layer).feature_names
    return None


# ---------------------------------------------------------------------------------- columns


def _column(spec: str | int, names: list[str], path: Path, what: str) -> int:
    """Position of the column ``spec`` (a name, or a position counted from 0)."""
    if isinstance(spec, str) and spec in names:
        return names.index(spec)
    if isinstance(spec, int | np.integer) and not isinstance(spec, bool):
        if -len(names) <= spec < len(names):
            return int(spec) % len(names)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise DataFileError(f"{path}: no {what} column {spec!r}; the columns are: {shown}.")


def _select(
    names: list[str], path: Path, labels: Any, features: Sequence[str | int] | None
) -> tuple[int | None, list[int]]:
    """(label position or None, feature positions) for a table with columns ``names``."""
    label = _column(labels, names, path, "label") if isinstance(labels, str | int) else None
    if features is None:
        chosen = [i for i in range(len(names)) if i != label]
    else:
        if isinstance(features, str):
            features = [features]
        chosen = [_column(spec, names, path, "feature") for spec in features]
        if label is not None and label in chosen:
            raise DataFileError(
                f"{path}: column {names[label]!r} is both a feature and the labels."
            )
        if len(set(chosen)) != len(chosen):
            raise DataFileError(f"{path}: features lists a column twice.")
    if not chosen:
        raise DataFileError(f"{path}: no feature columns left (only the label column).")
    return label, chosen


# ---------------------------------------------------------------------------------- CSV / TSV


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_delimited(path: Path, delimiter: str, labels: Any, features: Any) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            first = next((row for row in reader if row), None)
            if first is None:
                raise DataFileError(f"{path}: the file is empty.")
            has_header = not all(_is_number(cell) for cell in first)
            names = [c.strip() or f"column {i + 1}" for i, c in enumerate(first)]
            if not has_header:
                names = [str(i) for i in range(len(first))]
            if len(set(names)) != len(names):
                raise DataFileError(f"{path}: the header names a column twice.")
            label, chosen = _select(names, path, labels, features)
            values: list[np.ndarray] = []
            label_cells: list[np.ndarray] = []
            pending, lines = ([] if has_header else [first]), ([] if has_header else [1])
            for row in reader:
                if not row:
                    continue
                if len(row) != len(names):
                    raise DataFileError(
                        f"{path}: line {reader.line_num} has {len(row)} fields but the first "
                        f"line has {len(names)} (ragged rows; check the delimiter and quoting)."
                    )
                pending.append(row)
                lines.append(reader.line_num)
                if len(pending) == _CSV_CHUNK:
                    _parse_chunk(pending, lines, chosen, label, names, path, values, label_cells)
                    pending, lines = [], []
            if pending:
                _parse_chunk(pending, lines, chosen, label, names, path, values, label_cells)
    except UnicodeDecodeError as error:
        raise DataFileError(f"{path}: not a UTF-8 text file ({error.reason}).") from None
    except csv.Error as error:
        raise DataFileError(f"{path}: cannot be read as delimited text ({error}).") from None
    if not values:
        raise DataFileError(f"{path}: has a header but no data rows.")
    x = np.concatenate(values)
    return Table(
        matrix=ArrayMatrix(x),
        feature_names=[names[i] for i in chosen] if has_header else None,
        labels=None if label is None else np.concatenate(label_cells),
        label_column=None if label is None else names[label],
        details={"header": has_header, "delimiter": delimiter},
    )


def _parse_chunk(pending, lines, chosen, label, names, path, values, label_cells) -> None:
    cells = np.array(pending, dtype=str)
    try:
        block = cells[:, chosen].astype(np.float64)
    except ValueError:
        for j in chosen:
            for i, cell in enumerate(cells[:, j]):
                if not _is_number(cell):
                    what = "is empty" if not cell.strip() else f"holds {str(cell)!r}, not a number"
                    raise DataFileError(
                        f"{path}: line {lines[i]}, column {names[j]!r} {what}; feature columns "
                        "must be numeric (name a label column with labels=, choose columns "
                        "with features=)."
                    ) from None
        raise
    bad = ~np.isfinite(block)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataFileError(
            f"{path}: line {lines[i]}, column {names[chosen[j]]!r} holds "
            f"{str(cells[i, chosen[j]])!r}; NaN and infinite values are not allowed: remove or "
            "impute them."
        )
    values.append(block)
    if label is not None:
        label_cells.append(cells[:, label])


# ---------------------------------------------------------------------------------- Parquet


def _read_parquet(path: Path, labels: Any, features: Any, *, schema_only: bool = False) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            "Reading Parquet needs pyarrow: pip install 'topoae[files]'."
        ) from None
    try:
        if schema_only:
            return [str(name) for name in pq.read_schema(path).names]
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"{path}: not a readable Parquet file ({error}).") from None
    names = [str(name) for name in table.column_names]
    if table.num_rows == 0:
        raise DataFileError(f"{path}: the Parquet file has no rows.")
    label, chosen = _select(names, path, labels, features)
    columns = []
    for j in chosen:
        column = table.column(j)
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise DataFileError(
                f"{path}: column {names[j]!r} holds {kind}, not numbers; feature columns must be "
                "numeric (name a label column with labels=, choose columns with features=)."
            )
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataFileError(
                f"{path}: row {row + 1}, column {names[j]!r} is missing (null); remove or "
                "impute it."
            )
        columns.append(column.to_numpy().astype(np.float64))
    label_values = None
    if label is not None:
        label_values = np.asarray(table.column(label).to_pylist(), dtype=object)
    return Table(
        matrix=ArrayMatrix(np.column_stack(columns)),
        feature_names=[names[j] for j in chosen],
        labels=label_values,
        label_column=None if label is None else names[label],
    )


# ---------------------------------------------------------------------------------- NumPy


def _check_array(array: Any, path: Path, what: str) -> None:
    if array.dtype.kind not in "biuf":
        raise DataFileError(
            f"{path}: {what} has dtype {array.dtype}; topoae needs a numeric (int or float) array."
        )
    if array.ndim != 2:
        raise DataFileError(
            f"{path}: {what} has shape {array.shape}; topoae needs a 2-D array (rows × features); "
            "reshape it, e.g. x.reshape(len(x), -1)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataFileError(f"{path}: {what} has shape {array.shape}; it is empty.")


def _load_numpy(path: Path, fmt: str) -> Any:
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic[: len(_MAGIC[fmt])] != _MAGIC[fmt]:
        raise DataFileError(
            f"{path}: not a valid .{fmt} file (it does not start like one; np.{_SAVER[fmt]} "
            "writes them)."
        )
    try:
        if fmt == "npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error) or "object" in str(error).lower():
            raise DataFileError(
                f"{path}: holds pickled Python objects (or is not a .{fmt} file); topoae never "
                "unpickles: save a numeric array with np.save / np.savez."
            ) from None
        raise DataFileError(f"{path}: not a valid .{fmt} file ({error}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataFileError(f"{path}: not a valid .{fmt} file ({error}).") from None


_MAGIC = {"npy": b"\x93NUMPY", "npz": b"PK"}
_SAVER = {"npy": "save", "npz": "savez"}


def _read_numpy(path: Path, fmt: str, labels: Any, features: Any) -> Table:
    loaded = _load_numpy(path, fmt)
    label_values, label_column, what = None, None, "the array"
    if fmt == "npz":
        with loaded:
            names = list(loaded.files)
            x_name = next((n for n in ("X", "x", "data") if n in names), None)
            if x_name is None and len(names) == 1:
                x_name = names[0]
            if x_name is None:
                raise DataFileError(
                    f"{path}: found arrays {names}; topoae needs one named 'X', 'x' or 'data' "
                    "(optional labels 'y' or 'labels'), or exactly one array."
                )
            label_name = labels
            if labels is None:
                label_name = next((n for n in ("y", "labels") if n in names), None)
            if label_name is not None and label_name not in names:
                raise DataFileError(f"{path}: no array {label_name!r}; found arrays {names}.")
            try:
                data = loaded[x_name]
                if label_name is not None:
                    label_values, label_column = loaded[label_name], label_name
            except ValueError:
                raise DataFileError(
                    f"{path}: holds pickled Python objects; topoae never unpickles: save numeric "
                    "arrays with np.savez."
                ) from None
            what = f"array {x_name!r}"
    else:
        data = loaded
        if isinstance(labels, str | int):
            raise DataFileError(
                f"{path}: a .npy file has no named columns; pass labels as an array of one "
                "label per row."
            )
    _check_array(data, path, what)
    columns = None
    if features is not None:
        names = [str(i) for i in range(data.shape[1])]
        _, positions = _select(names, path, None, features)
        columns = np.asarray(positions)
    return Table(
        matrix=ArrayMatrix(data, columns),
        feature_names=None,
        labels=label_values,
        label_column=label_column,
        lazy=fmt == "npy",
        details={"dtype": str(data.dtype)},
    )


# ---------------------------------------------------------------------------------- AnnData


def _read_h5ad(path: Path, labels: Any, features: Any, use_rep: Any, layer: Any) -> Table:
    anndata = import_anndata()
    if use_rep is not None and layer is not None:
        raise DataFileError(f"{path}: pass use_rep or layer, not both.")
    try:
        adata = anndata.read_h5ad(path, backed="r")
    except Exception as error:  # h5py and anndata raise many kinds for a damaged file
        raise DataFileError(f"{path}: not a readable .h5ad file ({error}).") from None
    names: list[str] | None = [str(v) for v in adata.var_names]
    lazy = False
    if use_rep not in (None, "X"):
        if use_rep not in adata.obsm:
            raise DataFileError(
                f"{path}: no representation {use_rep!r} in obsm; found {sorted(adata.obsm)} "
                "(or use_rep='X')."
            )
        data = adata.obsm[use_rep]
        names = [str(c) for c in data.columns] if hasattr(data, "columns") else None
        data = np.asarray(data)
    elif layer is not None:
        if layer not in adata.layers:
            raise DataFileError(f"{path}: no layer {layer!r}; found {sorted(adata.layers)}.")
        data = adata.layers[layer]
    else:
        data, lazy = adata.X, True
        if data is None:
            raise DataFileError(f"{path}: X is empty; pass use_rep= or layer=.")
    kind = type(data).__name__
    if kind.endswith("CSCDataset"):
        raise DataFileError(
            f"{path}: the matrix is stored column-major (CSC); rows cannot be read per batch. "
            "Save it as CSR (adata.X = adata.X.tocsr()) or dense."
        )
    if hasattr(data, "tocsr"):
        data = data.tocsr()
    sparse = hasattr(data, "toarray") or kind.endswith("CSRDataset")
    label_values = None
    if labels is not None:
        if labels not in adata.obs.columns:
            raise DataFileError(
                f"{path}: no obs column {labels!r}; found {list(adata.obs.columns)}."
            )
        else:
            column = adata.obs[labels]
            label_values = column.values if hasattr(column, "cat") else column.to_numpy()
    columns = None
    if features is not None:
        _, positions = _select(
            names or [str(i) for i in range(data.shape[1])], path, None, features
        )
        columns = np.asarray(positions)
        names = None if names is None else [names[i] for i in positions]
    if not sparse:
        dtype = np.dtype(data.dtype)
        if dtype.kind not in "biuf":
            raise DataFileError(f"{path}: the matrix has dtype {dtype}, not numbers.")
    matrix = (SparseMatrix if sparse else ArrayMatrix)(data, columns)
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise DataFileError(f"{path}: the matrix has shape {matrix.shape}; it is empty.")
    return Table(
        matrix=matrix,
        feature_names=names,
        labels=label_values,
        label_column=labels if isinstance(labels, str) else None,
        lazy=lazy,
        details={"sparse": bool(sparse), "use_rep": use_rep, "layer": layer},
    )


def import_anndata():
    """``import anndata``, or an error naming the extra."""
    try:
        import anndata
    except ImportError:
        raise MissingDependencyError(
            "Reading and writing .h5ad needs anndata: pip install 'topoae[anndata]'."
        ) from None
    return anndata


# ---------------------------------------------------------------------------------- labels


def encode_labels(
    values: Any, *, n: int, path: Path, column: str | None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Integer labels and, for named classes, their names (``codes[i]`` names ``names[codes[i]]``).

    Integers stay as they are; strings and categoricals become codes ``0 … k-1`` (sorted
    names, or the categorical's own order). Missing labels and fractional numbers are errors.
    """
    where = f"{path}: labels{'' if column is None else f' ({column!r})'}"
    if hasattr(values, "codes") and hasattr(values, "categories"):
        codes = np.asarray(values.codes, dtype=np.int64)
        if len(codes) != n:
            raise DataFileError(f"{where} has {len(codes)} values for {n} rows.")
        if (codes < 0).any():
            raise DataFileError(f"{where}: row {int(np.argmax(codes < 0)) + 1} has no label.")
        return codes, tuple(str(c) for c in values.categories)
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n:
        raise DataFileError(f"{where} has shape {array.shape}; needs one label per row ({n}).")
    if array.dtype.kind in "OUS":
        missing = [i for i, v in enumerate(array) if v is None or (isinstance(v, str) and not v)]
        if missing:
            raise DataFileError(f"{where}: row {missing[0] + 1} has no label.")
        text = array.astype(str)
        if all(map(_is_number, text)):
            array = text.astype(np.float64)
        else:
            names, codes = np.unique(text, return_inverse=True)
            return codes.astype(np.int64), tuple(str(v) for v in names)
    if array.dtype.kind not in "biuf":
        raise DataFileError(f"{where} have dtype {array.dtype}; use integers or strings.")
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            row = int(np.argmax(bad))
            raise DataFileError(
                f"{where}: row {row + 1} holds {array[row].item()!r}; labels must be classes "
                "(integers or names), not measurements."
            )
    return array.astype(np.int64), None
