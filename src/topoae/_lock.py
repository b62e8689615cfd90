"""Run folders with one writer at a time, a manifest of what was written, whole-run overwrite.

:class:`RunFolder` is the context manager every command that writes a run or comparison
folder enters first::

    with RunFolder(out, kind="train", overwrite=args.overwrite) as folder:
        save_checked_torch(folder.path / "model.pt", payload)
        folder.record("model.pt")
        ...
        folder.mark_complete()

On entry it creates the folder and takes an exclusive OS lock (``fcntl.flock`` on
``.lock``), refusing a second writer with a message naming the holder (pid, host, command,
start time, written into the lock file). The kernel releases the lock when the holder's
process ends in any way, SIGKILL included, so a stale lock never blocks anyone. Then it
refuses a folder of another kind (``manifest.json`` says ``train`` or ``compare``), finishes
an interrupted overwrite, removes ``.trash-*`` folders and the temporaries killed atomic
writes left, and, with ``overwrite=True``, replaces the whole run.

``manifest.json`` lists every file the run wrote (name, size, SHA-256) and its state
(``writing`` until :meth:`RunFolder.mark_complete`, again after :meth:`RunFolder.begin`);
readers call :func:`verify_manifest` to detect any changed, truncated or missing file, and
entering a finished (``complete``) folder verifies it, so a damaged run is not continued.
Locking is advisory and POSIX-only (``fcntl``); on a system without it, and on network file
systems whose ``flock`` is local, two writers are not stopped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from topoae._io import TEMPORARY_NAME, remove_temporaries, write_json
from topoae.errors import DataFileError, InputError, RunFolderError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no flock on Windows; checked before use

__all__ = ["KINDS", "RunFolder", "holder", "read_manifest", "verify_manifest"]

KINDS = ("train", "compare")
MANIFEST = "manifest.json"
LOCK = ".lock"
TRASH_PREFIX = ".trash-"
STATES = ("writing", "overwriting", "complete")
#: Folders written before manifests existed, recognised by the files they hold.
LEGACY_MARKERS = {"train": ("checkpoint.pt", "model.pt"), "compare": ("results.json",)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _holder_text(fd: int) -> str:
    """The holder's description from an open lock file ('an unknown process' if empty)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return (
            f"pid {info['pid']} on {info['host']} since {info['since']}, command: {info['command']}"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"


