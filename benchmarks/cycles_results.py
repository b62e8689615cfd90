"""Evidence for the cycle (H1) term: docs/results/cycles.md.

On each loop data set (docs/cycles.md §4) and seed, every method embeds the test split
through ``topoae compare``'s own runner (:func:`topoae.apps.compare.methods.run_method`:
the paper's settings, early stopping on validation, TopoMap fitted on the test split),
then the H0 and H1 Wasserstein and bottleneck distances between the Vietoris–Rips
diagrams of the test data and its embedding (:func:`topoae.metrics.diagram_distances`,
both spaces scaled by their largest distance) are added to the paper's measures.

Usage (the documented full run; ``--quick`` settings are what this machine ran)::

    python benchmarks/cycles_results.py --seeds 5 --epochs 100 --out docs/results/cycles
    python benchmarks/cycles_results.py --seeds 2 --epochs 40 --samples 600 --out /tmp/cycles

Writes ``records.json`` (one record per data set, method and seed), ``table.md`` and one
figure per data set (``<dataset>.png``: the first seed's test embeddings) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

# One numba thread too (the machine is shared); set before numba starts.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

DATASETS = ("circle", "torus", "linked-rings", "k4-edges", "k5-edges", "twist")
METHODS = ("ae", "topoae", "topoae-h1", "topoae-h1-cascade", "umap", "topomap")
#: Neighbourhood sizes of the local measures: the paper's 10, 20, ... capped where the
#: smallest test split allows (K4 edges: 120 test points, k <= 79).
KS = tuple(range(10, 71, 10))
MEASURES = ("wasserstein_h0", "wasserstein_h1", "bottleneck_h0", "bottleneck_h1")
PAPER = ("kl_0.1", "trustworthiness", "continuity", "mrre", "data_mse")


def run_one(dataset, method, seed, args):
    import torch

    from topoae import datasets
    from topoae.apps.compare.methods import run_method
    from topoae.metrics.diagrams import diagram_distances

    kwargs = {"n_samples": args.samples} if args.samples else {}
    data = datasets.load(dataset, seed=seed, **kwargs)
    # One torch thread for every run: numba's first parallel kernel (in the measures) sets
    # OpenMP's count to the cores, which torch then follows (docs/reliability.md).
    torch.set_num_threads(1)
    started = time.perf_counter()
    result = run_method(
        method,
        data,
        seed=seed,
        max_epochs=args.epochs,
        patience=args.patience,
        device="cpu",
        ks=KS,
    )
    seconds = time.perf_counter() - started
    distances = diagram_distances(data.x_test, result.latent, n_subsample=args.diagram_points)
    record = {
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "n_test": len(data.x_test),
        "seconds": seconds,
        "fit_seconds": result.seconds["fit"],
        "epochs": result.info.get("epochs"),
        **{key: distances[key] for key in MEASURES},
        **{key: result.measures.get(key) for key in PAPER},
    }
    return record, result.latent, data.y_test


def table(records):
    from topoae import paper

    lines = []
    headers = ["method", "W H0", "W H1", "B H0", "B H1", "KL_0.1", "Trust", "Cont", "MRRE"]
    headers += ["Data MSE", "s / run"]
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        chosen = [r for r in records if r["dataset"] == dataset]
        seeds = sorted({r["seed"] for r in chosen})
        n_test = chosen[0]["n_test"]
        lines += [f"#### {dataset} (test split {n_test} points, seeds {seeds})", ""]
        lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for method in dict.fromkeys(r["method"] for r in chosen):
            rows = [r for r in chosen if r["method"] == method]
            cells = [paper.METHODS[method]]
            for key in (*MEASURES, *PAPER[:4], "data_mse", "seconds"):
                values = np.array([r[key] for r in rows if r[key] is not None], dtype=float)
                if not len(values):
                    cells.append("–")
                elif len(values) > 1:
                    cells.append(f"{values.mean():.3g} ± {values.std(ddof=1):.2g}")
                else:
                    cells.append(f"{values.mean():.3g}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="first N of the paper's seeds")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--samples", type=int, default=0, help="points per data set (0: default)")
    parser.add_argument("--diagram-points", type=int, default=400, help="diagram subsample")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import torch

    from topoae import paper
    from topoae.plotting import plot_embeddings

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = paper.PAPER_SEEDS[: args.seeds]
    records = []
    load_before = os.getloadavg()
    for dataset in args.datasets.split(","):
        panels = {}
        for seed in seeds:
            for method in args.methods.split(","):
                record, latent, labels = run_one(dataset, method, seed, args)
                records.append(record)
                print(
                    f"{dataset} {method} seed {seed}: W1 {record['wasserstein_h1']:.3f} "
                    f"W0 {record['wasserstein_h0']:.3f} ({record['seconds']:.1f} s)",
                    flush=True,
                )
                if seed == seeds[0]:
                    panels[paper.METHODS[method]] = (latent, labels)
        figure = plot_embeddings(
            panels,
            args.out / f"{dataset}.png",
            title=f"{dataset}: test embeddings (seed {seeds[0]})",
        )
        import matplotlib.pyplot as plt

        plt.close(figure)
        (args.out / "records.json").write_text(json.dumps(records, indent=1))
    settings = {**{k: str(v) for k, v in vars(args).items()}, "seeds_used": list(seeds)}
    settings["load_before"], settings["load_after"] = load_before, os.getloadavg()
    (args.out / "records.json").write_text(json.dumps({"settings": settings, "records": records}))
    (args.out / "table.md").write_text(table(records) + "\n")
    print(table(records))
    print(settings)


if __name__ == "__main__":
    main()
