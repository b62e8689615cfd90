"""Helpers shared by the subcommands: common flags, data loading, printing."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from topoae import datasets
from topoae._text import format_table  # noqa: F401  (the subcommands print with it)
from topoae.errors import InputError


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


def add_dataset_arguments(parser: argparse.ArgumentParser, *, split: bool = True) -> None:
    """``--dataset NAME_OR_FILE``, ``--data-dir`` and the file options.

    ``split=False`` leaves out the options that only change a file's split
    (``--test-fraction``, ``--no-standardize``).
    """
    parser.add_argument(
        "--dataset",
        default="spheres",
        metavar="NAME_OR_FILE",
        help=f"a registered data set ({', '.join(datasets.available())}) or a file: .csv, "
        ".tsv, .npy, .npz, .parquet, .h5ad (default: spheres)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding downloaded data files (image data sets)",
    )
    files = parser.add_argument_group("file data sets (--dataset FILE)")
    files.add_argument(
        "--labels", metavar="COLUMN", help="label column (.h5ad: an obs column; .npz: an array)"
    )
    files.add_argument(
        "--features",
        type=_column_list,
        metavar="COL,COL",
        help="feature columns (names, or positions from 0); default all but the labels",
    )
    files.add_argument("--use-rep", metavar="KEY", help=".h5ad: an obsm key such as X_pca")
    files.add_argument("--layer", metavar="NAME", help=".h5ad: a layer instead of X")
    if split:
        files.add_argument(
            "--test-fraction",
            type=float,
            default=None,
            metavar="F",
            help="fraction of the rows held out for testing (0.1, at most 10,000 rows)",
        )
        files.add_argument(
            "--no-standardize",
            action="store_true",
            help="keep the features as they are (default: centre and scale each)",
        )


def _column_list(text: str) -> list[str | int]:
    columns: list[str | int] = [c.strip() for c in text.split(",") if c.strip()]
    if not columns:
        raise argparse.ArgumentTypeError("give at least one column")
    if all(str(c).isdigit() for c in columns):
        columns = [int(c) for c in columns]
    return columns


#: The file options of :func:`add_dataset_arguments`: flag attribute -> ``load_file`` keyword.
FILE_OPTIONS = {"labels": "labels", "features": "features", "use_rep": "use_rep", "layer": "layer"}


def is_file(args: argparse.Namespace) -> bool:
    """Whether ``--dataset`` names a file rather than a registered data set."""
    from topoae.datasets.files import is_file_dataset

    return args.dataset not in datasets.available() and is_file_dataset(args.dataset)


def check_dataset_name(args: argparse.Namespace) -> None:
    """A clear error for a ``--dataset`` that is neither a registered name nor a file."""
    if args.dataset in datasets.available() or is_file(args):
        return
    raise InputError(
        f"--dataset {args.dataset!r} is neither a registered data set "
        f"({', '.join(datasets.available())}) nor a file (.csv, .tsv, .npy, .npz, .parquet, "
        ".h5ad)."
    )


def file_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load_file`` keywords given on the command line (for a file data set)."""
    kwargs: dict[str, Any] = {}
    for attribute, keyword in FILE_OPTIONS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            kwargs[keyword] = value
    if getattr(args, "test_fraction", None) is not None:
        kwargs["test_fraction"] = args.test_fraction
    if getattr(args, "no_standardize", False):
        kwargs["standardize"] = False
    return kwargs


