"""``topoae train``: train one autoencoder on a data set and write a run folder."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from topoae._lock import RunFolder
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
from topoae.paper import MODEL_VARIANTS, PRESETS
from topoae.runs import experiment_config, run_experiment
from topoae.runs.experiment import resolve_preset
from topoae.runs.folder import record_run


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be integers, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"give positive widths such as 64,32, got {text!r}")
    return widths


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
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help="settings to start from: auto (network from the number of features, Spheres "
        f"optimiser; the default for files) or a data set of the paper ({', '.join(PRESETS)}, "
        "generic); every flag overrides",
    )
    parser.add_argument(
        "--hidden-sizes",
        type=_widths,
        metavar="H,H",
        help="hidden widths of the MLP encoder (the decoder mirrors them)",
    )
    parser.add_argument("--lam", type=nonnegative_float, help="weight of the topological term")
    parser.add_argument("--lr", type=positive_float, help="learning rate")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--epochs", type=positive_int, help="maximum epochs (100)")
    parser.add_argument("--patience", type=positive_int, help="early stopping (10)")
    parser.add_argument("--seed", type=int, help="seed of initialisation and shuffling (0)")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON of training settings (e.g. a tune's best.json); flags still override",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--match-edges", choices=MATCH_MODES, help="(symmetric)")
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
    parser.add_argument(
        "--write-h5ad",
        type=Path,
        metavar="OUT.h5ad",
        help="--dataset FILE.h5ad: write a copy with every cell's embedding in obsm['X_topoae']",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (a file data set is reloaded from the run's record)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the whole run in --out (every file)"
    )
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


#: Settings a --config file may hold (the estimator's names and TrainConfig's) -> their flag.
CONFIG_KEYS = {
    "lam": "lam",
    "learning_rate": "lr",
    "batch_size": "batch_size",
    "hidden_sizes": "hidden_sizes",
    "max_epochs": "epochs",
    "patience": "patience",
    "random_state": "seed",
    "seed": "seed",
    "match_edges": "match_edges",
    "architecture": "model",
}
#: What a flag is when neither it nor the --config file gives it.
FLAG_DEFAULTS = {"epochs": 100, "patience": 10, "seed": 0, "match_edges": "symmetric"}
#: The JSON type each setting must have.
CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "lam": (int, float),
    "learning_rate": (int, float),
    "batch_size": int,
    "hidden_sizes": list,
    "max_epochs": int,
    "patience": int,
    "random_state": int,
    "seed": int,
    "match_edges": str,
    "architecture": str,
}


def apply_settings_file(args: argparse.Namespace) -> None:
    """Fill the flags the user left out from ``--config`` (flags win), then the defaults."""
    if args.config is not None:
        for key, value in read_settings_file(args.config).items():
            flag = CONFIG_KEYS[key]
            if key == "architecture":
                value = {"linear": "linear-topoae"}.get(value, None)
                if value is None:
                    continue  # "mlp" / "auto" / "deep": the data set's architecture
            if flag == "model" and args.model != "topoae":
                continue  # an explicit --model wins
            if getattr(args, flag, None) is None or flag == "model":
                setattr(args, flag, value)
    for flag, value in FLAG_DEFAULTS.items():
        if getattr(args, flag) is None:
            setattr(args, flag, value)


def read_settings_file(path: Path) -> dict:
    """The settings of a ``--config`` JSON file, checked: a dict of known names and values."""
    import json

    try:
        settings = json.loads(path.read_text())
    except FileNotFoundError:
        raise CLIError(f"--config {path}: no such file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CLIError(f"--config {path} is not a JSON file ({error}).") from None
    if not isinstance(settings, dict):
        raise CLIError(f"--config {path} must hold a JSON object of settings.")
    unknown = sorted(set(settings) - set(CONFIG_KEYS))
    if unknown:
        raise CLIError(
            f"--config {path}: unknown setting(s) {', '.join(unknown)}; known: "
            f"{', '.join(CONFIG_KEYS)}."
        )
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, CONFIG_TYPES[key]):
            raise CLIError(f"--config {path}: {key} = {value!r} has the wrong type.")
    return settings


def run(args: argparse.Namespace) -> int:
    apply_settings_file(args)
    if args.resume and args.overwrite:
        raise CLIError(
            "--resume continues the run in --out and --overwrite replaces it; pass one of them."
        )
    # One writer per folder: rank 0 under torchrun (the others only read the checkpoint).
    main_rank = os.environ.get("RANK", "0") == "0"
    writer = RunFolder(args.out, "train", overwrite=args.overwrite) if main_rank else None
    with writer or contextlib.nullcontext() as folder:
        if folder is not None and not args.resume and _holds_run(args.out):
            raise CLIError(
                f"{args.out} already holds a run; pass --resume to continue it, --overwrite "
                "to replace it, or choose another --out."
            )
        return _train(args, folder)


def _holds_run(out: Path) -> bool:
    return any((out / name).exists() for name in ("checkpoint.pt", "model.pt"))


def _train(args: argparse.Namespace, folder: RunFolder | None) -> int:
    out: Path = args.out
    if args.snapshot_every < 0:
        raise CLIError("--snapshot-every must be >= 0.")
    if args.model == "ae" and args.lam:
        raise CLIError("--model ae trains without the topological term; drop --lam.")
    if args.model == "ae" and 1 in args.homology_dims:
        raise CLIError("--model ae trains without topological terms; drop --homology-dims.")
    if args.write_h5ad is not None and args.write_h5ad.suffix.lower() != ".h5ad":
        raise CLIError(f"--write-h5ad {args.write_h5ad}: the file must end in .h5ad.")
    data = _data(args, out)
    if args.write_h5ad is not None and (data.source is None or data.source.format != "h5ad"):
        raise CLIError("--write-h5ad needs --dataset FILE.h5ad.")
    overrides = {
        "lam": args.lam,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "hidden_sizes": args.hidden_sizes,
        "max_epochs": args.epochs,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "match_edges": args.match_edges,
        "train_on_validation": args.train_on_validation,
        "snapshot_every": args.snapshot_every,
    }
    if args.resume and args.preset is None:
        from topoae.runs.folder import read_config

        args.preset = (read_config(out) or {}).get("preset")  # resume with the run's own
    preset = resolve_preset(data, args.preset)
    overrides.update(
        max_steps=args.max_steps, time_budget=args.time_budget, pair_globally=args.pair_globally
    )
    overrides.update(
        homology_dims=args.homology_dims,
        cycle_formulation=args.cycle_formulation,
        cycle_lam=args.cycle_lam,
    )
    config = experiment_config(data, args.model, preset=preset, overrides=overrides)
    _check_batch(data, config)
    distributed = DistributedContext.from_environment(args.device)
    if distributed is not None and not distributed.is_main:
        args.quiet = True  # rank 0 speaks and writes for all
    say(args, f"{data.summary()}")
    widths = f" {'-'.join(map(str, config.hidden_sizes))}" if config.hidden_sizes else ""
    say(
        args,
        f"training {args.model} ({config.architecture}{widths}, preset {preset}) with "
        f"lam={config.lam:g}, lr={config.learning_rate:g}, batch={config.batch_size}, "
        f"seed={config.seed}",
    )

    if distributed is None:
        _say_estimate(args, data, config)
    else:
        say(args, f"distributed: {distributed.world_size} ranks on {distributed.device.type}")
    progress = _progress_printer(args, config.max_epochs)
    if folder is not None:
        folder.begin()
    try:
        with _step_bar(args) as steps:
            result = run_experiment(
                data,
                args.model,
                config=config,
                out=out,
                resume=args.resume,
                callback=progress,
                meta={"preset": preset},
                progress=steps,
                distributed=distributed,
            )
    finally:
        if distributed is not None:
            distributed.close()
    if distributed is not None and not distributed.is_main:
        return 0
    if folder is not None:
        record_run(folder)
    print(_summary_table(result.summary))
    say(args, f"wrote {out}/")
    if args.write_h5ad is not None:
        _write_h5ad(args, data, result)
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


def _data(args: argparse.Namespace, out: Path):
    """The data set: the run's recorded file on --resume, else --dataset."""
    from topoae.runs.folder import load_run_data, read_config

    recorded = read_config(out) if args.resume else None
    if recorded is not None and "data_source" in recorded:
        say(args, f"resuming on the recorded data file {recorded['data_source']['path']}")
        return load_run_data(recorded)
    return load_dataset(args, seed=args.seed, min_train=args.batch_size or 2)


