"""Benchmark: the quality measures against scikit-learn's, side by side (docs/metrics.md).

For each n, the same data (standard-normal float32 points of ``dim`` features, a 2-D linear
projection as the embedding, labels) is measured, interleaved over repeats:

- ``topoae``: :func:`topoae.metrics.evaluate` with everything (the paper's 20 ks, or those
  n allows; three KL bandwidths, the co-ranking curve, kNN accuracy, the extras), exact;
- ``topoae_trust``: :func:`topoae.metrics.trustworthiness` at one k, the like-for-like
  call;
- ``sklearn_trust``: :func:`sklearn.manifold.trustworthiness` at the same k, which holds
  the n × n distance matrices and their full argsort.

The rows give median wall times, the ratios (scikit-learn's one-k time over each of
topoae's, so > 1 means topoae is faster), each call's peak extra memory, and both
trustworthiness values (they must agree: the definitions are the same).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from topoae.apps.bench import BenchResult, _load, _peak_extra_bytes

__all__ = ["bench_measures"]

#: The k of the like-for-like trustworthiness call.
TRUST_K = 10


def _data(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    Z = X @ rng.normal(size=(dim, 2)).astype(np.float32)
    return X, Z, X[:, 0] > 0


def bench_measures(
    sizes: Sequence[int] = (2000, 5000),
    *,
    dim: int = 784,
    repeats: int = 3,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time topoae's measures and scikit-learn's trustworthiness on the same data.

    Parameters
    ----------
    sizes : sequence of int
        Numbers of points (each at least 3 · ``TRUST_K``; scikit-learn holds n × n arrays,
        so keep n to a few 10⁴).
    dim : int
        Features of X.
    repeats : int
        Interleaved repeats; the medians are reported.
    seed : int
    progress : callable, optional
        Called with a line per size.

    Returns
    -------
    BenchResult
        One row per n: ``<variant>_s`` (median seconds), ``<variant>_peak_mib``,
        ``ratio_all`` (scikit-learn's one k over topoae's everything) and ``ratio_trust``
        (over topoae's one k), ``trust_topoae`` / ``trust_sklearn`` and the load.
    """
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    from topoae import metrics

    variants: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], Any]] = {
        "topoae": lambda X, Z, y: metrics.evaluate(
            X, Z, ks=metrics.usable_ks(len(X)), labels=y, max_exact=None
        ),
        "topoae_trust": lambda X, Z, y: metrics.trustworthiness(X, Z, k=TRUST_K),
        "sklearn_trust": lambda X, Z, y: sklearn_trustworthiness(X, Z, n_neighbors=TRUST_K),
    }
    small = _data(100, 8, seed)
    for run in variants.values():  # compile the numba kernels outside the timings
        run(*small)
    rows = []
    for n in sizes:
        X, Z, y = _data(int(n), dim, seed)
        times: dict[str, list[float]] = {name: [] for name in variants}
        values: dict[str, Any] = {}
        for _ in range(repeats):
            for name, run in variants.items():
                start = time.perf_counter()
                values[name] = run(X, Z, y)
                times[name].append(time.perf_counter() - start)
        row: dict[str, Any] = {"n": int(n), "dim": dim}
        for name, run in variants.items():
            row[f"{name}_s"] = statistics.median(times[name])
            peak, _ = _peak_extra_bytes(partial(run, X, Z, y))
            row[f"{name}_peak_mib"] = peak / 2**20
        row["ratio_all"] = row["sklearn_trust_s"] / row["topoae_s"]
        row["ratio_trust"] = row["sklearn_trust_s"] / row["topoae_trust_s"]
        row["trust_topoae"] = float(values["topoae_trust"])
        row["trust_sklearn"] = float(values["sklearn_trust"])
        row["trust_evaluate"] = float(values["topoae"]["trustworthiness_per_k"][0])
        row["load"] = _load()
        rows.append(row)
        if progress is not None:
            progress(
                f"measures n={n}: topoae everything {row['topoae_s']:.2f} s, one k "
                f"{row['topoae_trust_s']:.2f} s, scikit-learn one k {row['sklearn_trust_s']:.2f} s"
            )
    settings = {"repeats": repeats, "trust_k": TRUST_K, "seed": seed, "ks": len(metrics.DEFAULT_KS)}
    return BenchResult("measures", rows, settings)