def add_subsample_arguments(parser: argparse.ArgumentParser) -> None:
    """``--train-size`` and ``--test-size`` (stratified subsets of image data sets)."""
    parser.add_argument(
        "--train-size",
        type=positive_int,
        metavar="N",
        help="use a stratified subset of N training images (validation included; image data)",
    )
    parser.add_argument(
        "--test-size",
        type=positive_int,
        metavar="N",
        help="use a stratified subset of N test images (image data)",
    )


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    """The data-set keyword arguments given on the command line, checked against the data set."""
    from topoae.datasets.images import accepts_option

    check_dataset_name(args)
    if is_file(args):
        for option in ("data_dir", "train_size", "test_size"):
            if getattr(args, option, None) is not None:
                flag = "--" + option.replace("_", "-")
                raise InputError(f"{flag} is not available for a file data set; drop it.")
        return file_options(args)
    given = [f for f in (*FILE_OPTIONS, "test_fraction") if getattr(args, f, None) is not None]
    if getattr(args, "no_standardize", False):
        given.append("no_standardize")
    if given:
        flags = ", ".join("--" + f.replace("_", "-") for f in given)
        raise InputError(f"{flags}: only for a file --dataset, not for {args.dataset}; drop it.")
    kwargs: dict[str, Any] = {}
    for option in ("data_dir", "train_size", "test_size"):
        if getattr(args, option, None) is None:
            continue
        if not accepts_option(args.dataset, option):
            flag = "--" + option.replace("_", "-")
            raise InputError(f"{flag} is not available for {args.dataset}; drop it.")
        kwargs[option] = getattr(args, option)
    return kwargs


def load_dataset(
    args: argparse.Namespace, seed: int, *, min_train: int | None = None
) -> datasets.Dataset:
    """Load ``args.dataset`` (a name or a file) with the options the data set understands.

    ``min_train`` (a file's fewest training rows: the batch size) makes too small a file an
    error that says how many rows are needed.
    """
    kwargs = dataset_options(args)
    if is_file(args) and min_train is not None:
        kwargs["min_train"] = min_train
    return datasets.load(args.dataset, seed=seed, **kwargs)


def estimate_training_seconds(
    x_train: np.ndarray,
    x_val: np.ndarray,
    config: Any,
    *,
    n_steps: int = 5,
) -> dict[str, float]:
    """Time a few training steps and validation batches; extrapolate to ``config.max_epochs``.

    A throw-away model (same architecture, loss and batch size) takes one warm-up step,
    then ``n_steps`` timed steps on random batches; the validation pass is timed on up
    to ``n_steps`` batches. Early stopping usually ends a run sooner, so the total is an
    upper bound (up to the usual noise of a few timed steps).

    Returns
    -------
    dict
        ``step_seconds``, ``steps_per_epoch``, ``epoch_seconds``, ``total_seconds``.
    """
    import torch

    from topoae.core.training import build_model, make_optimizer, resolve_device

    device = resolve_device(config.device)
    n_train = len(x_train) + (len(x_val) if config.train_on_validation else 0)
    steps_per_epoch = n_train // config.batch_size
    size = min(config.batch_size, len(x_train))
    state = torch.random.get_rng_state()
    model = build_model(config, tuple(x_train.shape[1:])).to(device).train()
    torch.random.set_rng_state(state)  # leave the caller's random stream as it was
    optimizer = make_optimizer(model.parameters(), config.learning_rate, config.weight_decay)
    chooser = np.random.RandomState(0)

    def batch_of(x: np.ndarray, n: int) -> torch.Tensor:
        rows = chooser.choice(len(x), size=min(n, len(x)), replace=False)
        return torch.as_tensor(x[rows], dtype=torch.float32, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> None:
        loss, _ = model(batch_of(x_train, size))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: first-call allocation and compilation are not per-step costs
    sync()
    started = time.perf_counter()
    for _ in range(n_steps):
        step()
    sync()
    step_seconds = (time.perf_counter() - started) / n_steps
    val_batches = -(-len(x_val) // config.batch_size)
    model.eval()
    started = time.perf_counter()
    timed = min(n_steps, val_batches)
    with torch.no_grad():
        for _ in range(timed):
            model(batch_of(x_val, config.batch_size))
    sync()
    val_seconds = (time.perf_counter() - started) / max(timed, 1) * val_batches
    epoch_seconds = step_seconds * steps_per_epoch + val_seconds
    return {
        "step_seconds": step_seconds,
        "steps_per_epoch": float(steps_per_epoch),
        "epoch_seconds": epoch_seconds,
        "total_seconds": epoch_seconds * config.max_epochs,
    }


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3.5 min"`` or ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def say(args: argparse.Namespace, message: str) -> None:
    """Progress text to stderr unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)
