"""``topoae evaluate``: the paper's measures for a test-set embedding made elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from topoae.cli import CLIError
from topoae.cli._common import (
    add_dataset_arguments,
    format_table,
    load_dataset,
    positive_int,
    say,
)
from topoae.paper import COLUMNS
from topoae.runs.folder import read_embedding_csv


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="quality measures of an embedding of the test split (CSV)",
        description=(
            "Compute the paper's quality measures between the test split of --dataset and an "
            "embedding of it. The CSV holds one row per test point in test-split order: the "
            "authors' format (header 0,1,labels) or plain numeric columns. A label column must "
            "equal the test labels."
        ),
    )
    parser.add_argument("embedding", type=Path, help="CSV file, one row per test point")
    add_dataset_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="--dataset FILE: seed of the split (0)")
    parser.add_argument(
        "--run",
        type=Path,
        metavar="RUN",
        help="measure against the test split of this `topoae train` folder's data instead",
    )
    parser.add_argument(
        "--diagrams",
        action="store_true",
        help="add Wasserstein/bottleneck distances of the H0/H1 diagrams (slower; tda extra)",
    )
    parser.add_argument(
        "--max-exact",
        type=positive_int,
        default=None,
        metavar="N",
        help="compute exactly up to N test points, above that estimate from a sample "
        "(default: the library's, 20000)",
    )
    parser.add_argument(
        "--sample-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="query points sampled when estimating (default: the library's, 5000)",
    )
    parser.add_argument(
        "--sample-seed",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the measures' samples: query points, pairs, triplets (0)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="where the pass over distances runs: auto (a CUDA GPU when torch sees one, "
        "else the CPU), cpu, or a torch device such as cuda:1 (auto)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every measure here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from topoae import metrics
    from topoae._io import write_json

    latent, labels = read_embedding_csv(args.embedding)
    if args.run is not None:
        from topoae.runs.folder import load_run_data, read_config

        config = read_config(args.run)
        if config is None:
            raise CLIError(f"{args.run} holds no config.json; point --run at a train folder.")
        data = load_run_data(config, data_dir=args.data_dir)
        args.dataset = data.name
    else:
        # A registered data set's test split does not depend on the seed; a file's does.
        data = load_dataset(args, seed=args.seed)
    n_test = len(data.x_test)
    if len(latent) != n_test:
        raise CLIError(
            f"{args.embedding} has {len(latent)} rows but the {args.dataset} test split has "
            f"{n_test} points; embed exactly the test split, one row per point, in order."
        )
    if labels is not None and not np.array_equal(labels, data.y_test):
        wrong = np.flatnonzero(labels != data.y_test)
        raise CLIError(
            f"The labels column of {args.embedding} differs from the {args.dataset} test labels "
            f"in {len(wrong)} of {n_test} rows (first: row {wrong[0]}, label {labels[wrong[0]]} "
            f"vs {data.y_test[wrong[0]]}); the rows must be in test-split order."
        )
    if labels is None:
        say(args, "no labels column: the row order cannot be checked")
    say(args, f"evaluating {len(latent)} × {latent.shape[1]} embedding against {data.summary()}")
    X = data.x_test.reshape(n_test, -1)
    # The paper's k = 10…200 unless the test split is too small for them (a user's file).
    values = metrics.evaluate(
        X,
        latent,
        ks=metrics.usable_ks(n_test),
        labels=data.y_test if data.has_labels else None,
        diagrams=args.diagrams,
        max_exact=metrics.DEFAULT_MAX_EXACT if args.max_exact is None else args.max_exact,
        sample_size=args.sample_size,
        random_state=args.sample_seed,
        device=args.device,
    )
    print(format_table(["measure", "value", "± 95 %", "how"], measure_rows(values)))
    print()
    print(queries_line(values, n_test))
    if args.json is not None:
        write_json(args.json, {"embedding": str(args.embedding), "dataset": args.dataset, **values})
        say(args, f"wrote {args.json}")
    return 0


#: Bookkeeping keys of :func:`topoae.metrics.evaluate`'s result, not measures.
_NOT_MEASURES = ("estimated", "n_queries")


def measure_rows(values: dict[str, Any]) -> list[list[str]]:
    """One row per scalar measure: name (the paper's header where it has one), value,
    the 95 % half-width of an estimate, and whether it is exact or estimated."""
    from topoae.apps.compare.tables import format_number  # the tables' 3 digits

    headers = dict(COLUMNS)
    estimated = set(values.get("estimated_measures", []))
    keys = [key for key, _ in COLUMNS if key in values]
    keys += [
        key
        for key, value in values.items()
        if key not in headers
        and key not in _NOT_MEASURES
        and not key.endswith("_ci95")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ]
    rows = []
    for key in keys:
        ci = values.get(f"{key}_ci95") if key in estimated else None
        rows.append(
            [
                headers.get(key, key),
                format_number(values[key]),
                "" if ci is None else f"{ci:.2g}",
                "estimated" if key in estimated else "exact",
            ]
        )
    return rows


def queries_line(values: dict[str, Any], n: int) -> str:
    """How many query points the point-wise measures used, and what ± means."""
    if not values["estimated"]:
        line = f"exact: all {n} test points were query points"
    else:
        line = (
            f"estimated: {values['n_queries']} of {n} test points were query points "
            "(--sample-size, seeded by --sample-seed; raise --max-exact to compute exactly)"
        )
    if values.get("estimated_measures"):
        line += "; ± is the 95 % half-width of an estimated measure"
    return line + "."
