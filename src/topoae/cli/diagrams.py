"""``topoae diagrams``: persistence diagrams and barcodes of a run's test data and embedding."""

from __future__ import annotations

import argparse
from pathlib import Path

from topoae.cli import CLIError
from topoae.cli._common import format_table, positive_int, say
from topoae.errors import InputError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "diagrams",
        help="persistence diagrams / barcodes of a run's data and embedding",
        description=(
            "Draw the H0 and H1 Vietoris–Rips diagrams and barcodes of a run's test data "
            "(reloaded by data set name, or from the run's recorded data file) and of its "
            "test embedding, on a seeded subsample, "
            "with their bottleneck and Wasserstein distances on the figure."
        ),
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="a `topoae train` folder")
    parser.add_argument("--out", required=True, type=Path, help="FILE.png, .pdf or .svg")
    parser.add_argument("--subsample", type=positive_int, default=500, help="points (500)")
    parser.add_argument("--seed", type=int, default=0, help="subsample seed (0)")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="compare raw distances (default: each space divided by its largest distance)",
    )
    parser.add_argument("--data-dir", help="folder of downloaded data files (image data sets)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from topoae.metrics.diagrams import compare_persistence
    from topoae.plotting.diagrams import plot_persistence
    from topoae.runs.folder import load_run, load_run_data

    record = load_run(args.run_dir)
    name = record.config.get("dataset")
    if not isinstance(name, str):
        raise CLIError(f"{args.run_dir}/config.json names no data set; it is not a topoae run.")
    seed = int(record.config.get("train", {}).get("seed", 0))
    data = load_run_data(record.config, data_dir=args.data_dir)
    X = data.x_test.reshape(len(data.x_test), -1)
    if len(X) != len(record.latent_test):
        raise InputError(
            f"The reloaded {name} test split has {len(X)} points but the run's embedding has "
            f"{len(record.latent_test)}; was the run trained on other data?"
        )
    say(args, f"diagrams of {min(args.subsample, len(X))} points of {name}")
    comparison = compare_persistence(
        X,
        record.latent_test,
        n_subsample=args.subsample,
        random_state=args.seed,
        normalize=not args.raw,
    )
    model = record.config.get("model", "embedding")
    plot_persistence(
        comparison.diagrams_x,
        comparison.diagrams_z,
        comparison.distances,
        args.out,
        n_points=comparison.n_points,
        seed=args.seed,
        normalized=comparison.normalized,
        names=(str(name), str(model)),
        title=f"{model} on {name} (seed {seed})",
    )
    rows = [
        [
            f"H{d}",
            f"{comparison.distances[f'bottleneck_h{d}']:.4g}",
            f"{comparison.distances[f'wasserstein_h{d}']:.4g}",
        ]
        for d in range(len(comparison.diagrams_x))
    ]
    print(format_table(["dimension", "bottleneck", "Wasserstein-1"], rows))
    say(args, f"wrote {args.out}")
    return 0
