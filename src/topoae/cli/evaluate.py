"""``topoae evaluate``: the paper's measures for a test-set embedding made elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from topoae.cli import CLIError
from topoae.cli._common import add_dataset_arguments, format_table, load_dataset, say
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
    values = metrics.evaluate(X, latent, ks=metrics.usable_ks(n_test), diagrams=args.diagrams)
    headers = [header for _, header in COLUMNS[:7]]
    rows = [[f"{values[key]:.4g}" for key, _ in COLUMNS[:7]]]
    print(format_table(headers, rows))
    extras = [
        key
        for key in (
            "mrre_zx",
            "mrre_xz",
            "stress",
            "distance_correlation",
            "triplet_accuracy",
            "wasserstein_h0",
            "bottleneck_h0",
            "wasserstein_h1",
            "bottleneck_h1",
        )
        if key in values
    ]
    if extras:
        print()
        print(format_table(["measure", "value"], [[k, f"{values[k]:.4g}"] for k in extras]))
    if args.json is not None:
        write_json(args.json, {"embedding": str(args.embedding), "dataset": args.dataset, **values})
        say(args, f"wrote {args.json}")
    return 0
