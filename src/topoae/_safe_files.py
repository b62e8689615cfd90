"""Readers for every file format topoae reads back: checksummed, code-free, validated.

Each reader raises :class:`~topoae.errors.DataFileError` with one line that names the file,
says what is wrong with it and what to do; no other exception escapes for a damaged,
truncated, re-typed or malicious file, and no code in a file is ever run.

Checked torch files (``model.pt``, ``checkpoint.pt``)
    :func:`save_checked_torch` writes a two-line text header and the bytes of ``torch.save``::

        topoae-checked-torch 1\\n
        sha256 <64 hex digits of the payload> <payload length>\\n
        <payload: torch.save output>

    The checksum sits in the same file as the data, so the two can never disagree after a
    crash (a sidecar ``.sha256`` file could), and the file is written atomically.
    :func:`load_checked_torch` verifies length and checksum before unpickling, then
    unpickles with ``torch.load(weights_only=True)`` (only tensors and plain containers) and
    validates the structure against a :mod:`topoae._schema` schema. A checksum stops
    accidents, not attackers (who can recompute it); ``weights_only`` stops the attackers.
    Files without the header (plain ``torch.save``, topoae before this format) are still
    read, with ``weights_only=True`` and without a checksum; the message says so on failure.
JSON
    :func:`read_json`: UTF-8, the expected top-level type, required keys or a schema.
NumPy ``.npz``
    :func:`read_npz`: ``allow_pickle=False``, each array's declared size checked against the
    archive before any allocation, dtype kind, shape (with named dimensions shared between
    arrays) and finiteness.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import math
import os
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

try:  # NumPy 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]  # same function, old home

from topoae._io import atomic_write_bytes
from topoae._schema import problem
from topoae.errors import DataFileError, InputError

__all__ = ["load_checked_torch", "read_json", "read_npz", "save_checked_torch"]

#: The dtype classes of numeric arrays (``numpy.dtypes.Float64DType``, ...).
_NUMBER_DTYPES = [type(np.dtype(code)) for code in "?bhilqBHILQefd"]
MAGIC = b"topoae-checked-torch "
FORMAT_VERSION = 1
_HEADER_MAX = 200
#: What to do about a damaged file, unless the caller says something more specific.
DEFAULT_ADVICE = "delete it, or rerun with --overwrite to write it again"


def _fail(path: Path, what: str, advice: str) -> DataFileError:
    return DataFileError(f"{path}: {what}; {advice}.")


# ---------------------------------------------------------------------- checked torch files


def _plain(obj: Any, where: str = "payload") -> Any:
    """``obj`` with NumPy scalars made Python numbers; refuses what ``weights_only`` cannot read.

    Types are matched exactly: a subclass (``np.float64`` is a ``float``, an ``IntEnum`` an
    ``int``, a named tuple a ``tuple``) would be pickled by reference to its class, which
    ``torch.load(weights_only=True)`` refuses to import.
    """
    import torch

    kind = type(obj)
    if obj is None or kind in (bool, int, float, str, torch.Tensor, torch.nn.Parameter):
        return obj
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if kind in (list, tuple):
        return kind(_plain(item, f"{where}[{i}]") for i, item in enumerate(obj))
    if kind in (dict, OrderedDict):
        out = kind()
        for key, item in obj.items():
            if type(key) not in (str, int):
                raise TypeError(f"{where} has a key of type {type(key).__name__}")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    hint = " (convert it with torch.from_numpy)" if isinstance(obj, np.ndarray) else ""
    raise TypeError(f"{where} is a {kind.__name__}, not a plain tensor or container{hint}")


def save_checked_torch(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` with ``torch.save`` behind a SHA-256 header, atomically.

    Parameters
    ----------
    path : str or path-like
    payload : tensors, dicts (str or int keys), lists, tuples, numbers, strings, None
        Nothing else (no NumPy arrays, no objects, no subclasses), so that it loads with
        ``weights_only=True``; NumPy scalars are stored as Python numbers.

    Returns
    -------
    Path

    Raises
    ------
    TypeError
        If ``payload`` holds anything but the types above (a bug in the caller).
    """
    import torch

    buffer = io.BytesIO()
    torch.save(_plain(payload), buffer)
    data = buffer.getvalue()
    header = f"{FORMAT_VERSION}\nsha256 {hashlib.sha256(data).hexdigest()} {len(data)}\n"
    return atomic_write_bytes(path, MAGIC + header.encode("ascii") + data)


