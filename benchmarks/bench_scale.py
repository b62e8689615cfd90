"""Training at a million points: seconds per epoch and memory from a memory-mapped ``.npy``.

For each size n (default 10⁴, 10⁵, 10⁶) it writes nested spheres in 50 dimensions (ten small
spheres inside a large one, as the paper's Spheres, 50 coordinates) to a ``.npy`` file in
blocks, then, in a fresh child process, loads the file as topoae's file loader does (memory
map, seeded split, streaming standardisation) and trains one epoch of TopoAE with the Spheres
settings (batch 28, λ 0.43358, lr 2.7268e-4, 1 thread). The child reports the epoch's
seconds (training and validation), the peak resident memory (VmHWM, which counts the pages of
the mapped file that were read) and the peak anonymous memory (RssAnon, sampled every 0.2 s:
what the process allocated beyond the map).

    python benchmarks/bench_scale.py                        # 10^4, 10^5, 10^6
    python benchmarks/bench_scale.py --sizes 10000,100000   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_spheres(path: Path, n: int, dim: int = 50, seed: int = 0, block: int = 200_000) -> None:
    """Nested spheres (ten of radius 1 at random centres inside one of radius 25), in blocks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=np.sqrt(25 / dim) * 2, size=(10, dim))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, block):
        m = min(block, n - start)
        points = rng.normal(size=(m, dim))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        label = rng.integers(0, 11, size=m)
        small = label < 10
        points[small] = points[small] + centres[label[small]]
        points[~small] *= 25
        out[start : start + m] = points.astype(np.float32)
    out.flush()
    del out


CHILD = r"""
import json, sys, threading, time
import torch
torch.set_num_threads(1)
from topoae import datasets
from topoae.core.training import TrainConfig, train

peak_anon = [0]
def watch():
    while True:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()

started = time.perf_counter()
data = datasets.load(sys.argv[1], seed=0)
load_seconds = time.perf_counter() - started
config = TrainConfig(max_epochs=1, device="cpu", seed=0)
result = train(data.x_train, data.x_val, config)
record = result.history[0]
with open("/proc/self/status") as f:
    hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
print(json.dumps({
    "n_train": len(data.x_train), "n_val": len(data.x_val),
    "load_s": load_seconds, "epoch_s": record["seconds"],
    "steps": len(data.x_train) // config.batch_size,
    "peak_rss_mib": hwm / 1024, "peak_anon_mib": peak_anon[0] / 1024,
    "lazy": type(data.x_train).__name__,
}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(folder) / f"spheres-{n}.npy"
            write_spheres(path, n, args.dim)
            load = os.getloadavg()[0]
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env
            )
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row.update(n=n, file_mib=path.stat().st_size / 2**20, load_before=load)
            row["load_after"] = os.getloadavg()[0]
            rows.append(row)
            print(
                f"n={n:>9,}: epoch {row['epoch_s']:7.1f} s ({row['steps']:,} steps, "
                f"{row['epoch_s'] / row['steps'] * 1e3:.2f} ms/step), load {row['load_s']:.1f} s, "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB, "
                f"peak anonymous {row['peak_anon_mib']:.0f} MiB, file {row['file_mib']:.0f} MiB, "
                f"load average {load:.1f} -> {row['load_after']:.1f}",
                flush=True,
            )
            time.sleep(1)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
