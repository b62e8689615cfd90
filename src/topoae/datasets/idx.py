"""MNIST and Fashion-MNIST from their IDX files (official train / test split, docs/method.md §5-§6).

The IDX format: two zero bytes, a type byte (``0x08``: unsigned bytes), a byte with
the number of dimensions, each dimension as a big-endian unsigned 32-bit integer,
then the values in row-major order. Both data sets ship four gzipped IDX files.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import zlib
from pathlib import Path

import numpy as np

from topoae.datasets import Dataset, register
from topoae.datasets._download import data_root, ensure_files, find_folder, md5sum
from topoae.datasets.images import image_dataset
from topoae.errors import InputError

__all__ = ["load_fashion_mnist", "load_mnist", "read_idx"]

logger = logging.getLogger(__name__)

#: The four files, in the order train images, train labels, test images, test labels.
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: Published MD5s of the gzipped files.
MNIST_MD5 = dict(
    zip(
        IDX_FILES,
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        strict=True,
    )
)
FASHION_MNIST_MD5 = dict(
    zip(
        IDX_FILES,
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        strict=True,
    )
)

#: Official mirrors (the original yann.lecun.com site often refuses downloads now).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_UNSIGNED_BYTE = 0x08


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped when the name ends in ``.gz``).

    Parameters
    ----------
    path : path
    ndim : int
        Expected number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    ndarray of uint8 with the shape the header declares

    Raises
    ------
    ValueError
        If the file is not valid gzip, has the wrong magic number, or holds more or
        fewer values than its header declares; the message names the file.
    """
    path = Path(path)
    remedy = "Delete it and download it again."
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise InputError(
            f"{path} cannot be decompressed ({error}): the file is corrupt or incomplete. {remedy}"
        ) from error
    magic = bytes([0, 0, _UNSIGNED_BYTE, ndim])
    if raw[:4] != magic:
        raise InputError(
            f"{path} is not an IDX file of {ndim}-dimensional unsigned bytes: its magic number "
            f"is 0x{raw[:4].hex()}, expected 0x{magic.hex()}. {remedy}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path} is truncated: it ends inside the header. {remedy}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape)
    if len(raw) != expected:
        problem = "is truncated" if len(raw) < expected else "has trailing bytes"
        raise InputError(
            f"{path} {problem}: its header declares shape {shape} ({expected - header} values) "
            f"but it holds {len(raw) - header}. {remedy}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_pair(folder: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / images_name, 3)
    labels = read_idx(folder / labels_name, 1)
    if len(images) != len(labels):
        raise InputError(
            f"{folder / images_name} holds {len(images)} images but {folder / labels_name} "
            f"{len(labels)} labels; one of them is from another download. Delete both and "
            "download them again."
        )
    if labels.size and labels.max() > 9:
        raise InputError(
            f"{folder / labels_name} holds label {labels.max()}, but these data sets have labels "
            "0-9. Delete it and download it again."
        )
    return images[:, None], labels


def _locate(name: str, title: str, md5s: dict[str, str], mirrors, data_dir, download) -> Path:
    root = data_root(data_dir)
    # Unpacked copies (``gunzip``-ed files) are fine too.
    plain = [f.removesuffix(".gz") for f in IDX_FILES]
    folder = find_folder(root, name, IDX_FILES) or find_folder(root, name, plain)
    return folder or ensure_files(name, title, md5s, mirrors, data_dir=data_dir, download=download)


def _load(
    name: str,
    title: str,
    md5s: dict[str, str],
    other: tuple[str, dict[str, str]],
    mirrors: tuple[str, ...],
    *,
    seed: int,
    validation_fraction: float,
    data_dir,
    train_size,
    test_size,
    download: bool,
    classes: tuple[str, ...],
) -> Dataset:
    folder = _locate(name, title, md5s, mirrors, data_dir, download)
    gz = (folder / IDX_FILES[0]).is_file()
    names = IDX_FILES if gz else tuple(f.removesuffix(".gz") for f in IDX_FILES)
    official = False
    if gz:
        # MNIST and Fashion-MNIST share file names: catch one placed where the other belongs.
        digest = md5sum(folder / IDX_FILES[0])
        other_name, other_md5 = other
        if digest == other_md5[IDX_FILES[0]]:
            raise InputError(
                f"{folder / IDX_FILES[0]} is the {other_name} file, not {title}'s. Keep each data "
                f"set in its own folder (e.g. <data-dir>/{name}/)."
            )
        official = all(md5sum(folder / f) == md5s[f] for f in IDX_FILES)
    if not official:
        logger.info("%s files in %s differ from the published ones (checksums)", title, folder)
    train = _read_pair(folder, names[0], names[1])
    test = _read_pair(folder, names[2], names[3])
    return image_dataset(
        name,
        train,
        test,
        max_value=255,
        seed=seed,
        validation_fraction=validation_fraction,
        train_size=train_size,
        test_size=test_size,
        info={
            "source": f"{title} IDX files in {folder}",
            "official_files": official,
            "classes": list(classes),
        },
    )


@register("mnist")
def load_mnist(
    *,
    seed: int = 0,
    validation_fraction: float = 0.15,
    data_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    download: bool = True,
) -> Dataset:
    """MNIST: 60,000 training and 10,000 test images of handwritten digits, 1×28×28.

    Parameters
    ----------
    seed : int
        Seed of the validation split.
    validation_fraction : float
        Held out from the (subsampled) training images.
    data_dir : path, optional
        Folder with the four IDX files (or with a ``mnist/`` folder holding them); see
        :mod:`topoae.datasets._download` for the fallbacks.
    train_size, test_size : int, optional
        Stratified subsample sizes (fixed seed); ``train_size`` includes validation.
    download : bool
        Fetch missing files from the official mirrors, checking their MD5s.

    Returns
    -------
    Dataset
        ``x_*`` of shape ``(n, 1, 28, 28)`` float32 in [-1, 1]; ``data_scale = 56``.

    Raises
    ------
    FileNotFoundError
        If files are missing and cannot be downloaded (the message says where they go).
    ValueError
        If a file is corrupt, truncated or not an IDX file.
    """
    return _load(
        "mnist",
        "MNIST",
        MNIST_MD5,
        ("Fashion-MNIST", FASHION_MNIST_MD5),
        MNIST_MIRRORS,
        seed=seed,
        validation_fraction=validation_fraction,
        data_dir=data_dir,
        train_size=train_size,
        test_size=test_size,
        download=download,
        classes=tuple(str(d) for d in range(10)),
    )


@register("fashion-mnist")
def load_fashion_mnist(
    *,
    seed: int = 0,
    validation_fraction: float = 0.15,
    data_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    download: bool = True,
) -> Dataset:
    """Fashion-MNIST: 60,000 + 10,000 images of clothing, 1×28×28, in MNIST's format.

    Parameters and results as :func:`load_mnist` (folder name ``fashion-mnist/``).
    """
    return _load(
        "fashion-mnist",
        "Fashion-MNIST",
        FASHION_MNIST_MD5,
        ("MNIST", MNIST_MD5),
        FASHION_MNIST_MIRRORS,
        seed=seed,
        validation_fraction=validation_fraction,
        data_dir=data_dir,
        train_size=train_size,
        test_size=test_size,
        download=download,
        classes=FASHION_MNIST_CLASSES,
    )