def _split_checked(path: Path, raw: bytes, advice: str) -> bytes:
    """The verified payload of a checked file."""
    damaged = _fail(path, "damaged header (not a readable checked torch file)", advice)
    end_1 = raw.find(b"\n", 0, _HEADER_MAX)
    end_2 = raw.find(b"\n", end_1 + 1, _HEADER_MAX) if end_1 > 0 else -1
    if end_2 < 0:
        raise damaged
    try:
        version = int(raw[len(MAGIC) : end_1].decode("ascii"))
        tag, digest, length_text = raw[end_1 + 1 : end_2].decode("ascii").split(" ")
        length = int(length_text)
    except ValueError:
        raise damaged from None
    if version > FORMAT_VERSION:
        raise DataFileError(
            f"{path} says it is in checked format {version}, newer than this topoae reads "
            f"({FORMAT_VERSION}); upgrade topoae, or if no newer topoae wrote it, it is damaged: "
            f"{advice}."
        )
    if tag != "sha256" or version < 1:
        raise damaged
    payload = raw[end_2 + 1 :]
    if len(payload) != length:
        raise _fail(
            path,
            f"truncated or damaged ({len(payload)} bytes of data, the header says {length})",
            advice,
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise _fail(path, "damaged (its SHA-256 checksum does not match its contents)", advice)
    return payload


def _torch_load(data: bytes, map_location: Any, *, numpy_ok: bool) -> Any:
    import torch

    if not numpy_ok:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    # Old-format checkpoints hold NumPy arrays (snapshots); these globals rebuild an array
    # of numbers from its bytes and dtype and can call nothing else.
    allowed: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
        np.ndarray,
        np.dtype,
        _reconstruct,
        *_NUMBER_DTYPES,
    ]
    with torch.serialization.safe_globals(allowed):
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)


def load_checked_torch(
    path: str | os.PathLike,
    *,
    kind: str,
    schema: Any = None,
    map_location: Any = "cpu",
    advice: str = DEFAULT_ADVICE,
    allow_unchecked: bool = True,
) -> Any:
    """Read a file written by :func:`save_checked_torch` (or an old plain ``torch.save``).

    Parameters
    ----------
    path : str or path-like
    kind : str
        What the file is, for messages ("training checkpoint", "run model").
    schema : schema, optional
        A :mod:`topoae._schema` schema the loaded object must match.
    map_location : optional
        Passed to ``torch.load``.
    advice : str
        What the user should do about a bad file (ends the message).
    allow_unchecked : bool, default=True
        Also read files without the checksum header (written before this format); they load
        with ``weights_only=True`` too, and may hold NumPy arrays.

    Returns
    -------
    object
        The payload.

    Raises
    ------
    DataFileError
        The file is missing, unreadable, damaged, of another format, refused by
        ``weights_only`` (it holds code or foreign objects) or does not match ``schema``.
    """
    path = Path(path)
    raw = _read_bytes(path, kind, advice)
    checked = raw.startswith(MAGIC)
    if checked:
        data = _split_checked(path, raw, advice)
    elif allow_unchecked and raw.startswith(b"PK\x03\x04"):
        data = raw
    else:
        raise _fail(path, f"not a topoae {kind} file (no topoae header)", advice)
    try:
        obj = _torch_load(data, map_location, numpy_ok=not checked)
    except Exception as error:  # torch raises many types for damaged or refused files
        old = " (an old-format file without checksum)" if not checked else ""
        reason = _load_error(error)
        raise _fail(path, f"cannot be read as a {kind}{old}: {reason}", advice) from None
    if schema is not None and (found := problem(obj, schema)) is not None:
        raise _fail(path, f"not a valid {kind} ({found})", advice)
    return obj


def _load_error(error: Exception) -> str:
    """torch's reason in one line, without its advice to turn ``weights_only`` off."""
    text = str(error).strip()
    if not (isinstance(error, pickle.UnpicklingError) and text.startswith("Weights only")):
        return f"{type(error).__name__}: {text.splitlines()[0][:160] if text else ''}"
    skip = ("Weights only", "(1)", "(2)", "Check the documentation", "Please file an issue")
    lines = [line.replace("WeightsUnpickler error:", "").strip() for line in text.splitlines()]
    reason = next((ln for ln in lines if ln and not ln.startswith(skip)), "unsupported content")
    return (
        "it holds more than tensors and plain data, refused unread as it could run code "
        f"({reason[:160]})"
    )


def _read_bytes(path: Path, kind: str, advice: str) -> bytes:
    if not path.exists():
        raise DataFileError(f"{path}: no such {kind} file.")
    if not path.is_file():
        raise DataFileError(f"{path} is a folder or a special file, not a {kind} file.")
    try:
        return path.read_bytes()
    except OSError as error:
        raise _fail(path, f"cannot be read ({error.strerror or error})", advice) from None


# ---------------------------------------------------------------------- JSON