def holder(path: str | os.PathLike) -> str | None:
    """Who holds the lock of run folder ``path`` now, or None if nobody does."""
    lock = Path(path) / LOCK
    if fcntl is None or not lock.is_file():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:  # unreadable: whoever made it, we cannot ask
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_text(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of run folder ``path`` (None if it has none), validated."""
    file = Path(path) / MANIFEST
    if not file.exists():
        return None
    advice = "delete the folder or rerun with --overwrite"
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
        files = manifest["files"]
        ok = manifest["kind"] in KINDS and manifest["state"] in STATES
        ok = ok and isinstance(files, dict)
        ok = ok and all(
            isinstance(e, dict) and isinstance(e["bytes"], int) and isinstance(e["sha256"], str)
            for e in files.values()
        )
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise DataFileError(f"{file}: damaged or not a topoae manifest; {advice}.")
    return manifest


def verify_manifest(path: str | os.PathLike, names: Iterable[str] | None = None) -> None:
    """Check that the files of ``path``'s manifest are there, unchanged.

    Parameters
    ----------
    path : str or path-like
        A run folder.
    names : iterable of str, optional
        Only these files (default: all listed).

    Raises
    ------
    DataFileError
        A listed file is missing or differs in size or SHA-256 from what the run wrote,
        or a name asked for is not listed.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest is None:
        return
    files = manifest["files"]
    for name in files if names is None else names:
        file = path / name
        if name not in files:
            raise DataFileError(f"{file} is not in {path / MANIFEST}: the run did not write it.")
        entry = files[name]
        advice = "rerun with --overwrite (or restore the file)"
        if not file.is_file():
            raise DataFileError(f"{file}: missing, though the run wrote it; {advice}.")
        size = file.stat().st_size
        if size != entry["bytes"] or _sha256(file) != entry["sha256"]:
            raise DataFileError(
                f"{file}: changed since the run wrote it ({size} bytes, written "
                f"{entry['bytes']}; SHA-256 differs); {advice}."
            )


class RunFolder:
    """A run or comparison folder held by this process (see the module docstring).

    Parameters
    ----------
    path : str or path-like
    kind : {"train", "compare"}
    overwrite : bool, default=False
        Replace whatever run the folder holds (at entry).
    command : str, optional
        Recorded as the holder's command (default: this process's command line).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        kind: str,
        *,
        overwrite: bool = False,
        command: str | None = None,
    ):
        if kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, not {kind!r}")
        self.path = Path(path)
        self.kind = kind
        self._overwrite = overwrite
        self._command = command if command is not None else " ".join(sys.argv)
        self._fd: int | None = None
        self.manifest: dict[str, Any] = {}

    # ------------------------------------------------------------------ entering

    def __enter__(self) -> RunFolder:
        self._create()
        try:
            self._lock()
            self._prepare()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._unlock()

    def _create(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} is a file, not a folder; choose another --out.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise RunFolderError(
                f"Cannot write into {self.path} ({error.strerror or error}); choose a "
                "writable --out folder."
            ) from None

    def _lock(self) -> None:
        fd = self._fd
        assert fd is not None, "_create opens the lock file first"
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = _holder_text(fd)
                os.close(fd)
                self._fd = None
                raise RunFolderError(
                    f"{self.path} is being written by another topoae process ({who}); wait "
                    "for it to finish, stop it, or choose another --out."
                ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self._command}
        info["since"] = _now()
        data = json.dumps(info).encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)

    def _unlock(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # the holder text is only true while held
        finally:
            os.close(self._fd)  # releases the flock
            self._fd = None

    def _prepare(self) -> None:
        damaged = False
        try:
            manifest = read_manifest(self.path)
        except DataFileError:
            if not self._overwrite:
                raise
            manifest, damaged = None, True  # topoae's folder all the same: replace it all
        found = manifest["kind"] if manifest is not None else self._legacy_kind()
        if found is not None and found != self.kind:
            raise RunFolderError(
                f"{self.path} holds a {found} run; `topoae {self.kind}` does not write into "
                "it. Choose another --out (or delete that folder yourself)."
            )
        if manifest is not None and manifest["state"] == "overwriting":
            self._overwrite = True  # an overwrite was interrupted: finish it
        if self._overwrite and found is None and not damaged and self._foreign_entries():
            raise RunFolderError(
                f"{self.path} holds files topoae did not write ({self._foreign_entries()[0]}, "
                "...); --overwrite deletes only topoae runs. Choose another --out."
            )
        if self._overwrite:
            self.overwrite()
        else:
            if manifest is not None and manifest["state"] == "complete":
                verify_manifest(self.path)  # a damaged finished run is not continued
            self._clean(self.path)
            self.manifest = manifest or self._new_manifest()
            if manifest is None:
                self._write_manifest()

    def _legacy_kind(self) -> str | None:
        for kind, markers in LEGACY_MARKERS.items():
            if any((self.path / name).exists() for name in markers):
                return kind
        return None

    def _foreign_entries(self) -> list[str]:
        return sorted(
            e.name
            for e in self.path.iterdir()
            if e.name not in (LOCK, MANIFEST)
            and not e.name.startswith(TRASH_PREFIX)
            and not TEMPORARY_NAME.match(e.name)
        )

    def _clean(self, folder: Path) -> None:
        """Remove trash and dead temporaries here and in subfolders no other process holds."""
        for entry in list(folder.iterdir()):
            if entry.name.startswith(TRASH_PREFIX) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
        remove_temporaries(folder)
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink() and holder(entry) is None:
                self._clean(entry)

    # ------------------------------------------------------------------ writing

    def _new_manifest(self) -> dict[str, Any]:
        return {"kind": self.kind, "state": "writing", "created": _now(), "files": {}}

    def _write_manifest(self) -> None:
        write_json(self.path / MANIFEST, self.manifest)

    def overwrite(self) -> None:
        """Replace the run in this folder: every old file goes, before any new one comes.

        The manifest first says ``overwriting``; then every entry but the lock moves into a
        ``.trash-<time>`` folder, which is deleted, and a fresh manifest follows. A crash in
        between leaves a manifest saying ``overwriting``, and the next writer finishes the
        job before writing anything, so old and new files never mix.
        """
        self._check_held()
        self.manifest = {**self._new_manifest(), "state": "overwriting"}
        self._write_manifest()
        trash = self.path / f"{TRASH_PREFIX}{_now().replace(':', '')}"
        trash.mkdir()
        for entry in list(self.path.iterdir()):
            if entry.name not in (LOCK, MANIFEST, trash.name):
                os.replace(entry, trash / entry.name)
        shutil.rmtree(trash, ignore_errors=True)
        self._clean(self.path)
        self.manifest = self._new_manifest()
        self._write_manifest()

    def begin(self) -> None:
        """Say that the run is being written again (a finished run's files are about to change).

        Call it after any check that may refuse the command and before the first write, so
        that a refused command leaves a finished run's manifest, which readers verify, as
        it was.
        """
        self._check_held()
        if self.manifest.get("state") != "writing":
            self.manifest["state"] = "writing"
            self._write_manifest()

    def record(self, *names: str) -> None:
        """Add files (paths relative to the folder) the run has written to the manifest."""
        self._check_held()
        for name in names:
            file = self.path / name
            entry = {"bytes": file.stat().st_size, "sha256": _sha256(file)}
            self.manifest["files"][Path(name).as_posix()] = entry
        self._write_manifest()

    def forget(self, *names: str) -> None:
        """Drop files from the manifest (before deleting them)."""
        self._check_held()
        for name in names:
            self.manifest["files"].pop(Path(name).as_posix(), None)
        self._write_manifest()

    def mark_complete(self) -> None:
        """Record that the run finished (readers may check ``state == "complete"``)."""
        self._check_held()
        self.manifest["state"] = "complete"
        self._write_manifest()

    def _check_held(self) -> None:
        if self._fd is None:
            raise RuntimeError("RunFolder is not entered (use it as a context manager)")