def _check_batch(data, config) -> None:
    """A clear error when a file has fewer training rows than a batch."""
    if data.source is not None and len(data.x_train) < config.batch_size:
        raise CLIError(
            f"{data.source.path}: {len(data.x_train)} training rows, fewer than a batch of "
            f"{config.batch_size}; use more rows or a smaller --batch-size."
        )


def _write_h5ad(args: argparse.Namespace, data, result) -> None:
    """Embed every cell of the .h5ad (in file order, in batches) and write the copy."""
    from topoae.anndata import write_embedded
    from topoae.core.evaluation import embed
    from topoae.datasets.files import read_rows_like

    rows = read_rows_like(data.source.path, data.source.to_dict())
    latent = embed(result.model, rows)
    settings = {
        "params": {
            k: v for k, v in result.config.to_dict().items() if v is not None and k != "device"
        },
        "run": str(args.out),
        "use_rep": data.source.use_rep
        or (f"layers/{data.source.layer}" if data.source.layer else "X"),
        "n_epochs": int(result.summary["epochs"]),
        "best_epoch": int(result.summary["best_epoch"]),
    }
    write_embedded(data.source.path, args.write_h5ad, latent, settings=settings)
    say(args, f"wrote {args.write_h5ad} (obsm['X_topoae'], {latent.shape[0]} cells)")


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
