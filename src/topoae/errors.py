"""The exceptions topoae raises for problems a user can fix (a leaf: imports nothing of topoae).

The command line prints these as one line and exits with status 2; any other exception is a
bug in topoae and keeps its traceback. Each subclasses the built-in exception a caller would
expect (``ValueError``, ``ImportError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "DataFileError",
    "InputError",
    "MissingDependencyError",
    "MissingFileError",
    "RunFolderError",
    "TopoaeError",
]


class TopoaeError(Exception):
    """Base class: a problem with the user's input, files or environment, not a bug."""


class InputError(TopoaeError, ValueError):
    """Invalid data, parameters or options; the message says what to change."""


class DataFileError(InputError):
    """A file topoae reads is missing, damaged, of the wrong kind or shape; names the file."""


class RunFolderError(InputError):
    """A run or comparison folder cannot be used as asked (busy, foreign, unfinished)."""


class MissingDependencyError(TopoaeError, ImportError):
    """An optional package is not installed; the message names the extra to install."""


class MissingFileError(TopoaeError, FileNotFoundError):
    """A file the user named or a data set needs is not there; says where it belongs."""
