"""Benchmark of ``topoae.metrics.evaluate``: wall time, CPU time and peak memory.

Each size runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own. Data: ``n`` standard-normal points (float32, like flattened images), a 2-D embedding
(a random linear projection of them), labels (the sign of the first coordinate), all 20
paper ks (10…200), the three KL bandwidths and every extra (stress, Pearson, Spearman,
triplets). Sizes up to ``--max-exact`` are exact (every measure, every k, the AUC); larger
ones are estimated from ``--sample-size`` query points.

Large sizes (n >= 50,000) run only while the 1-minute load average is below ``--max-load``
(the shared 2-core machine is otherwise measuring other people's jobs); the load before and
after each run is reported beside the figures.

Usage::

    python benchmarks/bench_metrics.py                           # n = 10,000, d = 784
    python benchmarks/bench_metrics.py --sizes 10000 50000 100000 --estimated 1000000
    python benchmarks/bench_metrics.py --sizes 2000 --json
    python benchmarks/bench_metrics.py --sizes 10000 50000 --device cuda     # the torch pass
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

_LARGE = 50_000


def _child(n: int, dim: int, max_exact: int, sample_size: int | None, device: str) -> dict:
    """Run one measurement in this process and return its figures."""
    import numpy as np

    from topoae import metrics

    rng = np.random.default_rng(0)
    # Load (or compile) the numba kernels on a tiny input first: not part of the timing.
    start = time.perf_counter()
    small = rng.normal(size=(300, 20))
    metrics.evaluate(small, small[:, :2], ks=[5, 10], labels=small[:, 0] > 0, device=device)
    metrics.evaluate(small, small[:, :2], ks=[5, 10], max_exact=100, sample_size=50, device=device)
    warmup = time.perf_counter() - start

    X = rng.normal(size=(n, dim)).astype(np.float32)
    Z = X @ rng.normal(size=(dim, 2)).astype(np.float32)
    labels = X[:, 0] > 0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    result = metrics.evaluate(
        X, Z, labels=labels, max_exact=max_exact, sample_size=sample_size, device=device
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "n": n,
        "dim": dim,
        "device": device,
        "mode": "estimated" if result["estimated"] else "exact",
        "queries": result["n_queries"],
        "n_ks": len(result["ks"]),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "warmup_s": round(warmup, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_mib": round(rss_before),
        "trustworthiness": round(result["trustworthiness"], 4),
        "trust_ci95": round(result.get("trustworthiness_ci95", 0.0), 4),
        "continuity_ci95": round(result.get("continuity_ci95", 0.0), 4),
        "auc_r_nx": round(result["auc_r_nx"], 4) if "auc_r_nx" in result else None,
        "kl_0.1": round(result["kl_0.1"], 5),
    }


def _run(n, dim, max_exact, sample_size, max_load, wait, device="cpu") -> dict:
    deadline = time.monotonic() + wait
    while n >= _LARGE and os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(15)  # let the previous run's load (and other jobs') decay
    load_before = os.getloadavg()[0]
    row = {"n": n, "dim": dim, "load_before": round(load_before, 2)}
    if n >= _LARGE and load_before >= max_load:
        return {**row, "mode": f"skipped (load {load_before:.2f} >= {max_load})"}
    command = [sys.executable, __file__, "--child", "--sizes", str(n), "--dim", str(dim)]
    command += ["--max-exact", str(max_exact), "--device", device]
    if sample_size is not None:
        command += ["--sample-size", str(sample_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return {**row, "mode": f"failed (exit {done.returncode})"}
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**row, **figures, "load_after": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a Markdown table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000], help="exact sizes")
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--estimated", type=int, nargs="*", default=[], help="estimated sizes")
    parser.add_argument("--estimated-dim", type=int, default=50)
    parser.add_argument("--sample-size", type=int, default=None)
    parser.add_argument("--max-exact", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-load", type=float, default=2.5)
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for low load")
    parser.add_argument(
        "--device", default="cpu", help="evaluate's device: cpu (compiled passes), cuda, auto"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        figures = _child(args.sizes[0], args.dim, args.max_exact, args.sample_size, args.device)
        print(json.dumps(figures))
        return 0

    top = max(args.sizes, default=0)
    rows = [_run(n, args.dim, top, None, args.max_load, args.wait, args.device) for n in args.sizes]
    rows += [
        _run(n, args.estimated_dim, 0, args.sample_size, args.max_load, args.wait, args.device)
        for n in args.estimated
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ["n", "dim", "device", "mode", "queries", "wall_s", "cpu_s", "peak_rss_mib"]
    columns += ["trust_ci95", "continuity_ci95", "load_before", "load_after"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
