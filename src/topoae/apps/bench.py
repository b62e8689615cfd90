"""Benchmarks: the training step against its peers, the pairing's scaling, whole trainings.

Used by ``topoae bench`` (and the thin scripts in ``benchmarks/``). Timings are
medians over *interleaved* repeats: every repeat times each variant in turn, so
that a burst of load on a shared machine hits all of them alike and the ratios
stay meaningful. Both wall-clock time and the process's CPU time are recorded
(the latter leaves out time spent waiting for a core), with the load average.

Peers of the training step, all with the same autoencoder, data and Adam:

- ``ae``: the vanilla autoencoder (``lam = 0``), the baseline of the ratios;
- ``topoae``: ours (:class:`~topoae.core.models.TopologicallyRegularizedAutoencoder`);
- ``union_find``: the topological loss with a pure-Python union–find pairing
  (stable-sorted Kruskal, the reference implementation's approach) on full
  torch distance matrices, written here as a peer;
- ``torch_topological``: ``VietorisRipsComplex(dim=0)`` + ``SignatureLoss`` of
  torch-topological (optional; skipped when it is not installed).
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from topoae.core.models import (
    DeepAutoencoder,
    MLPAutoencoder,
    TopologicallyRegularizedAutoencoder,
)
from topoae.core.topology import persistence_pairs
from topoae.core.training import make_optimizer
from topoae.errors import InputError
from topoae.paper import PRESETS, image_data_scale

__all__ = [
    "PEERS",
    "BenchResult",
    "bench_pairing",
    "bench_step",
    "bench_training",
    "environment",
    "union_find_pairs",
]

#: Step variants, in table order.
PEERS = ("ae", "topoae", "union_find", "torch_topological")

_SPHERES, _MNIST = PRESETS["spheres"].models["topoae"], PRESETS["mnist"].models["topoae"]
#: The paper's Spheres TopoAE settings (docs/method.md §6), from :mod:`topoae.paper`.
SPHERES_LAM, SPHERES_LR, SPHERES_BATCH = _SPHERES.lam, _SPHERES.learning_rate, _SPHERES.batch_size
#: The paper's MNIST TopoAE settings.
MNIST_LAM, MNIST_LR, MNIST_BATCH = _MNIST.lam, _MNIST.learning_rate, _MNIST.batch_size


@dataclass
class BenchResult:
    """One benchmark's rows plus the conditions they were measured under."""

    name: str
    rows: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def environment() -> dict[str, Any]:
    """Machine facts to store with results: CPU, threads, versions, device, load."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


# ---------------------------------------------------------------------------
# The pure-Python union–find peer
# ---------------------------------------------------------------------------


def union_find_pairs(dist: np.ndarray) -> np.ndarray:
    """0-dimensional persistence pairs the way the reference implementation computes them.

    A stable-sorted Kruskal with a union–find in plain Python, written here as a
    peer. It follows the reference in everything that sets its cost: every entry
    of the upper triangle *including the diagonal* is an edge, all of them are
    visited (no early exit once the tree is whole), the loop walks NumPy scalars,
    and the union–find keeps its parents in a NumPy array with a recursive ``find``
    that compresses paths; a merge hangs the younger root (larger index) under the
    older one. Like the reference's, the recursion fails on long chains (about a
    thousand merges along a line exceed Python's recursion limit); the benchmarks
    use it on random points, where the trees stay shallow.

    Parameters
    ----------
    dist : ndarray of shape (n, n)

    Returns
    -------
    ndarray of shape (n - 1, 2), int64
        Edges ``(i, j)`` with ``i < j`` in the order they merge components, which is
        the filtration order of :func:`topoae.persistence_pairs`.
    """
    n = len(dist)
    rows, cols = np.triu_indices_from(dist)
    weights = dist[rows, cols]
    order = np.argsort(weights, kind="stable")
    parent = np.arange(n)

    def find(v):
        if parent[v] == v:
            return v
        parent[v] = find(parent[v])
        return parent[v]

    pairs = []
    for edge, _weight in zip(order, weights[order], strict=True):
        u, v = rows[edge], cols[edge]
        root_u, root_v = find(u), find(v)
        if root_u == root_v:  # a self-loop or an edge that closes a cycle
            continue
        if root_u > root_v:
            u, v = v, u
        parent[find(u)] = find(v)
        pairs.append((u, v))
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return np.sort(edges, axis=1)


class _UnionFindTopoAE(torch.nn.Module):
    """The topological autoencoder as the reference computes it, with the union–find peer.

    Full differentiable distance matrices by broadcasting (``‖x_i − x_j‖`` over an
    m×m×d difference tensor, as the reference does), both pairings by
    :func:`union_find_pairs` on host copies, the symmetric loss gathered from the
    matrices: the same objective as :class:`TopologicallyRegularizedAutoencoder`.
    """

    def __init__(self, autoencoder, lam: float, data_scale: float | None):
        super().__init__()
        self.autoencoder = autoencoder
        self.lam = lam
        self.data_scale = data_scale
        self.latent_norm = torch.nn.Parameter(torch.ones(()))

    @staticmethod
    def _distances(points: torch.Tensor) -> torch.Tensor:
        flat = points.reshape(len(points), -1)
        return torch.norm(flat[:, None] - flat, dim=2, p=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        z = self.autoencoder.encode(x)
        reconstruction = F.mse_loss(self.autoencoder.decode(z), x)
        dist_x = self._distances(x)
        dist_x = dist_x / (self.data_scale or dist_x.max())
        dist_z = self._distances(z) / self.latent_norm
        pairs_x = torch.from_numpy(union_find_pairs(dist_x.detach().cpu().numpy()))
        pairs_z = torch.from_numpy(union_find_pairs(dist_z.detach().cpu().numpy()))
        pairs_x, pairs_z = pairs_x.to(x.device), pairs_z.to(x.device)
        x_to_z = (dist_x[pairs_x[:, 0], pairs_x[:, 1]] - dist_z[pairs_x[:, 0], pairs_x[:, 1]]).pow(
            2
        )
        z_to_x = (dist_z[pairs_z[:, 0], pairs_z[:, 1]] - dist_x[pairs_z[:, 0], pairs_z[:, 1]]).pow(
            2
        )
        loss = reconstruction + self.lam * (x_to_z.sum() + z_to_x.sum()) / len(x)
        return loss, {"loss": loss.item()}


class _TorchTopologicalAE(torch.nn.Module):
    """The same autoencoder regularised with torch-topological's dimension-0 signature loss."""

    def __init__(self, autoencoder, lam: float):
        super().__init__()
        from torch_topological.nn import SignatureLoss, VietorisRipsComplex

        self.autoencoder = autoencoder
        self.lam = lam
        self.complex = VietorisRipsComplex(dim=0)
        self.signature = SignatureLoss(p=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        z = self.autoencoder.encode(x)
        reconstruction = F.mse_loss(self.autoencoder.decode(z), x)
        flat = x.reshape(len(x), -1)
        topological = self.signature([flat, self.complex(flat)], [z, self.complex(z)])
        loss = reconstruction + self.lam * topological
        return loss, {"loss": loss.item()}


def _has_torch_topological() -> bool:
    try:
        import torch_topological.nn  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------
# The training step
# ---------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_models(
    peers: Sequence[str], model: str, seed: int
) -> tuple[dict[str, torch.nn.Module], int | tuple[int, ...], float, float, float | None]:
    """Fresh, identically initialised variants of the Spheres MLP or the DeepAE."""
    input_shape: tuple[int, ...]
    build: type[MLPAutoencoder] | type[DeepAutoencoder]
    if model == "spheres":
        input_shape, lam, lr, data_scale = (101,), SPHERES_LAM, SPHERES_LR, None
        build = MLPAutoencoder
    elif model == "mnist":
        input_shape, lam, lr = (1, 28, 28), MNIST_LAM, MNIST_LR
        data_scale = image_data_scale(input_shape)
        build = DeepAutoencoder
    else:
        raise InputError(f"model must be 'spheres' or 'mnist', got {model!r}.")
    models: dict[str, torch.nn.Module] = {}
    for peer in peers:
        torch.manual_seed(seed)
        autoencoder = build(input_shape)
        if peer == "ae":
            models[peer] = TopologicallyRegularizedAutoencoder(autoencoder, 0.0)
        elif peer == "topoae":
            models[peer] = TopologicallyRegularizedAutoencoder(
                autoencoder, lam, data_scale=data_scale
            )
        elif peer == "union_find":
            models[peer] = _UnionFindTopoAE(autoencoder, lam, data_scale)
        elif peer == "torch_topological":
            models[peer] = _TorchTopologicalAE(autoencoder, lam)
        else:
            raise InputError(f"Unknown peer {peer!r}; choose from {', '.join(PEERS)}.")
    return models, input_shape, lam, lr, data_scale


