"""The comparison's tables: mean ± std over seeds beside the paper's Table 1.

One formatter for every place the table is shown: ``topoae compare`` prints
:func:`table_markdown`, writes :func:`table_csv`, and the HTML report draws the rows of
:func:`table_rows`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from topoae._text import format_table
from topoae.paper import COLUMNS, METHODS, PAPER_TABLE

__all__ = [
    "ESTIMATE_MARK",
    "ESTIMATE_NOTE",
    "Intervals",
    "Summary",
    "estimate_cell",
    "format_number",
    "has_estimates",
    "intervals",
    "measure_cell",
    "summarize",
    "table_csv",
    "table_markdown",
    "table_rows",
]

#: Method -> measure -> (mean, sample std, number of seeds).
Summary = dict[str, dict[str, tuple[float, float, int]]]

#: Method -> measure -> 95 % half-width of a single seed's estimated value.
Intervals = dict[str, dict[str, float]]

#: Significant digits of a table cell (the paper prints about three).
DIGITS = 3

#: Ends a cell whose ± is the 95 % interval of a sampled estimate (not a spread over seeds).
ESTIMATE_MARK = "*"
#: The line under a table holding :data:`ESTIMATE_MARK` cells.
ESTIMATE_NOTE = (
    f"{ESTIMATE_MARK} estimated from a sample of query points (the data set is larger than "
    "`max_exact`); ± is the 95 % interval of the estimate, not a spread over seeds."
)


def summarize(
    records: Sequence[dict[str, Any]],
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> Summary:
    """Mean, sample standard deviation (0 for one seed) and count of each measure.

    Parameters
    ----------
    records : sequence of dict
        :attr:`Comparison.records <topoae.apps.compare.Comparison.records>`.
    methods, seeds : sequence, optional
        Restrict to these (default: all present).

    Returns
    -------
    dict
        ``{method: {measure: (mean, std, n)}}`` for the table's measures present.
    """
    methods = (
        list(methods) if methods is not None else list(dict.fromkeys(r["method"] for r in records))
    )
    out: Summary = {}
    for method in methods:
        chosen = [
            r for r in records if r["method"] == method and (seeds is None or r["seed"] in seeds)
        ]
        out[method] = {}
        for key, _ in COLUMNS:
            values = np.array([r["measures"][key] for r in chosen if key in r["measures"]])
            if len(values):
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                out[method][key] = (float(values.mean()), std, len(values))
    return out


def intervals(
    records: Sequence[dict[str, Any]],
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> Intervals:
    """The 95 % half-widths of estimated measures where a method has a single seed.

    With several seeds the table shows their spread instead, so only one-seed cells get
    an interval (``<key>_ci95`` of :func:`topoae.metrics.evaluate`).

    Returns
    -------
    dict
        ``{method: {measure: ci95}}`` for the table's measures that were estimated.
    """
    out: Intervals = {}
    for record in records:
        method = record["method"]
        if (methods is not None and method not in methods) or (
            seeds is not None and record["seed"] not in seeds
        ):
            continue
        if method in out:  # a second seed: the spread over seeds is shown instead
            out[method] = {}
            continue
        measures = record["measures"]
        out[method] = {
            key: float(measures[f"{key}_ci95"])
            for key, _ in COLUMNS
            if isinstance(measures.get(f"{key}_ci95"), int | float)
        }
    return {method: values for method, values in out.items() if values}


def format_number(value: float) -> str:
    """``value`` to :data:`DIGITS` significant digits (``0.227``, ``13.5``, ``0.00694``)."""
    return f"{value:.{DIGITS}g}"


def measure_cell(mean: float, std: float, n: int) -> str:
    """``"mean ± std"`` over ``n`` seeds (the mean alone for one seed)."""
    if n > 1:
        return f"{format_number(mean)} ± {std:.2g}"
    return format_number(mean)


def estimate_cell(value: float, ci95: float) -> str:
    """``"value ± ci95*"``: a sampled estimate and its 95 % half-width (:data:`ESTIMATE_MARK`)."""
    return f"{format_number(value)} ± {ci95:.2g}{ESTIMATE_MARK}"


def has_estimates(rows: Sequence[Sequence[str]]) -> bool:
    """Whether any cell of ``rows`` is an :func:`estimate_cell` (the table needs the note)."""
    return any(str(cell).endswith(ESTIMATE_MARK) for row in rows for cell in row[1:])


def table_rows(
    summary: Summary,
    methods: Sequence[str],
    preset: str | None,
    estimates: Intervals | None = None,
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: each method's mean ± std, then the paper's row where it has one.

    Parameters
    ----------
    summary : dict
        :func:`summarize`'s result.
    methods : sequence of str
        Rows, in this order.
    preset : str, optional
        Data set whose Table 1 rows to add (only Spheres has them).
    estimates : dict, optional
        :func:`intervals`' result: those one-seed cells read ``value ± ci95*``.
    """
    paper = PAPER_TABLE.get(preset or "", {})
    headers = ["method", "seeds", *[header for _, header in COLUMNS]]
    rows = []
    for method in methods:
        values = summary.get(method, {})
        n = max((v[2] for v in values.values()), default=0)
        name = METHODS.get(method, method)
        ci = (estimates or {}).get(method, {})
        cells = [_cell(values, ci, key) for key, _ in COLUMNS]
        rows.append([name, str(n), *cells])
        if method in paper:
            ours = paper[method]
            cells = [format_number(ours[key]) if key in ours else "–" for key, _ in COLUMNS]
            rows.append([f"{name} (paper)", "5", *cells])
    return headers, rows


def _cell(values: dict[str, tuple[float, float, int]], ci: dict[str, float], key: str) -> str:
    if key not in values:
        return "–"
    mean, std, n = values[key]
    return estimate_cell(mean, ci[key]) if n == 1 and key in ci else measure_cell(mean, std, n)


def table_markdown(
    summary: Summary,
    methods: Sequence[str],
    preset: str | None,
    estimates: Intervals | None = None,
) -> str:
    """:func:`table_rows` as a Markdown table (what ``topoae compare`` prints)."""
    headers, rows = table_rows(summary, methods, preset, estimates)
    table = format_table(headers, rows)
    if has_estimates(rows):
        table += "\n\n" + ESTIMATE_NOTE
    if "topomap" in methods:
        table += (
            "\n\nTopoMap has no out-of-sample map: it is fitted on the test split it lays out "
            "(the other methods never see the test split when fitting)."
        )
    return table


def table_csv(summary: Summary, methods: Sequence[str], preset: str | None) -> str:
    """Machine-readable table: one row per method and source (ours / paper), full precision."""
    paper = PAPER_TABLE.get(preset or "", {})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["method", "source", "n_seeds"]
    for key, _ in COLUMNS:
        header += [f"{key}_mean", f"{key}_std"]
    writer.writerow(header)
    for method in methods:
        values = summary.get(method, {})
        n = max((v[2] for v in values.values()), default=0)
        row: list[Any] = [method, "ours", n]
        for key, _ in COLUMNS:
            row += [repr(values[key][0]), repr(values[key][1])] if key in values else ["", ""]
        writer.writerow(row)
        if method in paper:
            row = [method, "paper", 5]
            for key, _ in COLUMNS:
                row += [repr(paper[method][key]) if key in paper[method] else "", ""]
            writer.writerow(row)
    return buffer.getvalue()
