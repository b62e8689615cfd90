"""The ``topoae`` command line: one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` (which sets
``func=run`` on its parser) and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from topoae._version import __version__
from topoae.errors import TopoaeError

#: Subcommand modules under ``topoae.cli``, in the order ``--help`` lists them.
COMMANDS = [
    "train",
    "transform",
    "tune",
    "compare",
    "evaluate",
    "bench",
    "animate",
    "diagrams",
    "filtration",
    "report",
]


class CLIError(TopoaeError):
    """A user-facing error of the command line: printed without a traceback, exit status 2."""


#: What the command line reports as one line (exit status 2): topoae's user errors, and the
#: operating system refusing a path the user gave. Anything else is a bug in topoae and keeps
#: its traceback.
USER_ERRORS = (TopoaeError, PermissionError, IsADirectoryError, NotADirectoryError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="topoae",
        description="Topological Autoencoders: train, compare, evaluate, draw.",
    )
    parser.add_argument("--version", action="version", version=f"topoae {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"topoae.cli.{name.replace('-', '_')}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``topoae`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as error:
        print(f"topoae {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"topoae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
