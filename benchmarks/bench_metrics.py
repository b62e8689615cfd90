"""Benchmark of ``topoae.metrics.evaluate``: wall time, CPU time and peak memory.

Each size runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own. Data: ``n`` standard-normal points of dimension ``d`` (float32, like flattened images)
and a 2-D embedding (a random linear projection of them), all 20 paper ks (10…200),
the three KL bandwidths and the cheap extras (stress, distance correlation, triplets).

Usage::

    python benchmarks/bench_metrics.py                 # n = 1,000 and 10,000, d = 784
    python benchmarks/bench_metrics.py --sizes 2000 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _child(n: int, dim: int, diagrams: bool) -> dict:
    """Run one measurement in this process and return its figures."""
    import numpy as np

    from topoae import metrics

    rng = np.random.default_rng(0)
    # Load (or compile) the numba kernels on a tiny input first: not part of the timing.
    start = time.perf_counter()
    small = rng.normal(size=(64, 5))
    metrics.evaluate(small, small[:, :2], ks=[5, 10], extra=False)
    warmup = time.perf_counter() - start

    X = rng.normal(size=(n, dim)).astype(np.float32)
    Z = X @ rng.normal(size=(dim, 2)).astype(np.float32)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    result = metrics.evaluate(X, Z, diagrams=diagrams)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "n": n,
        "dim": dim,
        "n_ks": len(result["ks"]),
        "diagrams": diagrams,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "warmup_s": round(warmup, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mib": round(rss_before, 1),
        "trustworthiness": round(result["trustworthiness"], 4),
        "kl_0.1": round(result["kl_0.1"], 5),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a Markdown table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--diagrams", action="store_true", help="include diagram distances")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.sizes[0], args.dim, args.diagrams)))
        return 0

    rows = []
    for n in args.sizes:
        command = [sys.executable, __file__, "--child", "--sizes", str(n), "--dim", str(args.dim)]
        if args.diagrams:
            command.append("--diagrams")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return done.returncode
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ["n", "dim", "n_ks", "wall_s", "cpu_s", "peak_rss_mib", "warmup_s"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
