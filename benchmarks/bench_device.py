"""GPU checks that `topoae bench` does not cover: device pairing time and host syncs per step.

Run on a CUDA machine (benchmarks/gpu_check.sh calls it); writes JSON to --out and prints
Markdown tables. Without CUDA it says so and exits 0, so the script can be tried anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
import torch


def _time_cuda(function, repeats: int) -> float:
    """Median seconds of ``function()`` measured with CUDA events (device time)."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        function()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return float(np.median(times))


def pairing_times(sizes: list[int], repeats: int) -> list[dict]:
    """Device kernel vs host copy + compiled CPU Prim, for one m × m matrix each."""
    from topoae.core._device_prim import device_pairs
    from topoae.core.topology import persistence_pairs

    rows = []
    for m in sizes:
        points = torch.randn(m, 16, device="cuda")
        dist = torch.cdist(points, points)
        device_pairs(dist)  # compile
        device = _time_cuda(lambda dist=dist: device_pairs(dist), repeats)
        started = time.perf_counter()
        for _ in range(max(1, repeats // 4)):
            persistence_pairs(dist.cpu().numpy(), check=False)
        host = (time.perf_counter() - started) / max(1, repeats // 4)
        on_host = torch.from_numpy(persistence_pairs(dist.cpu().numpy()))
        same = bool(torch.equal(device_pairs(dist).cpu(), on_host))
        rows.append({"m": m, "device_ms": device * 1e3, "host_ms": host * 1e3, "identical": same})
    return rows


def host_syncs_per_step(batch_sizes: list[int], steps: int) -> list[dict]:
    """Synchronisations per TopoAE training step, counted by torch's sync debug mode."""
    from topoae.core.models import MLPAutoencoder, TopologicallyRegularizedAutoencoder
    from topoae.core.training import make_optimizer

    rows = []
    for m in batch_sizes:
        model = TopologicallyRegularizedAutoencoder(MLPAutoencoder(101, 2), 0.43).cuda()
        optimizer = make_optimizer(model.parameters(), 1e-3)
        data = torch.randn(steps + 2, m, 101, device="cuda")

        def step(batch, model=model, optimizer=optimizer):
            loss, _ = model(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        step(data[0])
        step(data[1])  # warm-up: first-call allocations and compilation
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for i in range(steps):
                    step(data[i + 2])
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message).lower() for w in caught)
        rows.append({"m": m, "steps": steps, "syncs_per_step": syncs / steps})
    return rows


def _table(rows: list[dict]) -> str:
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", default="128,256,512,1024,2048,4096,8192")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_device: no CUDA device here; nothing measured.")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "pairing": pairing_times(sizes, args.repeats),
        "syncs": host_syncs_per_step([28, 128, 512], steps=10),
    }
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)
    print(f"Device: {result['device']}\n\nPairing of one m × m matrix\n")
    print(_table(result["pairing"]))
    print("\nHost synchronisations per TopoAE training step (Spheres MLP)\n")
    print(_table(result["syncs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
