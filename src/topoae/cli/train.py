"""``topoae train``: train one autoencoder on a data set and write a run folder."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from topoae.cli import CLIError
from topoae.cli._common import (
    add_dataset_arguments,
    add_subsample_arguments,
    estimate_training_seconds,
    format_duration,
    format_table,
    load_dataset,
    nonnegative_float,
    positive_float,
    positive_int,
    say,
)
from topoae.core.cycles import check_homology_dims
from topoae.core.distributed import DistributedContext
from topoae.core.losses import CYCLE_FORMULATIONS, MATCH_MODES
from topoae.errors import InputError
from topoae.paper import MODEL_VARIANTS
from topoae.runs import experiment_config, run_experiment


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train TopoAE / AE / linear TopoAE on a data set",
        description=(
            "Train an autoencoder with the paper's settings for the data set (override any "
            "with the flags) and write config, history, weights and the test embedding to --out."
        ),
    )
    add_dataset_arguments(parser)
    add_subsample_arguments(parser)
    parser.add_argument("--model", default="topoae", choices=MODEL_VARIANTS)
    parser.add_argument("--lam", type=nonnegative_float, help="weight of the topological term")
    parser.add_argument("--lr", type=positive_float, help="learning rate")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--epochs", type=positive_int, default=100, help="maximum epochs (100)")
    parser.add_argument("--patience", type=positive_int, default=10, help="early stopping (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--match-edges", choices=MATCH_MODES, default="symmetric")
    parser.add_argument(
        "--homology-dims",
        type=_homology_dims,
        default=(0,),
        metavar="DIMS",
        help="dimensions the topological term matches: 0 (the paper) or 0,1 (also cycles)",
    )
    parser.add_argument(
        "--cycle-formulation",
        choices=CYCLE_FORMULATIONS,
        default="persistence",
        help="the cycle (dimension 1) term: persistence (the authors'), cascade (TopoAE++), ...",
    )
    parser.add_argument(
        "--cycle-lam", type=nonnegative_float, help="weight of the cycle term (default 1)"
    )
    parser.add_argument(
        "--train-on-validation",
        action="store_true",
        help="also train on the validation split, as the reference implementation did",
    )
    parser.add_argument(
        "--snapshot-every",
        type=int,
        default=0,
        metavar="N",
        help="store latent codes of a fixed test subset every N steps (for animations)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=0,
        metavar="N",
        help="stop after N optimiser steps in all (0: no limit), for very large data",
    )
    parser.add_argument(
        "--time-budget",
        type=nonnegative_float,
        default=0.0,
        metavar="SECONDS",
        help="stop after this much training time, resumes counted (0: none)",
    )
    parser.add_argument(
        "--pair-globally",
        action="store_true",
        help="under torchrun: match the topology of all ranks' batches together",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    parser.set_defaults(func=run)


def _homology_dims(text: str) -> tuple[int, ...]:
    try:
        return check_homology_dims(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _summary_table(summary: dict) -> str:
    rows = [
        [key, f"{value:.4g}" if isinstance(value, float) else value]
        for key, value in summary.items()
    ]
    return format_table(["", "value"], rows)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists() and not (args.resume or args.overwrite):
        raise CLIError(
            f"{out} already holds a run; pass --resume to continue it, --overwrite to replace "
            "it, or choose another --out."
        )
    if args.overwrite and checkpoint.exists():
        checkpoint.unlink()
    if args.snapshot_every < 0:
        raise CLIError("--snapshot-every must be >= 0.")
    if args.model == "ae" and args.lam:
        raise CLIError("--model ae trains without the topological term; drop --lam.")
    if args.model == "ae" and 1 in args.homology_dims:
        raise CLIError("--model ae trains without topological terms; drop --homology-dims.")
    data = load_dataset(args, seed=args.seed)
    overrides = {
        "lam": args.lam,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "max_epochs": args.epochs,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "match_edges": args.match_edges,
        "train_on_validation": args.train_on_validation,
        "snapshot_every": args.snapshot_every,
    }
    overrides.update(
        max_steps=args.max_steps, time_budget=args.time_budget, pair_globally=args.pair_globally
    )
    overrides.update(
        homology_dims=args.homology_dims,
        cycle_formulation=args.cycle_formulation,
        cycle_lam=args.cycle_lam,
    )
    config = experiment_config(data, args.model, overrides=overrides)
    distributed = DistributedContext.from_environment(args.device)
    if distributed is not None and not distributed.is_main:
        args.quiet = True  # rank 0 speaks and writes for all
    say(args, f"{data.summary()}")
    say(
        args,
        f"training {args.model} ({config.architecture}) with lam={config.lam:g}, "
        f"lr={config.learning_rate:g}, batch={config.batch_size}, seed={config.seed}",
    )

    if distributed is None:
        _say_estimate(args, data, config)
    else:
        say(args, f"distributed: {distributed.world_size} ranks on {distributed.device.type}")
    progress = _progress_printer(args, config.max_epochs)
    try:
        with _step_bar(args) as steps:
            result = run_experiment(
                data,
                args.model,
                config=config,
                out=out,
                resume=args.resume,
                callback=progress,
                progress=steps,
                distributed=distributed,
            )
    finally:
        if distributed is not None:
            distributed.close()
    if distributed is not None and not distributed.is_main:
        return 0
    print(_summary_table(result.summary))
    say(args, f"wrote {out}/")
    return 0


@contextlib.contextmanager
def _step_bar(args: argparse.Namespace):
    """A progress bar over each epoch's steps with its ETA, on an interactive terminal only."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=0, unit="step", leave=False, file=sys.stderr)

    def update(batch: int, n_batches: int) -> None:
        if batch == 1:
            bar.reset(total=n_batches)
        bar.update(1)

    try:
        yield update
    finally:
        bar.close()


def _say_estimate(args: argparse.Namespace, data, config) -> None:
    """Print the estimated time of a full run (from a few timed steps)."""
    estimate = estimate_training_seconds(data.x_train, data.x_val, config)
    say(
        args,
        f"estimated time of a full run: about {format_duration(estimate['total_seconds'])} "
        f"({estimate['step_seconds'] * 1000:.1f} ms/step x {estimate['steps_per_epoch']:.0f} "
        f"steps/epoch x {config.max_epochs} epochs, plus validation; all {config.max_epochs} "
        "epochs counted, early stopping usually ends sooner)",
    )


def _progress_printer(args: argparse.Namespace, max_epochs: int):
    """The training callback: one line per epoch with the losses."""

    seconds: list[float] = []

    def progress(record: dict) -> None:
        seconds.append(record["seconds"])
        # All remaining epochs at the mean pace so far: an upper bound, as early stopping
        # may end sooner.
        left = (max_epochs - record["epoch"]) * sum(seconds) / len(seconds)
        parts = [f"epoch {record['epoch']:3d}/{max_epochs}"]
        parts.append(f"loss {record['train_loss']:.4f}")
        if "train_topological" in record:
            reconstruction, topological = (
                record["train_reconstruction"],
                record["train_topological"],
            )
            parts.append(f"(rec {reconstruction:.4f}, topo {topological:.4f})")
        parts.append(f"val {record['val_loss']:.4f}")
        parts.append(f"{record['seconds']:.1f}s")
        if record["epoch"] < max_epochs:
            parts.append(f"eta <= {format_duration(left)}")
        say(args, "  ".join(parts))

    return progress
