"""``topoae bench``: the training step against the peers, pairing scaling, whole trainings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from topoae._io import write_json
from topoae.apps import bench
from topoae.cli import CLIError
from topoae.cli._common import format_table, positive_int, say

BENCHMARKS = ("step", "mnist", "pairing", "training", "cycles", "measures")
#: What a plain ``topoae bench`` runs (the cycle term's cost is asked for by name).
DEFAULT_BENCHMARKS = ("step", "mnist", "pairing", "training")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text}"
        ) from error
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"sizes must be integers >= 2, got {text}")
    return values


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(unknown) or text!r}; "
            f"choose from {', '.join(BENCHMARKS)}"
        )
    return names


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the training step against the peers, the pairing and whole trainings",
        description=(
            "Benchmarks, with interleaved repeats and medians (a shared machine's load hits "
            "all variants alike). step: Spheres MLP step of the vanilla AE, TopoAE, a "
            "pure-Python union-find TopoAE and torch-topological; mnist: the DeepAE on "
            "784 features; pairing: persistence_pairs for n = 32 ... 4096 (time, memory); "
            "training: whole Spheres trainings, AE vs TopoAE; cycles: the step with the H1 "
            "(cycle) term against AE and TopoAE at m = 32, 64, 128; measures: metrics.evaluate "
            "(everything) and trustworthiness against scikit-learn's trustworthiness on "
            "the same 784-feature data (cycles and measures are not run by default)."
        ),
    )
    parser.add_argument(
        "--which",
        type=_names,
        default=list(DEFAULT_BENCHMARKS),
        metavar="LIST",
        help=f"comma-separated subset of {','.join(BENCHMARKS)} "
        f"(default: {','.join(DEFAULT_BENCHMARKS)})",
    )
    parser.add_argument(
        "--sizes", type=_int_list, help="step batch sizes (default 28,64,128,256; quick: 28,128)"
    )
    parser.add_argument(
        "--pairing-sizes", type=_int_list, help="pairing n (default 32,64,...,4096; quick: to 512)"
    )
    parser.add_argument(
        "--measure-sizes",
        type=_int_list,
        help="points of the measures benchmark (default 2000,5000; quick: 1000,2000)",
    )
    parser.add_argument("--repeats", type=positive_int, help="interleaved repeats (default 31)")
    parser.add_argument("--steps", type=positive_int, default=10, help="steps per timed block")
    parser.add_argument(
        "--peers",
        default=",".join(bench.PEERS),
        help="comma-separated step peers (default: all; torch_topological if installed)",
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=3, help="epochs of the training benchmark (3)"
    )
    parser.add_argument(
        "--training-batch-size",
        type=positive_int,
        default=bench.SPHERES_BATCH,
        help="batch size of both trainings (default 28, the TopoAE's)",
    )
    parser.add_argument(
        "--training-repeats",
        type=positive_int,
        help="pairs of whole trainings, in alternating order (default 9; quick: 1)",
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="torch threads (2)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, or auto")
    parser.add_argument(
        "--quick", action="store_true", help="few repeats and sizes: a smoke run of a minute"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON results to this file")
    parser.set_defaults(func=run)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _paired(row: dict) -> str:
    """The median of the per-repeat ratios with its quartiles, e.g. ``1.15 (1.11–1.30)``."""
    median, q1, q3 = (_fmt(row.get(key)) for key in ("ratio_paired", "ratio_q1", "ratio_q3"))
    return f"{median} ({q1}–{q3})"


def cycles_table(result: bench.BenchResult) -> str:
    """Markdown table of the cycle-term benchmark: ms per step and ratios to the AE step."""
    variants = [v for v in result.settings["variants"] if v != "ae"]
    headers = ["batch", "AE ms"]
    for name in variants:
        headers += [f"{name} ms", "× AE"]
    rows = []
    for r in result.rows:
        row = [r["batch_size"], _fmt(r["ae_ms"], 3)]
        for name in variants:
            row += [_fmt(r[f"{name}_ms"], 3), _fmt(r[f"{name}_ratio"])]
        rows.append([*row, r["load"]])
    return format_table([*headers, "load"], rows)


def measures_table(result: bench.BenchResult) -> str:
    """Markdown table of the measures benchmark: seconds, memory, scikit-learn's ratios."""
    headers = ["n", "topoae everything s", "topoae trust s", "scikit-learn trust s"]
    headers += ["× (everything)", "× (trust)", "peak MiB (topoae / scikit-learn)"]
    headers += ["trust topoae", "trust scikit-learn", "load"]
    rows = []
    for r in result.rows:
        peak = f"{r['topoae_peak_mib']:.0f} / {r['sklearn_trust_peak_mib']:.0f}"
        rows.append(
            [
                r["n"], _fmt(r["topoae_s"]), _fmt(r["topoae_trust_s"]), _fmt(r["sklearn_trust_s"]),
                _fmt(r["ratio_all"], 1), _fmt(r["ratio_trust"], 1), peak,
                _fmt(r["trust_topoae"], 6), _fmt(r["trust_sklearn"], 6),
                _fmt(r["load"]),
            ]
        )  # fmt: skip
    return format_table(headers, rows)


