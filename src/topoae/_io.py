"""Atomic file writes: a crash mid-write never leaves a half-written result behind."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

#: Names of the temporaries :func:`atomic_write_bytes` writes (``mkstemp``'s 8 random
#: characters between ``.NAME.`` and ``.tmp``); a killed write leaves one behind.
TEMPORARY_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    ``os.replace`` is atomic on POSIX and Windows when source and target share a
    file system, so readers see either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """Plain JSON data of ``value``: the one sanitiser of topoae's JSON files.

    NumPy scalars become Python numbers, arrays and tuples lists, paths and
    ``torch.device`` values strings, and dictionary keys strings; floats stay as they are
    (``json`` writes NaN as ``NaN``). Anything else must already be JSON data.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, os.PathLike) or _is_device(value):
        return str(value)
    return value


def _is_device(value: Any) -> bool:
    # torch.device without importing torch (this module stays light).
    return type(value).__name__ == "device" and type(value).__module__.startswith("torch")


def _json_default(obj: Any) -> Any:
    converted = to_jsonable(obj)
    if converted is obj:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")
    return converted


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (see :func:`to_jsonable` for what may be in it)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def save_torch(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save`` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` atomically."""
    buffer = io.BytesIO()
    # As plain keywords: numpy's stub would check every array against its allow_pickle flag.
    named: dict[str, Any] = dict(arrays)
    np.savez_compressed(buffer, **named)
    return atomic_write_bytes(path, buffer.getvalue())


def remove_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries that killed :func:`atomic_write_bytes` calls left in ``folder``.

    Only the folder itself is searched, not its subfolders. Call it only while no other
    process writes into ``folder`` (under its :class:`topoae._lock.RunFolder` lock): a live
    writer's temporary looks the same as a dead one's.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    for entry in Path(folder).iterdir():
        if TEMPORARY_NAME.match(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
