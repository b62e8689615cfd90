"""Where data files live, and fetching them from their official sources with checksums.

The folder of a data set is found in this order: the ``data_dir`` argument (the
command line's ``--data-dir``), the environment variable ``TOPOAE_DATA_DIR``, a
per-user cache folder (``$XDG_CACHE_HOME/topoae`` or ``~/.cache/topoae``). Files
are looked for in ``<root>/<name>`` and then in ``<root>`` itself, so a folder that
holds the files directly works as ``--data-dir`` too.

Downloads stream into a temporary file beside the target, are checked against the
published MD5 and only then renamed into place: an interrupted or corrupted
download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from topoae.errors import InputError, MissingFileError

__all__ = [
    "DataFilesMissingError",
    "data_root",
    "download_file",
    "ensure_files",
    "find_folder",
    "md5sum",
    "missing_files_error",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the root folder of downloaded data sets.
ENV_VAR = "TOPOAE_DATA_DIR"

#: Seconds to wait for a server before trying the next mirror.
TIMEOUT = 30

_CHUNK = 1 << 20


class DataFilesMissingError(MissingFileError):
    """Data files are absent and could not be downloaded; the message says where to put them."""


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The root folder: ``data_dir``, else ``$TOPOAE_DATA_DIR``, else the user's cache folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "topoae"


def find_folder(root: Path, name: str, present: Sequence[str]) -> Path | None:
    """The first of ``root / name`` and ``root`` that holds every file in ``present``."""
    for folder in (root / name, root):
        if all((folder / f).is_file() for f in present):
            return folder
    return None


def md5sum(path: str | os.PathLike) -> str:
    """Hex MD5 digest of a file (read in 1 MiB chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    urls: Sequence[str], path: str | os.PathLike, md5: str, *, progress: bool = True
) -> Path:
    """Download the first mirror that answers to ``path``, verifying its MD5.

    Parameters
    ----------
    urls : sequence of str
        Mirrors, tried in order.
    path : path
        Target file; written atomically (temporary file, checksum, rename).
    md5 : str
        The published MD5 of the file.
    progress : bool
        Show a tqdm progress bar on stderr (only on a terminal).

    Returns
    -------
    Path

    Raises
    ------
    OSError
        If no mirror answered (the message lists each mirror's error).
    ValueError
        If a download completed but its checksum differed from the published one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    errors, damaged = [], False
    for url in urls:
        try:
            return _fetch(url, path, md5, progress=progress)
        except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
            logger.warning("Download of %s failed: %s", url, error)
            errors.append(f"{url}: {error}")
            damaged = damaged or isinstance(error, ValueError)
    message = f"Could not download {path.name}: " + "; ".join(errors)
    raise InputError(message) if damaged else OSError(message)


def _fetch(url: str, path: Path, md5: str, *, progress: bool) -> Path:
    from tqdm import tqdm

    logger.info("Downloading %s to %s", url, path)
    digest = hashlib.md5(usedforsecurity=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, os.fdopen(fd, "wb") as out:
            total = response.headers.get("Content-Length") if response.headers else None
            # disable=None: a bar on terminals only, nothing in logs or captured output.
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=path.name,
                disable=None if progress else True,
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != md5:
            raise InputError(
                f"The download of {url} has MD5 {digest.hexdigest()}, not the published {md5}; "
                "the server sent a damaged or different file. Try again later, or download it "
                f"by hand and place it at {path}."
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def missing_files_error(
    title: str, folder: Path, files: Sequence[str], sources: Sequence[str], reason: str
) -> DataFilesMissingError:
    """The error for absent files: which files, where they go, where to get them."""
    return DataFilesMissingError(
        f"{title} files not found in {folder}: {', '.join(files)} ({reason}). Download them from "
        f"{' or '.join(sources)} and place them in {folder}, or pass --data-dir (data_dir=) "
        f"pointing to a folder that holds them, or set {ENV_VAR}."
    )


def ensure_files(
    name: str,
    title: str,
    files: dict[str, str],
    mirrors: Sequence[str],
    *,
    data_dir: str | os.PathLike | None,
    download: bool,
) -> Path:
    """Folder holding every file of ``files`` (name → MD5), downloading the missing ones.

    Parameters
    ----------
    name : str
        Sub-folder of the data root for this data set (e.g. ``"mnist"``).
    title : str
        Human name for messages (e.g. ``"MNIST"``).
    files : dict of str to str
        File names and their published MD5s.
    mirrors : sequence of str
        Base URLs; a file's URL is ``mirror + file name``.
    data_dir : path or None
        See :func:`data_root`.
    download : bool
        Fetch missing files; ``False`` raises instead.

    Raises
    ------
    DataFilesMissingError
        If files are missing and downloading is off or fails.
    ValueError
        If a download arrived damaged (checksum mismatch).
    """
    root = data_root(data_dir)
    folder = find_folder(root, name, list(files))
    if folder is not None:
        return folder
    target = root / name
    missing = [f for f in files if not (target / f).is_file()]
    if not download:
        raise missing_files_error(title, target, missing, mirrors, "downloading is off")
    for file in missing:
        try:
            download_file([m + file for m in mirrors], target / file, files[file])
        except OSError as error:
            raise missing_files_error(
                title, target, missing, mirrors, f"the download failed: {error}"
            ) from error
    return target
