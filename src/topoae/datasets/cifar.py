"""CIFAR-10 from its python-pickle batches (official 50,000 / 10,000 split, docs/method.md §5-§6).

The distribution ``cifar-10-python.tar.gz`` unpacks to ``cifar-10-batches-py/`` with
``data_batch_1`` … ``data_batch_5`` and ``test_batch``: pickled dictionaries whose
``b"data"`` is a ``(10000, 3072)`` uint8 array (1,024 red, then green, then blue values
per image, rows in order) and ``b"labels"`` a list of 10,000 integers in 0-9.

Pickles can run code when loaded. These batches are read with an unpickler that
only admits the few NumPy names an array needs and refuses everything else, and
downloads are checked against the published MD5 first.
"""

from __future__ import annotations

import logging
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from topoae._io import atomic_write_bytes
from topoae.datasets import Dataset, register
from topoae.datasets._download import (
    data_root,
    download_file,
    md5sum,
    missing_files_error,
)
from topoae.datasets.images import image_dataset
from topoae.errors import InputError

__all__ = ["load_cifar10", "read_cifar_batch"]

logger = logging.getLogger(__name__)

NAME = "cifar10"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCH_FOLDER = "cifar-10-batches-py"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)

#: Published MD5s of the unpacked batches.
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: The only globals a pickled NumPy array needs (old and new module names of NumPy's core),
#: plus ``_codecs.encode``, which protocol-2 pickles written by Python 3 use for bytes.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Refuses every global except those that rebuild NumPy arrays."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "numpy.core.multiarray":  # NumPy 2 moved it; the batches use the old name
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch.

    The file is a pickle read with ``encoding="bytes"`` (it was written by Python 2)
    through an unpickler that admits NumPy arrays only, so a tampered file cannot
    run code; still, read batches from the official source only.

    Parameters
    ----------
    path : path

    Returns
    -------
    images : ndarray of shape (n, 3, 32, 32), uint8
    labels : ndarray of shape (n,), int64

    Raises
    ------
    ValueError
        If the file is not a readable batch (truncated, corrupt, wrong keys or shapes).
    """
    path = Path(path)
    remedy = "Delete it (and cifar-10-python.tar.gz) and download it again."
    try:
        with open(path, "rb") as handle:
            batch = _ArrayUnpickler(handle, encoding="bytes").load()
    except Exception as error:  # unpickling damaged bytes can raise almost any type
        raise InputError(
            f"{path} is not a readable CIFAR-10 batch ({type(error).__name__}: {error}); it is "
            f"truncated, corrupt or something else. {remedy}"
        ) from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise InputError(f"{path} lacks the keys b'data' and b'labels' (has {keys}). {remedy}")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise InputError(
            f"{path}: b'data' must be a 2-D uint8 array, got "
            f"{getattr(data, 'dtype', type(data).__name__)} of shape {np.shape(data)}. {remedy}"
        )
    if data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise InputError(
            f"{path}: expected b'data' of shape (n, 3072) and n labels, got {data.shape} and "
            f"{labels.shape}. {remedy}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"{path}: labels must lie in 0-9, found {labels.min()}-{labels.max()}.")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def extract_batches(archive: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Unpack the six batches of ``cifar-10-python.tar.gz`` into ``folder/cifar-10-batches-py``.

    Only regular members named ``cifar-10-batches-py/<batch>`` are read, and each is
    written under its known name, so no path in the archive can escape ``folder``.
    """
    archive, target = Path(archive), Path(folder) / BATCH_FOLDER
    wanted = {f"{BATCH_FOLDER}/{name}": name for name in BATCH_MD5}
    found = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                # extractfile gives None only for non-regular members, which are skipped already.
                wanted_file = member.name in wanted and member.isfile()
                handle = tar.extractfile(member) if wanted_file else None
                if handle is not None:
                    atomic_write_bytes(target / wanted[member.name], handle.read())
                    found.add(member.name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise InputError(
            f"{archive} cannot be unpacked ({error}): it is corrupt or incomplete. Delete it and "
            "download it again."
        ) from error
    missing = sorted(set(wanted) - found)
    if missing:
        raise InputError(
            f"{archive} lacks {', '.join(missing)}; it is not the CIFAR-10 python archive. "
            "Delete it and download it again."
        )
    return target


def _locate(data_dir, download: bool) -> Path:
    """The folder holding the six batches, unpacking or downloading the archive if needed."""
    root = data_root(data_dir)
    candidates = [root / NAME, root]
    for folder in candidates:
        for batches in (folder / BATCH_FOLDER, folder):
            if all((batches / b).is_file() for b in BATCH_MD5):
                return batches
    for folder in candidates:
        if (folder / ARCHIVE).is_file():
            logger.info("Unpacking %s", folder / ARCHIVE)
            return extract_batches(folder / ARCHIVE, folder)
    target = root / NAME
    expected = [ARCHIVE, f"or {BATCH_FOLDER}/ with {', '.join(BATCH_MD5)}"]
    sources = [MIRRORS[0] + ARCHIVE]
    if not download:
        raise missing_files_error("CIFAR-10", target, expected, sources, "downloading is off")
    try:
        download_file([m + ARCHIVE for m in MIRRORS], target / ARCHIVE, ARCHIVE_MD5)
    except OSError as error:
        raise missing_files_error(
            "CIFAR-10", target, expected, sources, f"the download failed: {error}"
        ) from error
    return extract_batches(target / ARCHIVE, target)


@register(NAME)
def load_cifar10(
    *,
    seed: int = 0,
    validation_fraction: float = 0.15,
    data_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    download: bool = True,
) -> Dataset:
    """CIFAR-10: 50,000 training and 10,000 test colour images in 10 classes, 3×32×32.

    The batches are looked for in ``<root>/cifar10/cifar-10-batches-py/``,
    ``<root>/cifar10/``, ``<root>/cifar-10-batches-py/`` and ``<root>/``; else an
    archive ``cifar-10-python.tar.gz`` in ``<root>/cifar10/`` or ``<root>/`` is
    unpacked beside it; else the archive is downloaded (MD5-checked) into
    ``<root>/cifar10/``. ``<root>`` is ``data_dir``, ``$TOPOAE_DATA_DIR`` or the
    user's cache folder.

    Parameters
    ----------
    seed, validation_fraction, data_dir, train_size, test_size, download
        As in :func:`topoae.datasets.idx.load_mnist`.

    Returns
    -------
    Dataset
        ``x_*`` of shape ``(n, 3, 32, 32)`` float32 in [-1, 1];
        ``data_scale = sqrt(4 · 3072) ≈ 110.85``.

    Raises
    ------
    FileNotFoundError
        If the files are missing and cannot be downloaded.
    ValueError
        If a batch or the archive is corrupt or truncated.
    """
    folder = _locate(data_dir, download)
    parts = [read_cifar_batch(folder / b) for b in TRAIN_BATCHES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    test = read_cifar_batch(folder / TEST_BATCH)
    official = all(md5sum(folder / b) == m for b, m in BATCH_MD5.items())
    del parts
    return image_dataset(
        NAME,
        (x_train, y_train),
        test,
        max_value=255,
        seed=seed,
        validation_fraction=validation_fraction,
        train_size=train_size,
        test_size=test_size,
        info={
            "source": f"CIFAR-10 python batches in {folder}",
            "official_files": official,
            "classes": list(CLASSES),
        },
    )
