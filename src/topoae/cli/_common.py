"""Helpers shared by the subcommands: common flags, data loading, printing."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from topoae import datasets


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` and ``--data-dir``."""
    parser.add_argument(
        "--dataset",
        default="spheres",
        choices=datasets.available(),
        help="data set (default: spheres)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding downloaded data files (image data sets)",
    )


def load_dataset(args: argparse.Namespace, seed: int) -> datasets.Dataset:
    """Load ``args.dataset`` with the options the data set understands."""
    kwargs: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        kwargs["data_dir"] = args.data_dir
    return datasets.load(args.dataset, seed=seed, **kwargs)


def say(args: argparse.Namespace, message: str) -> None:
    """Progress text to stderr unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (pastes into issues, READMEs and terminals alike)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
