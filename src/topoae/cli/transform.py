"""``topoae transform``: embed new rows with a trained run's preprocessing and model.

A run on a user's file reads the new file with the run's columns (by name where both have
names, else by position) and its recorded standardisation
(:func:`topoae.datasets.files.read_rows_like`). A run on a registered data set takes rows of
that data set's features by position: Spheres' raw coordinates are standardised as its loader
does (mean and population std of the 9,000 points outside the fixed test split, recomputed
from :func:`~topoae.datasets.spheres.make_spheres` with the default settings); the image data
sets take flattened pixels already scaled to [-1, 1] as their loaders return them.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np

from topoae.cli import CLIError
from topoae.cli._common import format_table, positive_int, say

#: Output formats by extension.
OUTPUTS = {".csv": "csv", ".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".h5ad": "h5ad"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "transform",
        help="embed new rows with a trained run (its preprocessing, its model)",
        description=(
            "Embed every row of NEW_DATA (.csv, .tsv, .npy, .npz, .parquet, .h5ad) with the "
            "model and the preprocessing of the `topoae train` folder RUN, in batches, and "
            "write the codes in the file's row order to --out: .csv (columns 0, 1, ...), .npy, "
            ".parquet, or .h5ad (a copy of an .h5ad NEW_DATA with obsm['X_topoae'])."
        ),
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="a `topoae train` folder")
    parser.add_argument("new_data", type=Path, metavar="NEW_DATA", help="rows to embed")
    parser.add_argument("--out", required=True, type=Path, help="FILE.csv, .npy, .parquet, .h5ad")
    parser.add_argument("--use-rep", metavar="KEY", help=".h5ad: an obsm key (default: the run's)")
    parser.add_argument("--layer", metavar="NAME", help=".h5ad: a layer (default: the run's)")
    parser.add_argument(
        "--batch-size", type=positive_int, default=2048, help="rows per forward pass (2048)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from topoae.core.evaluation import embed
    from topoae.runs.folder import load_run_model, read_config

    kind = OUTPUTS.get(args.out.suffix.lower())
    if kind is None:
        raise CLIError(f"--out {args.out}: choose an extension of {', '.join(sorted(OUTPUTS))}.")
    if kind == "h5ad" and args.new_data.suffix.lower() != ".h5ad":
        raise CLIError("--out FILE.h5ad needs an .h5ad NEW_DATA (the cells to copy).")
    config = read_config(args.run_dir)
    if config is None or not (args.run_dir / "model.pt").exists():
        raise CLIError(
            f"{args.run_dir} is not a finished topoae run (config.json and model.pt are "
            "needed); point at the --out folder of `topoae train`."
        )
    model = load_run_model(args.run_dir, device=args.device)
    autoencoder: Any = model.autoencoder
    input_shape = tuple(autoencoder.input_shape)
    rows = _rows(args, config, input_shape)
    say(args, f"embedding {len(rows)} rows of {args.new_data} with {args.run_dir}")
    latent = embed(model, _Shaped(rows, input_shape), batch_size=args.batch_size)
    _write(args, kind, latent, config)
    print(format_table(["output", "rows", "dimensions"], [[args.out, *latent.shape]]))
    return 0


def _rows(args: argparse.Namespace, config: dict[str, Any], input_shape: tuple[int, ...]):
    """The new rows, read and preprocessed as the run's data were."""
    from topoae.datasets.files import read_rows_like

    record = config.get("data_source")
    if record is None:
        if args.use_rep is not None or args.layer is not None:
            raise CLIError("--use-rep and --layer apply to runs on .h5ad files only.")
        record = _registered_record(str(config.get("dataset")), input_shape)
    return read_rows_like(args.new_data, record, use_rep=args.use_rep, layer=args.layer)


def _registered_record(name: str, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """A file-source record that reads rows by position with ``name``'s preprocessing."""
    from topoae.datasets.files import RECORD_VERSION

    n_features = int(np.prod(input_shape))
    mean = std = None
    if name == "spheres":
        mean, std = spheres_scaling()
    return {
        "kind": "file",
        "version": RECORD_VERSION,
        "path": name,
        "format": "registered",
        "sha256": None,
        "n_rows": 0,
        "n_features": n_features,
        "feature_names": None,
        "features": None,
        "label_column": None,
        "label_names": None,
        "use_rep": None,
        "layer": None,
        "seed": 0,
        "test_fraction": 0.1,
        "validation_fraction": 0.15,
        "max_test": 1,
        "max_val": 1,
        "n_train": 0,
        "n_val": 0,
        "n_test": 0,
        "split_sha256": "",
        "standardize": mean is not None,
        "mean": mean,
        "std": std,
    }


def spheres_scaling() -> tuple[list[float], list[float]]:
    """Spheres' standardisation: mean and population std of the non-test points, as its loader.

    Recomputed from :func:`~topoae.datasets.spheres.make_spheres` (default settings, fixed
    seed), in float64 like the loader's float32 statistics promoted (the loader computes
    them in float32).
    """
    from topoae.datasets.spheres import make_spheres, spheres_test_indices

    x, _ = make_spheres()
    keep = np.ones(len(x), dtype=bool)
    keep[spheres_test_indices(len(x))] = False
    train = x[keep]
    return train.mean(axis=0).astype(np.float64).tolist(), train.std(axis=0).astype(
        np.float64
    ).tolist()


class _Shaped:
    """Row slices reshaped to the model's sample shape (images), read one batch at a time."""

    def __init__(self, rows, shape: tuple[int, ...]) -> None:
        self.rows, self.sample_shape = rows, shape

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> np.ndarray:
        part = self.rows[key]
        return part.reshape(len(part), *self.sample_shape)


def _write(args: argparse.Namespace, kind: str, latent: np.ndarray, config: dict) -> None:
    from topoae._io import atomic_write_bytes, atomic_write_text

    if kind == "csv":
        from topoae.runs.folder import embedding_to_csv

        atomic_write_text(args.out, embedding_to_csv(latent, None))
    elif kind == "npy":
        buffer = io.BytesIO()
        np.save(buffer, latent, allow_pickle=False)
        atomic_write_bytes(args.out, buffer.getvalue())
    elif kind == "parquet":
        atomic_write_bytes(args.out, _parquet_bytes(latent))
    else:
        from topoae.anndata import write_embedded

        settings = {"run": str(args.run_dir), "model": str(config.get("model", "topoae"))}
        write_embedded(args.new_data, args.out, latent, settings=settings)
    say(args, f"wrote {args.out}")


def _parquet_bytes(latent: np.ndarray) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from topoae.errors import MissingDependencyError

        raise MissingDependencyError(
            "Writing Parquet needs pyarrow: pip install 'topoae[files]'."
        ) from None
    table = pa.table({str(i): latent[:, i] for i in range(latent.shape[1])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
