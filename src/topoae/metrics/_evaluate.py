"""``evaluate``: every measure of an embedding, exact up to ``max_exact`` points, else estimated."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from topoae.errors import InputError
from topoae.metrics import _reduce
from topoae.metrics._checks import (
    DEFAULT_KS,
    DEFAULT_SIGMAS,
    _as_2d_float,
    _check_ks,
    _check_labels,
    _check_pair,
    _check_sigmas,
    usable_ks,
)
from topoae.metrics._coranking import _full_pass
from topoae.metrics._distances import _max_distance_seen, _Space
from topoae.metrics._passes import _density_pass, _rank_pass
from topoae.metrics._spearman import (
    MAX_EXACT_PAIRS,
    SAMPLE_PAIRS,
    from_pairs,
    pair_columns,
    spearman,
)

#: Above this many points ``evaluate`` estimates the point-wise measures from a sample.
DEFAULT_MAX_EXACT = 20_000
#: Query points sampled when estimating (trust / continuity half-widths about 0.003).
DEFAULT_SAMPLE_SIZE = 5_000
#: Neighbours of the leave-one-out kNN classifier.
DEFAULT_KNN_K = 5
# Sampled rows that seed the farthest-point sweeps for the diameter in the estimated mode.
_SWEEP_ROWS = 256


def _adapt_ks(ks: Iterable[int], n: int) -> np.ndarray:
    """The requested ks that n points allow; a warning names the ones dropped."""
    asked = [int(k) for k in ks]
    _check_ks(asked, max(n, 10**9))  # integers >= 1, not empty
    kept = usable_ks(n, asked)
    if tuple(asked) != kept:
        warnings.warn(
            f"n = {n} points allow k <= {(2 * n - 2) // 3}: using ks {list(kept)} instead of "
            f"{asked} (means run over these only).",
            UserWarning,
            stacklevel=3,
        )
    return np.asarray(kept, dtype=np.int64)


def _sigma_key(sigma: float) -> str:
    return f"kl_{sigma:g}"


def _resolve_device(device: str | None) -> Any:
    """None (the compiled CPU passes) or the torch device that ``device`` names.

    ``None`` / ``"auto"``: the first CUDA device when torch sees one, else the CPU passes;
    ``"cpu"``: the CPU passes; anything else torch accepts (``"cuda"``, ``"cuda:1"``): torch.
    """
    if device is None or device == "auto":
        from topoae.metrics._torch_pass import cuda_available

        return _torch_device("cuda") if cuda_available() else None
    if device == "cpu":
        return None
    return _torch_device(device)


def _torch_device(name: str) -> Any:
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise InputError(
            f"device {name!r} is not a torch device: use 'auto', 'cpu' or 'cuda[:N]'."
        ) from error
    if device.type == "cuda":
        from topoae.metrics._torch_pass import cuda_available

        if not cuda_available():
            raise InputError(
                f"device {name!r} was asked for, but torch sees no CUDA device: use "
                "'auto' or 'cpu'."
            )
    return device


def _pass(space_x, space_z, ks, rows, n_top, sigmas, scales, block_rows, cols, full, device):
    """The rank pass over ``rows`` (full rankings for all rows with ``full``), on the device."""
    if device is not None:
        from topoae.metrics._torch_pass import torch_pass

        return torch_pass(
            space_x, space_z, ks, None if full else rows, n_top, sigmas, scales,
            None, cols, full, device,
        )  # fmt: skip
    if full:
        return _full_pass(space_x, space_z, ks, n_top, sigmas, scales, block_rows, cols)
    return _rank_pass(space_x, space_z, ks, rows, n_top, sigmas, scales, block_rows, cols)


def _neighbourhoods(
    X, Z, ks, sigmas, n_top, max_exact, sample_size, random_state, block_rows, n_pairs,
    device=None,
):  # fmt: skip
    """The one pass over distance rows: all rows exactly, or a seeded sample of rows.

    With ``n_pairs``, also gathers that many random pairs' distances (for Spearman).
    ``device`` None runs the compiled CPU passes, a torch device the torch pass.

    The KL densities divide by each space's largest distance, which is only known once
    every row has been seen. The pass starts from a lower bound found by a few
    farthest-point sweeps (:func:`_max_distance_seen`, a small fraction of a pass, and in
    practice the diameter itself); the pass's own row maxima then give the exact diameter
    (exact mode) or a better bound (sampled rows), and only if that exceeds the start are
    the densities computed again.
    """
    n = X.shape[0]
    space_x, space_z = _Space(X), _Space(Z)
    estimated = max_exact is not None and n > max_exact
    if estimated:
        m = DEFAULT_SAMPLE_SIZE if sample_size is None else int(sample_size)
        if not 2 <= m:
            raise InputError(f"sample_size must be at least 2, got {sample_size}.")
        m = min(m, n)
        rows = np.sort(np.random.default_rng(random_state).choice(n, m, replace=False))
        seeds = rows[:: max(1, m // _SWEEP_ROWS)]
    else:
        rows = np.arange(n)
        seeds = rows[:: max(1, n // _SWEEP_ROWS)]
    scales = (1.0, 1.0)  # only the densities divide by the diameters
    if len(sigmas):
        scales = (_max_distance_seen(space_x, seeds), _max_distance_seen(space_z, seeds))
    cols = pair_columns(rows, n, n_pairs, random_state) if n_pairs else None
    args = (space_x, space_z, ks, rows, n_top)
    per_row = _pass(*args, sigmas, scales, block_rows, cols, not estimated, device)
    seen = (float(per_row.pair[:, 6].max()), float(per_row.pair[:, 7].max()))
    if len(sigmas) and (seen[0] > scales[0] or seen[1] > scales[1]):
        scales = (max(seen[0], scales[0]), max(seen[1], scales[1]))
        if device is None:
            per_row.dens = _density_pass(space_x, space_z, sigmas, scales, rows, block_rows)
        else:  # a device pass is cheap: run it again rather than keep a second path
            per_row.dens = _pass(*args, sigmas, scales, block_rows, cols, False, device).dens
    return per_row, space_x, space_z, estimated


def evaluate(
    X,
    Z,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    sigmas: Iterable[float] = DEFAULT_SIGMAS,
    labels=None,
    knn_k: int = DEFAULT_KNN_K,
    X_hat=None,
    extra: bool = True,
    diagrams: bool = False,
    curves: bool = False,
    max_exact: int | None = DEFAULT_MAX_EXACT,
    sample_size: int | None = None,
    n_triplets: int = 10_000,
    n_subsample: int | None = 1000,
    random_state: int | None = 0,
    block_rows: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """All quality measures of an embedding in one pass over the distance rows.

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Test inputs (flattened), any numeric dtype.
    Z : array-like of shape (n, q)
        Their embedding.
    ks : iterable of int
        Neighbourhood sizes (default 10, 20, …, 200). Sizes above (2n - 2) / 3 are dropped
        with a warning (:func:`usable_ks`); ``ks`` in the result says which were used.
    sigmas : iterable of float
        KL bandwidths (default 0.01, 0.1, 1).
    labels : array-like of shape (n,), optional
        Class labels; adds ``knn_accuracy`` (leave-one-out, ``knn_k`` neighbours in Z).
    knn_k : int
        Neighbours of the kNN classifier (default 5).
    X_hat : array-like, optional
        Reconstructions of X; adds ``data_mse``.
    extra : bool
        Add ``stress``, ``distance_correlation`` (free from the same pass),
        ``spearman_correlation`` and ``triplet_accuracy``.
    diagrams : bool
        Add the diagram distances of :func:`diagram_distances` (needs the ``tda`` extra).
    curves : bool
        Exact mode only: add ``q_nx_curve`` and ``r_nx_curve``, lists over K = 1…n-2.
    max_exact : int or None
        Largest n computed exactly (default 20,000; None: always exact). Above it the
        point-wise measures come from ``sample_size`` seeded query points against all n.
    sample_size : int, optional
        Query points when estimating (default 5,000).
    n_triplets, n_subsample, random_state
        Triplets drawn, diagram subsample, and the seed of every sample (queries,
        pairs, triplets, diagram subsample).
    block_rows : int, optional
        Rows per block of distances (default: about 32 MB per block).
    device : str, optional
        Where the pass over distance rows runs: ``"auto"`` (default: a CUDA device when
        torch sees one, else the CPU), ``"cpu"`` (compiled numba kernels), or a torch
        device such as ``"cuda"`` / ``"cuda:1"`` (the same quantities in float64 torch; the
        ranks and integer counts are identical, sums agree to about 1e-15).

    Returns
    -------
    dict
        Plain floats / lists (JSON-ready). The paper's ``kl_<σ:g>``, ``mrre``,
        ``continuity``, ``trustworthiness``, ``rmse``; ``mrre_zx``, ``mrre_xz``, ``q_nx``,
        ``lcmc``, ``r_nx``, ``neighbourhood_preservation`` (means over ``ks``) and each
        one's ``<name>_per_k`` list aligned with ``ks``; ``auc_r_nx`` (exact mode);
        ``knn_accuracy`` (with labels); the extras; ``data_mse``; diagram distances.
        ``estimated`` is True when the point-wise measures were sampled (n > max_exact);
        ``estimated_measures`` lists every key that is an estimate, and each such key has
        a 95 % half-width ``<key>_ci95`` (``<name>_per_k_ci95`` for per-k lists);
        ``n_queries`` is the number of query rows used (n when exact).
    """
    X, Z = _check_pair(X, Z)
    n = X.shape[0]
    ks_arr = _adapt_ks(ks, n)
    sigma_arr = _check_sigmas(list(sigmas))
    if labels is not None:
        labels = _check_labels(labels, n)
        if not 1 <= int(knn_k) <= n - 1:
            raise InputError(f"knn_k must be between 1 and n - 1 = {n - 1}, got {knn_k}.")
    n_top = int(knn_k) if labels is not None else 0
    exact_spearman = n * (n - 1) // 2 <= MAX_EXACT_PAIRS
    n_pairs = SAMPLE_PAIRS if extra and not exact_spearman else 0
    per_row, space_x, space_z, estimated = _neighbourhoods(
        X, Z, ks_arr, sigma_arr, n_top, max_exact, sample_size, random_state, block_rows, n_pairs,
        _resolve_device(device),
    )  # fmt: skip
    values: dict[str, Any] = {}
    cis: dict[str, Any] = {}

    def put(name, value, ci=None):
        values[name] = value
        if ci is not None:
            cis[f"{name}_ci95"] = ci

    kl, kl_ci = _reduce.kl_values(per_row.dens, n)
    for s, v, c in zip(sigma_arr, kl, kl_ci, strict=True):
        put(_sigma_key(s), float(v), float(c) if estimated else None)
    ranks = _reduce.summary(per_row, n, ks_arr)
    for name in ("mrre", "continuity", "trustworthiness"):
        put(name, ranks[name], ranks[f"{name}_ci95"] if estimated else None)
    pairs = _reduce.pair_values(per_row.pair, n)
    put("rmse", pairs["rmse"], pairs["rmse_ci95"] if estimated else None)
    values["ks"] = [int(k) for k in ks_arr]
    for name in (
        "mrre_zx", "mrre_xz", "q_nx", "lcmc", "r_nx", "neighbourhood_preservation",
        "trustworthiness", "continuity",
    ):  # fmt: skip
        put(name, ranks[name], ranks[f"{name}_ci95"] if estimated else None)
        per_k_ci = ranks[f"{name}_per_k_ci95"] if estimated else None
        put(f"{name}_per_k", ranks[f"{name}_per_k"], per_k_ci)
    if per_row.hist is not None:
        q_curve, auc = _reduce.auc_from_hist(per_row.hist)
        values["auc_r_nx"] = auc
        if curves:
            K = np.arange(1, n - 1)
            values["q_nx_curve"] = q_curve[: n - 2].tolist()
            values["r_nx_curve"] = (((n - 1) * q_curve[: n - 2] - K) / (n - 1 - K)).tolist()
    if labels is not None:
        correct = _reduce.knn_correct(per_row.top, per_row.rows, labels, n_top)
        mean, ci = _reduce._mean_ci(correct, n)
        put("knn_accuracy", float(mean), float(ci) if estimated else None)
    if X_hat is not None:
        values["data_mse"] = _data_mse(X, X_hat)
    if extra:
        for name in ("stress", "distance_correlation"):
            put(name, pairs[name], pairs[f"{name}_ci95"] if estimated else None)
        if exact_spearman:
            put("spearman_correlation", spearman(space_x, space_z)[0])
        else:
            gathered = np.concatenate(per_row.pair_d, axis=1)
            put("spearman_correlation", *from_pairs(gathered[0], gathered[1]))
        if n >= 3:
            from topoae.metrics import triplet_accuracy

            p = triplet_accuracy(X, Z, n_triplets=n_triplets, random_state=random_state)
            put("triplet_accuracy", p, _binomial_ci(p, n_triplets))
    if diagrams:
        from topoae.metrics.diagrams import diagram_distances

        values.update(diagram_distances(X, Z, n_subsample=n_subsample, random_state=random_state))
    values.update(cis)
    values["estimated"] = bool(estimated)
    values["estimated_measures"] = sorted(k[: -len("_ci95")] for k in cis)
    values["n_queries"] = len(per_row.rows)
    return values


def _binomial_ci(p: float, trials: int) -> float:
    """95 % normal half-width of a proportion p over ``trials`` independent draws."""
    return float(_reduce.Z95 * math.sqrt(max(p * (1.0 - p), 0.0) / trials))


def _data_mse(X: np.ndarray, X_hat) -> float:
    X_hat = _as_2d_float(X_hat, "X_hat")
    if X.shape != X_hat.shape:
        raise InputError(
            f"X and X_hat must have the same shape after flattening: {X.shape} vs {X_hat.shape}."
        )
    return float(np.mean((X - X_hat) ** 2))
