"""Rewrite the help listings of docs/cli.md from the live parser (``python scripts/cli_help.py``).

Each ``## `topoae NAME` `` section of docs/cli.md shows that subcommand's ``--help`` in its first
``text`` block, and the page's first block is the top-level help; this script replaces those
blocks, adding a section for any subcommand the page lacks. ``tests/docs/test_cli_page.py``
checks that the page equals what this script writes, so the page cannot fall behind the flags.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
#: Help is wrapped at this width here and in the test, whatever the terminal.
WIDTH = "100"


def help_text(*argv: str) -> str:
    """What ``topoae ARGV --help`` prints (at :data:`WIDTH` columns)."""
    os.environ["COLUMNS"] = WIDTH
    from topoae.cli import build_parser

    parser = build_parser()
    if not argv:
        return parser.format_help().rstrip()
    action = next(a for a in parser._subparsers._actions if a.choices)  # type: ignore[union-attr]
    return action.choices[argv[0]].format_help().rstrip()


def render(page: str) -> str:
    """``page`` with every listing replaced by the current help."""
    from topoae.cli import COMMANDS

    block = re.compile(r"```text\n.*?```", re.S)
    page = block.sub(lambda _: f"```text\n{help_text()}\n```", page, count=1)
    for name in COMMANDS:
        header = f"## `topoae {name}`"
        if header not in page:
            before = page.index("## Data files") if "## Data files" in page else len(page)
            section = f"{header}\n\n`topoae {name} --help`:\n\n```text\n```\n\n"
            page = page[:before] + section + page[before:]
        start = page.index(header)
        match = block.search(page, start)
        assert match is not None
        listing = f"```text\n{help_text(name)}\n```"
        page = page[: match.start()] + listing + page[match.end() :]
    return page


if __name__ == "__main__":
    PAGE.write_text(render(PAGE.read_text()))
    sys.exit(0)