def step_table(result: bench.BenchResult) -> str:
    """Markdown table of a step benchmark.

    Medians of wall-clock time per step and their ratio; beside it the median and
    quartiles of the per-repeat ratios (each repeat times AE and TopoAE back to
    back) and the ratio of CPU times, both less sensitive to other processes.
    """
    headers = ["batch", "AE ms", "TopoAE ms", "ratio", "paired ratio (q1–q3)", "CPU ratio"]
    headers += ["union-find ms", "×", "torch-topo ms", "×", "TopoAE steps/s", "load"]
    rows = []
    for r in result.rows:
        rows.append(
            [
                r["batch_size"],
                _fmt(r["ae_ms"], 3),
                _fmt(r["topoae_ms"], 3),
                _fmt(r["ratio"]),
                _paired(r),
                _fmt(r.get("cpu_ratio")),
                _fmt(r["union_find_ms"], 3),
                _fmt(r["union_find_speedup"], 1),
                _fmt(r["torch_topological_ms"], 3),
                _fmt(r["torch_topological_speedup"], 1),
                _fmt(r["topoae_steps_per_s"], 0),
                "/".join(_fmt(v) for v in r["load"]),
            ]
        )
    return format_table(headers, rows)


def pairing_table(result: bench.BenchResult) -> str:
    """Markdown table of the pairing benchmark."""
    headers = ["n", "ms", "ns / n²", "matrix MiB", "extra KiB", "extra B / n"]
    headers += ["union-find ms", "×", "load"]
    rows = [
        [
            r["n"],
            _fmt(r["ms"], 3),
            _fmt(r["ns_per_n2"], 2),
            _fmt(r["matrix_mib"], 2),
            _fmt(r["extra_kib"], 0),
            _fmt(r["extra_bytes_per_n"], 0),
            _fmt(r["union_find_ms"], 1),
            _fmt(r["union_find_speedup"], 0),
            _fmt(r["load"]),
        ]
        for r in result.rows
    ]
    return format_table(headers, rows)


