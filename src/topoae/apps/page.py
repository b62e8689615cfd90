"""One self-contained HTML page: sections, escaped tables, embedded images, inline styles.

The pieces :mod:`topoae.apps.report` builds its pages from. Nothing is fetched: images are
``data:`` URIs, styles are inline, there is no script. Wide tables scroll sideways inside
their section instead of overflowing the page.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Section",
    "esc",
    "figure_html",
    "flatten",
    "image",
    "measures_table",
    "note",
    "render_page",
    "table",
]


@dataclass
class Section:
    """One part of the page: a heading and its HTML body (already escaped)."""

    title: str
    body: str


def esc(value: Any) -> str:
    """``value`` as HTML text, quotes included."""
    return html.escape(str(value), quote=True)


def _format(value: Any) -> str:
    """A setting as text: floats with up to 6 significant digits (the paper's settings
    are exact at that), lists joined, objects as JSON."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], css_class: str = "settings"
) -> str:
    """An HTML table, inside a box that scrolls sideways when it is wider than the page."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_format(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    inner = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
    return f'<div class="wide"><table class="{css_class}">{inner}</table></div>'


def measures_table(
    headers: list[str], rows: list[list[str]], *, seeds: bool = True, note: str | None = None
) -> str:
    """The measures as the command line prints them: one column per measure, 3 digits.

    ``seeds``: the cells are means ± sample standard deviations over seeds (a comparison),
    else one run's values. ``note``: a line under the table (what a marked cell means).
    """
    what = "mean ± sample standard deviation over the seeds" if seeds else "one run"
    text = (
        f"<p>Test split; {what}, 3 significant digits; <em>(paper)</em> rows: the "
        "paper's Table 1 (means of 5 runs).</p>"
    )
    after = f"<p>{esc(note)}</p>" if note else ""
    return text + table(headers, rows, "measures") + after


def flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as ``("outer.inner", value)`` rows."""
    rows = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def image(data: bytes, mime: str, alt: str) -> str:
    """An ``<img>`` whose source is the bytes themselves (a base64 ``data:`` URI)."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:{mime};base64,{encoded}" alt="{esc(alt)}">'


def figure_html(fig: Any, alt: str, dpi: float) -> str:
    """A matplotlib figure as an embedded PNG."""
    from topoae.plotting.style import render_figure

    return image(render_figure(fig, "png", dpi=dpi), "image/png", alt)


def note(text: str) -> str:
    """A remark in the page's note style (what was left out and why)."""
    return f'<p class="note">{esc(text)}</p>'


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #666; font-size: 0.9em; }
.note { color: #8a6d3b; font-size: 0.9em; }
.wide { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; }
td { font-variant-numeric: tabular-nums; }
table.settings td:last-child { overflow-wrap: anywhere; }
table.measures { font-size: 0.8em; }
table.measures th, table.measures td { padding: 0.2em 0.35em; white-space: nowrap; }
table.measures td:not(:first-child), table.measures th:not(:first-child) { text-align: right; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
nav a { margin-right: 1em; }
"""


def render_page(title: str, sections: Sequence[Section], meta: str = "") -> str:
    """The whole HTML document: title, a table of contents, and the sections."""
    anchors = [f"s{i}" for i in range(len(sections))]
    nav = " ".join(
        f'<a href="#{a}">{esc(s.title)}</a>' for a, s in zip(anchors, sections, strict=True)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{esc(meta)}</p>' if meta else "",
        f"<nav>{nav}</nav>",
    ]
    for anchor, section in zip(anchors, sections, strict=True):
        parts.append(f'<section id="{anchor}"><h2>{esc(section.title)}</h2>')
        parts.append(section.body)
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(p for p in parts if p)