def read_json(
    path: str | os.PathLike,
    *,
    kind: str = "JSON",
    expect: type = dict,
    required_keys: Iterable[str] = (),
    schema: Any = None,
    advice: str = DEFAULT_ADVICE,
) -> Any:
    """Read a JSON file and check its shape.

    Parameters
    ----------
    path : str or path-like
    kind : str
        What the file is, for messages ("run config", "comparison results").
    expect : {dict, list}
        The top-level type.
    required_keys : iterable of str
        Keys a top-level dict must have.
    schema : schema, optional
        A :mod:`topoae._schema` schema the document must match.
    advice : str

    Returns
    -------
    dict or list

    Raises
    ------
    DataFileError
    """
    path = Path(path)
    raw = _read_bytes(path, kind, advice)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _fail(path, f"not UTF-8 text (byte {error.start})", advice) from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise _fail(path, f"broken JSON ({error.msg} at {where})", advice) from None
    except RecursionError:
        raise _fail(path, "JSON nested too deeply", advice) from None
    if not isinstance(obj, expect):
        what = f"a JSON {type(obj).__name__}, expected a {expect.__name__}"
        raise _fail(path, f"not a valid {kind} file ({what})", advice)
    missing = [k for k in required_keys if k not in obj] if isinstance(obj, dict) else []
    if missing:
        raise _fail(path, f"not a valid {kind} file (missing {', '.join(missing)})", advice)
    if schema is not None and (found := problem(obj, schema)) is not None:
        raise _fail(path, f"not a valid {kind} file ({found})", advice)
    return obj


# ---------------------------------------------------------------------- NumPy archives

#: What zipfile and NumPy raise for damaged archives (a flipped compression method gives
#: NotImplementedError, a flipped encryption flag RuntimeError, LZMA data LZMAError).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
)
#: Dtype kinds by name: "f" float, "i" signed or unsigned integer, "b" bool, "u" unsigned.
_KINDS = {"f": "f", "i": "iu", "u": "u", "b": "b"}


def _member_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype a member declares, refused when it declares more than it holds."""
    info = archive.getinfo(name)
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise InputError(f"array {name!r} uses .npy format {version}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise InputError("holds Python objects (pickled data is never loaded)")
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise InputError(f"declares {shape} {dtype} but holds only {info.file_size} bytes")
    return shape, dtype


def read_npz(
    path: str | os.PathLike,
    *,
    arrays: Mapping[str, tuple[str, int | tuple[int | str | None, ...]]],
    allow_missing: Iterable[str] = (),
    finite: bool = True,
    kind: str = "array archive",
    advice: str = DEFAULT_ADVICE,
) -> dict[str, np.ndarray]:
    """Read named arrays of a ``.npz`` archive, validated.

    Parameters
    ----------
    path : str or path-like
    arrays : dict of str to (kind, ndim or shape)
        For each array, its dtype kind (``"f"`` float, ``"i"`` any integer, ``"u"``
        unsigned, ``"b"`` bool, several letters for either) and its number of dimensions,
        or its shape as a tuple of ints, dimension names and ``None`` (any size); a name must
        have the same size in every array that uses it (``{"latent": ("f", ("S", "s", 2)),
        "step": ("i", ("S",))}``).
    allow_missing : iterable of str
        Arrays that may be absent (then absent from the result).
    finite : bool, default=True
        Refuse NaN and inf in float arrays.
    kind, advice : str
        For the message.

    Returns
    -------
    dict of str to ndarray
        The arrays named in ``arrays`` that are present.

    Raises
    ------
    DataFileError
    """
    path = Path(path)
    _read_bytes(path, kind, advice)  # missing file or folder: a clear message first
    optional = set(allow_missing)
    out: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            for name, (kinds, dims) in arrays.items():
                if name not in members:
                    if name in optional:
                        continue
                    raise InputError(f"no array {name!r}")
                _member_header(archive, members[name])
                with archive.open(members[name]) as handle:
                    array = np.lib.format.read_array(handle, allow_pickle=False)
                    handle.read()  # to the end, where zipfile verifies the CRC-32
                _check_array(name, array, kinds, dims, sizes, finite)
                out[name] = array
    except _ZIP_ERRORS as error:
        raise _fail(path, f"damaged or not a valid {kind} ({error})", advice) from None
    except MemoryError:
        raise _fail(path, f"damaged {kind} (declares an array too large to load)", advice) from None
    return out


def _check_array(name, array, kinds, dims, sizes, finite) -> None:
    allowed = "".join(_KINDS.get(k, k) for k in kinds)
    if array.dtype.kind not in allowed:
        raise InputError(f"array {name!r} has dtype {array.dtype}, expected kind {kinds!r}")
    shape = (None,) * dims if isinstance(dims, int) else dims
    if array.ndim != len(shape):
        raise InputError(f"array {name!r} has {array.ndim} dimensions, expected {len(shape)}")
    for axis, (got, want) in enumerate(zip(array.shape, shape, strict=True)):
        if isinstance(want, str):
            want = sizes.setdefault(want, got)
        if want is not None and got != want:
            raise InputError(f"array {name!r} has shape {array.shape}; axis {axis} must be {want}")
    if finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputError(f"array {name!r} holds NaN or infinite values")