def training_table(result: bench.BenchResult) -> str:
    """Markdown table of the training benchmark."""
    headers = ["batch", "epochs", "n_train", "AE s", "TopoAE s", "ratio", "paired ratio (q1–q3)"]
    headers += ["fastest ratio", "CPU ratio", "load"]
    rows = [
        [
            r["batch_size"],
            r["epochs"],
            r["n_train"],
            _fmt(r["ae_s"]),
            _fmt(r["topoae_s"]),
            _fmt(r["ratio"]),
            _paired(r),
            _fmt(r.get("ratio_min")),
            _fmt(r["cpu_ratio"]),
            "/".join(_fmt(v) for v in r["load"]),
        ]
        for r in result.rows
    ]
    return format_table(headers, rows)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device} requested but CUDA is not available; use cpu.")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(peers) - set(bench.PEERS)
    if unknown:
        raise CLIError(f"unknown peer(s) {', '.join(sorted(unknown))}; choose from {bench.PEERS}")
    quick = args.quick
    repeats = args.repeats or (5 if quick else 31)
    sizes = args.sizes or ([28, 128] if quick else [28, 64, 128, 256])
    pairing_sizes = args.pairing_sizes or (
        [32, 128, 512] if quick else [32, 64, 128, 256, 512, 1024, 2048, 4096]
    )

    def progress(message: str) -> None:
        say(args, message)

    results: dict[str, Any] = {"environment": bench.environment(), "command": vars_of(args)}
    sections = []
    if "step" in args.which:
        result = bench.bench_step(
            sizes,
            model="spheres",
            peers=peers,
            repeats=repeats,
            steps=args.steps,
            device=device,
            progress=progress,
        )
        results["step"] = result.to_dict()
        sections.append(("Training step, Spheres MLP (101 features)", step_table(result), result))
    if "mnist" in args.which:
        result = bench.bench_step(
            [bench.MNIST_BATCH],
            model="mnist",
            peers=["ae", "topoae"],
            repeats=max(3, repeats // 3),
            steps=max(2, args.steps // 2),
            device=device,
            progress=progress,
        )
        results["mnist"] = result.to_dict()
        sections.append(("Training step, DeepAE (784 features)", step_table(result), result))
    if "pairing" in args.which:
        result = bench.bench_pairing(pairing_sizes, repeats=3 if quick else 5, progress=progress)
        results["pairing"] = result.to_dict()
        sections.append(("persistence_pairs scaling", pairing_table(result), result))
    if "training" in args.which:
        result = bench.bench_training(
            epochs=1 if quick else args.epochs,
            batch_size=args.training_batch_size,
            repeats=args.training_repeats or (1 if quick else 9),
            n_train=1000 if quick else None,
            device=device,
            progress=progress,
        )
        results["training"] = result.to_dict()
        sections.append(("Whole Spheres training", training_table(result), result))
    if "cycles" in args.which:
        from topoae.apps.bench_cycles import bench_cycles

        result = bench_cycles(
            args.sizes or [32, 64, 128],
            repeats=args.repeats or (5 if quick else 15),
            steps=args.steps,
            device=device,
            progress=progress,
        )
        results["cycles"] = result.to_dict()
        sections.append(("Training step with the cycle (H1) term", cycles_table(result), result))
    if "measures" in args.which:
        from topoae.apps.bench_measures import bench_measures

        result = bench_measures(
            args.measure_sizes or ([1000, 2000] if quick else [2000, 5000]),
            repeats=args.repeats or (1 if quick else 3),
            progress=progress,
        )
        results["measures"] = result.to_dict()
        title = (
            f"Quality measures: evaluate (everything, {result.settings['ks']} ks) and "
            f"trustworthiness at k = {result.settings['trust_k']} vs scikit-learn's"
        )
        sections.append((title, measures_table(result), result))
    results["load_average_after"] = bench.environment().get("load_average")
    if args.out is not None:
        write_json(args.out, results)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    env = results["environment"]
    print(
        f"{env['processor']}, {env['cpu_count']} CPUs, torch {env['torch']} with "
        f"{env['torch_threads']} threads, device {device}; load average before "
        f"{env.get('load_average')}, after {results['load_average_after']}"
    )
    for title, table, result in sections:
        print(f"\n### {title}\n\n{table}")
        for note in result.settings.get("notes", []):
            print(f"\nNote: {note}")
    return 0


def vars_of(args: argparse.Namespace) -> dict[str, object]:
    """The command's settings, JSON-ready (for the record kept with the results)."""
    return {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("func",)
    }
