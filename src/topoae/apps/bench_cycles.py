"""Benchmark: the cost of the cycle (H1) term in the training step (docs/cycles.md §6).

The same protocol as :func:`topoae.apps.bench.bench_step` (interleaved repeats, medians,
wall-clock and CPU time, the load average): the Spheres MLP (``100→32→32→2``) with Adam
on batches of the ``circle`` data set (100 features), timed as

- ``ae``: the vanilla autoencoder, the baseline of the ratios;
- ``topoae``: the paper's H0 term (its compiled CPU path);
- ``h1_<formulation>``: H0 plus the H1 term (:class:`~topoae.core.losses.CycleLoss`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from topoae.apps.bench import SPHERES_LAM, SPHERES_LR, BenchResult, _load, _run_steps
from topoae.core.models import MLPAutoencoder, TopologicallyRegularizedAutoencoder
from topoae.core.training import make_optimizer

__all__ = ["bench_cycles"]


def _variants(formulations: Sequence[str], seed: int) -> dict[str, torch.nn.Module]:
    """Identically initialised models: AE, H0, and H0 + H1 per formulation."""
    models: dict[str, torch.nn.Module] = {}
    settings: dict[str, dict[str, Any]] = {"ae": {"lam": 0.0}, "topoae": {"lam": SPHERES_LAM}}
    for formulation in formulations:
        settings[f"h1_{formulation}"] = {
            "lam": SPHERES_LAM,
            "homology_dims": (0, 1),
            "cycle_formulation": formulation,
        }
    for name, kwargs in settings.items():
        torch.manual_seed(seed)
        lam = kwargs.pop("lam")
        models[name] = TopologicallyRegularizedAutoencoder(MLPAutoencoder(100), lam, **kwargs)
    return models


def _circle_batches(batch_size: int, count: int, seed: int) -> torch.Tensor:
    from topoae.datasets.loops import make_circle

    points = make_circle()[0]
    index = np.random.default_rng(seed).integers(0, len(points), size=(count, batch_size))
    return torch.from_numpy(points[index].astype(np.float32))


def bench_cycles(
    batch_sizes: Sequence[int] = (32, 64, 128),
    *,
    formulations: Sequence[str] = ("persistence", "cascade"),
    repeats: int = 15,
    steps: int = 10,
    warmup: int = 3,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time the training step with and without the H1 term, interleaved.

    Parameters
    ----------
    batch_sizes : sequence of int
    formulations : sequence of str
        Cycle formulations to time (each an ``h1_<name>`` variant).
    repeats, steps, warmup : int
        As in :func:`~topoae.apps.bench.bench_step`.
    device : str or torch.device
    seed : int

    Returns
    -------
    BenchResult
        One row per batch size: ``<variant>_ms`` (median wall time per step),
        ``<variant>_cpu_ms``, ``<variant>_ratio`` (against ``ae``, medians of the
        per-repeat ratios) and the load average before and after.
    """
    device = torch.device(device)
    rows = []
    for batch_size in batch_sizes:
        models = _variants(formulations, seed)
        optimizers = {}
        for module in models.values():
            module.to(device).train()
        for name, module in models.items():
            optimizers[name] = make_optimizer(module.parameters(), SPHERES_LR, weight_decay=1e-5)
        data = _circle_batches(batch_size, steps, seed).to(device)
        for name, module in models.items():
            _run_steps(module, optimizers[name], data, warmup)
        times: dict[str, list[float]] = {name: [] for name in models}
        cpu_times: dict[str, list[float]] = {name: [] for name in models}
        load_before = _load()
        for _ in range(repeats):
            for name, module in models.items():
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                started, cpu_started = time.perf_counter(), time.process_time()
                _run_steps(module, optimizers[name], data, steps)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times[name].append((time.perf_counter() - started) / steps)
                cpu_times[name].append((time.process_time() - cpu_started) / steps)
        row: dict[str, Any] = {"batch_size": batch_size}
        for name in models:
            row[f"{name}_ms"] = 1000 * statistics.median(times[name])
            row[f"{name}_cpu_ms"] = 1000 * statistics.median(cpu_times[name])
            paired = [t / a for t, a in zip(times[name], times["ae"], strict=True)]
            row[f"{name}_ratio"] = statistics.median(paired)
        row["load"] = [load_before, _load()]
        rows.append(row)
        if progress is not None:
            progress(f"cycles benchmark: batch {batch_size} done")
    settings = {
        "model": "spheres-mlp on circle (100 features)",
        "device": str(device),
        "repeats": repeats,
        "steps": steps,
        "warmup": warmup,
        "variants": list(models),
        "notes": [],
    }
    return BenchResult("cycles", rows, settings)
