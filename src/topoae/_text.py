"""Plain-text tables (a leaf: imports nothing of topoae).

Markdown pastes into issues, READMEs and terminals alike; the command line and the
applications (``topoae compare``'s ``table.md``) print with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["format_table"]


def format_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with padded columns.

    Parameters
    ----------
    headers : sequence
        Column titles.
    rows : sequence of sequence
        Cells, one row per entry, as many as ``headers``; each printed with ``str``.

    Returns
    -------
    str
        Header line, separator line, one line per row (no trailing newline).
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
