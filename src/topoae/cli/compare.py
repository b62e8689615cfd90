"""``topoae compare``: the paper's experiment — every method × seed, one table, one figure."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from topoae.apps.compare import PROTOCOLS, compare, paper_seeds
from topoae.cli import CLIError
from topoae.cli._common import (
    add_dataset_arguments,
    add_subsample_arguments,
    dataset_options,
    is_file,
    load_dataset,
    positive_int,
    say,
)
from topoae.paper import DEFAULT_METHODS, METHODS


def _method_list(text: str) -> list[str]:
    methods = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}"
        )
    return methods


def _seed_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"seeds must be integers, got {text!r}") from error


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run the paper's comparison (baselines + autoencoders) and tabulate it",
        description=(
            "Fit PCA, Isomap, t-SNE, UMAP and train the AE and TopoAE with the paper's settings "
            "on each seed, measure the test embeddings, and print the table beside the paper's. "
            "Writes results.json, table.md, table.csv, figure.png, embeddings/ and runs/ to "
            "--out; rerunning with the same --out skips finished method/seed pairs."
        ),
    )
    add_dataset_arguments(parser)
    add_subsample_arguments(parser)
    parser.add_argument(
        "--methods",
        type=_method_list,
        default=None,
        help="comma-separated, run in this order (tables use the paper's order; default: "
        f"{','.join(DEFAULT_METHODS)}, for a file also {','.join(FILE_EXTRA_METHODS)} when "
        "installed)",
    )
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help="settings of every method: auto (the default for files) or a data set of the paper",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="--dataset FILE: seed of the one split every method and seed runs on (0)",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=positive_int, default=5, help="use the paper's first N seeds (1-5, 5)"
    )
    seeds.add_argument(
        "--seed-values", type=_seed_list, metavar="S,S,...", help="explicit seeds instead"
    )
    parser.add_argument("--epochs", type=positive_int, default=100, help="maximum epochs (100)")
    parser.add_argument("--patience", type=positive_int, default=10, help="early stopping (10)")
    parser.add_argument("--device", default="auto", help="autoencoders: auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="clean",
        help="clean: autoencoders train on the training split only; reference: also on the "
        "validation split, as the authors' code did (default: clean)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="run up to N method/seed pairs at once in separate processes (1)",
    )
    parser.add_argument("--no-figure", action="store_true", help="skip figure.png")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/<dataset>-compare)"
    )
    parser.set_defaults(func=run)


#: Baselines added to the default methods for a user's file when their packages are installed.
FILE_EXTRA_METHODS: tuple[str, ...] = ("pacmap", "trimap")


def _methods(args: argparse.Namespace) -> list[str]:
    """The methods asked for, or the defaults (with PaCMAP and TriMap for a file)."""
    import importlib.util

    if args.methods is not None:
        return args.methods
    methods = list(DEFAULT_METHODS)
    if is_file(args):
        for method in FILE_EXTRA_METHODS:
            if importlib.util.find_spec(method) is not None:
                methods.append(method)
            else:
                say(args, f"note: {method} is not installed (pip install 'topoae[more-baselines]')")
    return methods


def run(args: argparse.Namespace) -> int:
    out: Path = args.out or Path("runs") / f"{Path(args.dataset).stem}-compare"
    if args.seed_values is not None:
        seeds = args.seed_values
        if not seeds:
            raise CLIError("--seed-values needs at least one seed.")
    else:
        seeds = paper_seeds(args.seeds)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file; choose a folder.")
    kwargs = dataset_options(args)
    dataset = args.dataset
    if is_file(args):
        # One split for every method and seed: the file's, drawn with --split-seed.
        dataset, kwargs = load_dataset(args, seed=args.split_seed), {}
        say(args, dataset.summary())
    started = time.perf_counter()
    comparison = compare(
        dataset,
        methods=_methods(args),
        preset=args.preset,
        seeds=seeds,
        out=out,
        max_epochs=args.epochs,
        patience=args.patience,
        device=args.device,
        protocol=args.protocol,
        dataset_kwargs=kwargs,
        figure=not args.no_figure,
        jobs=args.jobs,
        log=lambda message: say(args, message),
    )
    print(comparison.table_markdown())
    say(
        args,
        f"wrote {out}/ (this call {time.perf_counter() - started:.0f} s; "
        f"all sessions {comparison.wall_seconds:.0f} s of computing)",
    )
    return 0
