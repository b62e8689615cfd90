"""``topoae tune``: the paper's hyperparameter search (Optuna), resumable, in a study database."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from topoae.cli import CLIError
from topoae.cli._common import (
    add_dataset_arguments,
    dataset_options,
    format_table,
    is_file,
    load_dataset,
    nonnegative_float,
    positive_int,
    say,
)
from topoae.core.losses import MATCH_MODES
from topoae.paper import MODEL_VARIANTS


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="search batch size, learning rate and lam (the paper's 20 random trials)",
        description=(
            "Search the training settings by trials scored on the validation split (the test "
            "split is never seen), in an Optuna study that survives interruption: run the same "
            "command again to finish it. Writes best.json (for `topoae train --config`), "
            "trials.csv, tuning.png and the study database to --out."
        ),
    )
    add_dataset_arguments(parser)
    parser.add_argument("--model", default="topoae", choices=MODEL_VARIANTS)
    parser.add_argument("--trials", type=int, default=20, help="finished trials to reach (20)")
    parser.add_argument("--timeout", type=nonnegative_float, help="seconds before no new trial")
    parser.add_argument("--jobs", type=positive_int, default=1, help="worker processes (1)")
    parser.add_argument("--objective", default="kl_0.1", help="validation measure (kl_0.1)")
    parser.add_argument("--sampler", choices=("random", "tpe"), default="random")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite in --out)")
    parser.add_argument(
        "--new-study", action="store_true", help="start a new study beside a different one"
    )
    parser.add_argument("--no-prune", action="store_true", help="never prune trials early")
    for flag, name, default in (
        ("--batch-size", "batch_size", "16:128"),
        ("--lr", "learning_rate", "1e-4:1e-2"),
        ("--lam", "lam", "0.1:3"),
    ):
        parser.add_argument(
            flag, dest=f"space_{name}", metavar="LOW:HIGH|VALUE",
            help=f"range to search, or one value to fix (default {default})",
        )  # fmt: skip
    parser.add_argument("--epochs", type=positive_int, default=100, help="maximum epochs (100)")
    parser.add_argument("--patience", type=positive_int, default=10, help="early stopping (10)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every trial (0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--match-edges", choices=MATCH_MODES, default="symmetric")
    parser.add_argument("--train-on-validation", action="store_true")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.set_defaults(func=run)


def known_objectives() -> list[str]:
    """The scalar measures of :func:`topoae.metrics.evaluate` (with reconstructions)."""
    from topoae import metrics

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3))
    values = metrics.evaluate(x, x[:, :2], ks=[2], X_hat=x)
    return sorted(k for k, v in values.items() if np.isscalar(v))


def _auto_network(args: argparse.Namespace) -> dict:
    """The auto preset's network for a file (read once here for its number of features)."""
    from topoae.auto import auto_preset

    data = load_dataset(args, seed=args.seed)
    if args.model == "linear-topoae":
        return {}
    auto = auto_preset(data.n_features, len(data.x_train), input_shape=data.input_shape)
    say(args, f"auto preset: {auto.reason}")
    return {"architecture": auto.architecture, "hidden_sizes": auto.hidden_sizes}


def run(args: argparse.Namespace) -> int:
    from topoae.apps import tune as tuning

    if args.trials < 1:
        raise CLIError(f"--trials must be at least 1, got {args.trials}.")
    objectives = known_objectives()
    if args.objective not in objectives:
        raise CLIError(
            f"unknown --objective {args.objective!r}; choose from {', '.join(objectives)}."
        )
    if args.out.exists() and not args.out.is_dir():
        raise CLIError(f"--out {args.out} is a file; give a folder.")
    overrides = {
        name: getattr(args, f"space_{name}")
        for name in tuning.PAPER_SPACE
        if getattr(args, f"space_{name}") is not None
    }
    if args.model == "ae" and "lam" in overrides:
        raise CLIError("--model ae trains without the topological term; drop --lam.")
    space = tuning.SearchSpace.paper(overrides, model=args.model)
    fixed = {
        "max_epochs": args.epochs,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "match_edges": args.match_edges,
        "train_on_validation": args.train_on_validation,
    }
    options = dataset_options(args)
    preset = args.dataset
    if is_file(args):
        fixed.update(_auto_network(args))
        preset = "generic"  # the Spheres optimiser settings, as the auto preset keeps them
    settings = tuning.TuneSettings(
        dataset=str(Path(args.dataset).resolve()) if is_file(args) else args.dataset,
        dataset_options=options,
        model=args.model,
        preset=preset,
        space=space,
        fixed=fixed,
        objective=args.objective,
        n_trials=args.trials,
        sampler=args.sampler,
        seed=args.seed,
        prune=not args.no_prune,
        timeout=args.timeout,
        storage=args.storage or "",
        log_to_stderr=not args.quiet,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    study = tuning.open_study(settings, args.out, new_study=args.new_study)
    done = tuning.count_finished(study)
    say(
        args,
        f"study {settings.study_name} in {settings.storage}: {done} of {args.trials} trials "
        f"finished; objective validation {args.objective} ({tuning.direction_of(args.objective)})",
    )
    tuning.run_tune(settings, jobs=args.jobs)
    best = tuning.write_outputs(study, settings, args.out)
    if best is None:
        raise CLIError("no trial completed (all pruned or failed); widen the search or --no-prune.")
    rows = [
        [key, f"{value:.5g}" if isinstance(value, float) else value] for key, value in best.items()
    ]
    rows.append([f"validation {args.objective}", f"{study.best_value:.4g}"])
    print(format_table(["best setting", "value"], rows))
    say(args, f"wrote {args.out}/best.json, trials.csv, tuning.png")
    return 0