def _batches(model: str, batch_size: int, count: int, seed: int) -> torch.Tensor:
    """``count`` batches shaped like the data set's: Spheres points, or MNIST-like images."""
    rng = np.random.default_rng(seed)
    if model == "spheres":
        from topoae.datasets import make_spheres

        points = make_spheres()[0]
        points = (points - points.mean(0)) / points.std(0)
        index = rng.integers(0, len(points), size=(count, batch_size))
        return torch.from_numpy(points[index].astype(np.float32))
    # Image-shaped input in [-1, 1] (no download needed: only the shape sets the cost).
    images = rng.uniform(-1, 1, size=(count, batch_size, 1, 28, 28))
    return torch.from_numpy(images.astype(np.float32))


def _run_steps(module, optimizer, data: torch.Tensor, count: int) -> None:
    """``count`` training steps on the batches of ``data`` (cycled)."""
    for k in range(count):
        loss, _ = module(data[k % len(data)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def bench_step(
    batch_sizes: Sequence[int] = (28, 64, 128, 256),
    *,
    model: str = "spheres",
    peers: Sequence[str] = PEERS,
    repeats: int = 31,
    steps: int = 10,
    warmup: int = 5,
    peer_batch_sizes: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time one training step (forward, loss, backward, Adam) of each peer, interleaved.

    Parameters
    ----------
    batch_sizes : sequence of int
    model : {"spheres", "mnist"}
        Spheres MLP on 101 features, or the DeepAE on 28×28 images.
    peers : sequence of str
        Subset of :data:`PEERS`; ``ae`` is always timed (the ratios' baseline).
        ``torch_topological`` is dropped with a note when not installed.
    repeats : int
        Interleaved repeats; each times ``steps`` consecutive steps per peer.
    steps, warmup : int
        Steps per timed block, untimed steps per peer before timing.
    peer_batch_sizes : sequence of int, optional
        Batch sizes at which the slow peers run (default: all).
    device : str or torch.device
    seed : int

    Returns
    -------
    BenchResult
        One row per batch size: median milliseconds per step of each peer, the
        ratio TopoAE / AE, the speed-ups of ours over the peers, steps per second
        and the load average.
    """
    device = torch.device(device)
    peers = ["ae", *[p for p in peers if p != "ae"]]
    notes = []
    if "torch_topological" in peers and not _has_torch_topological():
        peers.remove("torch_topological")
        notes.append("torch-topological not installed: pip install 'topoae[bench]'")
    rows = []
    for batch_size in batch_sizes:
        active = [
            p
            for p in peers
            if p in ("ae", "topoae") or peer_batch_sizes is None or batch_size in peer_batch_sizes
        ]
        models, *_, lr, _ = _step_models(active, model, seed)
        optimizers = {}
        for name, module in models.items():
            module.to(device).train()
            optimizers[name] = make_optimizer(module.parameters(), lr, weight_decay=1e-5)
        data = _batches(model, batch_size, steps, seed).to(device)

        for name in list(active):
            try:
                _run_steps(models[name], optimizers[name], data, warmup)
            except Exception as error:  # a peer that fails here (e.g. on a GPU) is left out
                if name in ("ae", "topoae"):
                    raise
                active.remove(name)
                notes.append(f"{name} left out at batch {batch_size}: {error}")
        times: dict[str, list[float]] = {name: [] for name in active}
        cpu_times: dict[str, list[float]] = {name: [] for name in active}
        load_before = _load()
        for _ in range(repeats):
            for name in active:
                _synchronize(device)
                started, cpu_started = time.perf_counter(), time.process_time()
                _run_steps(models[name], optimizers[name], data, steps)
                _synchronize(device)
                times[name].append((time.perf_counter() - started) / steps)
                cpu_times[name].append((time.process_time() - cpu_started) / steps)
        medians = {name: 1000 * statistics.median(values) for name, values in times.items()}
        cpu = {name: 1000 * statistics.median(values) for name, values in cpu_times.items()}
        row: dict[str, Any] = {"batch_size": batch_size}
        for name in PEERS:
            row[f"{name}_ms"] = medians.get(name)
        for name in PEERS:
            row[f"{name}_cpu_ms"] = cpu.get(name)
        # The fastest repeat: the least disturbed by other processes (timeit's choice).
        fastest = {name: 1000 * min(values) for name, values in times.items()}
        for name in PEERS:
            row[f"{name}_min_ms"] = fastest.get(name)
        ours = medians.get("topoae")
        row["ratio"] = ours / medians["ae"] if ours else None
        if ours:
            # The spread: quartiles of the per-repeat ratios (paired by repeat).
            paired = sorted(t / a for t, a in zip(times["topoae"], times["ae"], strict=True))
            row["ratio_paired"] = statistics.median(paired)
            row["ratio_q1"] = paired[len(paired) // 4]
            row["ratio_q3"] = paired[(3 * len(paired)) // 4]
            # CPU time (all threads of this process) counts only what the step itself
            # runs, not the time it waits for a core: steadier on a loaded machine.
            row["cpu_ratio"] = cpu["topoae"] / cpu["ae"]
            row["min_ratio"] = fastest["topoae"] / fastest["ae"]
        for name in ("union_find", "torch_topological"):
            row[f"{name}_speedup"] = medians[name] / ours if ours and name in medians else None
            row[f"{name}_cpu_speedup"] = cpu[name] / cpu["topoae"] if ours and name in cpu else None
            row[f"{name}_min_speedup"] = (
                fastest[name] / fastest["topoae"] if ours and name in fastest else None
            )
        row["topoae_steps_per_s"] = 1000 / ours if ours else None
        row["load"] = [load_before, _load()]
        rows.append(row)
        if progress is not None:
            progress(f"step benchmark: batch {batch_size} done")
    settings = {
        "model": model,
        "device": str(device),
        "repeats": repeats,
        "steps": steps,
        "warmup": warmup,
        "peers": peers,
        "notes": notes,
    }
    return BenchResult("step", rows, settings)


# ---------------------------------------------------------------------------
# The pairing alone
# ---------------------------------------------------------------------------


def _peak_extra_bytes(function: Callable[[], Any]) -> tuple[int, str]:
    """Peak memory the call adds beyond what the process holds before it.

    On Linux: the process's peak resident size (``VmHWM``), reset just before
    the call, minus the resident size before it; this sees compiled (numba)
    allocations too. Elsewhere: the peak of Python-tracked allocations.
    """
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset VmHWM to the current resident size
        before = _status_kib("VmRSS")
        function()
        return max(0, (_status_kib("VmHWM") - before) * 1024), "peak RSS"
    except OSError:
        tracemalloc.start()
        try:
            function()
            return tracemalloc.get_traced_memory()[1], "tracemalloc"
        finally:
            tracemalloc.stop()


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"{key} not in /proc/self/status")


def bench_pairing(
    sizes: Sequence[int] = (32, 64, 128, 256, 512, 1024, 2048, 4096),
    *,
    repeats: int = 5,
    union_find_max: int = 1024,
    dim: int = 10,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time :func:`topoae.persistence_pairs` (validation included) for growing n.

    Points: ``n`` standard-normal points in ``dim`` dimensions, float64 distances.
    Each row: median seconds, seconds / n² (flat for O(n²)), the matrix size and
    the extra peak memory of one call (O(n) expected), and the union–find peer's
    time up to ``union_find_max`` points (its pairs are checked to be equal).
    """
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(seed)
    warm = rng.normal(size=(8, dim))
    persistence_pairs(cdist(warm, warm))  # compile outside the timings
    rows = []
    for n in sizes:
        points = rng.normal(size=(n, dim))
        dist = cdist(points, points)
        runs = max(1, repeats if n <= 1024 else min(repeats, 3))
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            pairs = persistence_pairs(dist)
            times.append(time.perf_counter() - started)
        extra, how = _peak_extra_bytes(functools.partial(persistence_pairs, dist))
        seconds = statistics.median(times)
        row: dict[str, Any] = {
            "n": n,
            "ms": 1000 * seconds,
            "ns_per_n2": 1e9 * seconds / n**2,
            "matrix_mib": dist.nbytes / 2**20,
            "extra_kib": extra / 1024,
            "extra_bytes_per_n": extra / n,
            "memory_measure": how,
            "union_find_ms": None,
            "union_find_speedup": None,
        }
        if n <= union_find_max:
            started = time.perf_counter()
            reference = union_find_pairs(dist)
            row["union_find_ms"] = 1000 * (time.perf_counter() - started)
            row["union_find_speedup"] = row["union_find_ms"] / row["ms"]
            if not np.array_equal(reference, pairs):
                raise AssertionError(f"union-find and persistence_pairs disagree at n = {n}")
        row["load"] = _load()
        rows.append(row)
        if progress is not None:
            progress(f"pairing benchmark: n = {n} done")
    return BenchResult("pairing", rows, {"repeats": repeats, "dim": dim, "dtype": "float64"})


# ---------------------------------------------------------------------------
# Whole trainings
# ---------------------------------------------------------------------------


def bench_training(
    *,
    epochs: int = 3,
    batch_size: int = SPHERES_BATCH,
    repeats: int = 9,
    n_train: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Whole Spheres trainings (paper settings, fixed epoch count), AE and TopoAE interleaved.

    Both train with the TopoAE's paper settings (learning rate, weight decay) at
    the same ``batch_size`` for exactly ``epochs`` epochs (early stopping cannot
    end them sooner), validation included. Each repeat trains both back to back,
    in alternating order (so that a slow drift of the machine favours neither), and
    the per-repeat ratios are kept: their median (the *paired* ratio) is steadier
    than the ratio of the medians on a shared machine. ``n_train`` takes a subset
    (tests).
    """
    from topoae.core.training import TrainConfig, train
    from topoae.datasets import load

    data = load("spheres", seed=seed)
    x_train, x_val = data.x_train, data.x_val
    if n_train is not None:
        x_train, x_val = x_train[:n_train], x_val[: max(2, n_train // 5)]
    variants = {"ae": 0.0, "topoae": SPHERES_LAM}
    times: dict[str, list[float]] = {"ae": [], "topoae": []}
    cpu_times: dict[str, list[float]] = {"ae": [], "topoae": []}
    load_before = _load()
    for r in range(repeats):
        for name in ("ae", "topoae") if r % 2 == 0 else ("topoae", "ae"):
            config = TrainConfig(
                lam=variants[name],
                learning_rate=SPHERES_LR,
                batch_size=batch_size,
                max_epochs=epochs,
                patience=epochs + 1,
                seed=seed,
                device=device,
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            train(x_train, x_val, config)
            times[name].append(time.perf_counter() - started)
            cpu_times[name].append(time.process_time() - cpu_started)
        if progress is not None:
            progress(f"training benchmark: repeat {r + 1}/{repeats} done")
    ae, topoae = (statistics.median(times[k]) for k in ("ae", "topoae"))
    ae_cpu, topoae_cpu = (statistics.median(cpu_times[k]) for k in ("ae", "topoae"))
    paired = sorted(t / a for t, a in zip(times["topoae"], times["ae"], strict=True))
    row = {
        "batch_size": batch_size,
        "epochs": epochs,
        "n_train": len(x_train),
        "ae_s": ae,
        "topoae_s": topoae,
        "ratio": topoae / ae,
        "ratio_paired": statistics.median(paired),
        "ratio_q1": paired[len(paired) // 4],
        "ratio_q3": paired[(3 * len(paired)) // 4],
        "ratio_min": min(times["topoae"]) / min(times["ae"]),
        "ae_cpu_s": ae_cpu,
        "topoae_cpu_s": topoae_cpu,
        "cpu_ratio": topoae_cpu / ae_cpu,
        "load": [load_before, _load()],
    }
    return BenchResult("training", [row], {"repeats": repeats, "device": device})
