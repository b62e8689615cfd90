"""Quality measures of an embedding: how well Z (n, k) keeps the structure of X (n, d).

The paper's measures (METHOD.md §7) and a few used by later work, as plain functions
``f(X, Z, *, k)`` plus the registry :data:`METRICS` and :func:`evaluate`, which computes
all of them in two chunked passes over the pairwise distances.

Definitions (Euclidean distances throughout):

- Ranks: each row of a distance matrix is sorted with a stable sort, so ties are broken by
  the index of the other point, and the point itself comes first even when it has
  duplicates. ``r(i, j)`` is the position of ``j`` in row ``i`` (self 0, nearest 1) and
  ``N_k(i)`` the points at positions 1…k.
- ``KL_σ``: each distance matrix is divided by its own largest entry; the density
  ``f(i) = Σ_j exp(-d_ij² / σ)`` (self term included) is normalised to sum 1; the value is
  ``Σ_i f_X(i) log(f_X(i) / f_Z(i))``.
- Trustworthiness(k) ``= 1 - 2 / (n k (2n - 3k - 1)) Σ_i Σ_{j ∈ N^Z_k(i) \\ N^X_k(i)}
  (r^X(i, j) - k)``; continuity(k) is the same with X and Z swapped.
- MRRE(k) with ``C = n Σ_{j=1..k} |2j - n - 1| / j``: Z→X ``= (1/C) Σ_i Σ_{j ∈ N^Z_k(i)}
  |r^X - r^Z| / r^Z`` and X→Z ``= (1/C) Σ_i Σ_{j ∈ N^X_k(i)} |r^X - r^Z| / r^X``.
- ``ℓ-RMSE = sqrt(Σ_ij (d^X_ij - d^Z_ij)² / n²)`` on raw distances.

How it is fast and lean: distances are computed a block of rows at a time (BLAS Gram trick
in float64 for high-dimensional inputs, exact differences for low-dimensional ones), and
per row only the ``k_max`` nearest points of each space are selected, in exact
``(distance, index)`` order; their ranks in the other space are found by one counting pass
over the row (binary search among the sorted neighbours). No ``n × n`` matrix is ever held.
The KL densities need the largest distance of each space first, hence a second pass.

Examples
--------
>>> import numpy as np
>>> from topoae import metrics
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(300, 10))
>>> result = metrics.evaluate(X, 3.0 * X, ks=[10, 20], extra=False)
>>> result["trustworthiness"], abs(result["kl_0.1"]) < 1e-12
(1.0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from topoae.metrics._checks import (
    DEFAULT_KS,
    DEFAULT_SIGMAS,
    _as_2d_float,
    _check_ks,
    _check_pair,
    _check_sigmas,
    usable_ks,
)
from topoae.metrics._passes import _kl_pass, _max_distance, _rank_pass, _Space
from topoae.metrics.diagrams import diagram_distances, wasserstein_distance

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_SIGMAS",
    "METRICS",
    "continuity",
    "diagram_distances",
    "distance_correlation",
    "distance_rmse",
    "evaluate",
    "kl_divergence",
    "mrre",
    "reconstruction_mse",
    "stress",
    "triplet_accuracy",
    "trustworthiness",
    "usable_ks",
    "wasserstein_distance",
]


def _per_k(values: np.ndarray, k: int | Iterable[int]) -> float | np.ndarray:
    return float(values[0]) if np.isscalar(k) else values


# --------------------------------------------------------------------------- public measures


def trustworthiness(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Trustworthiness: are the embedding's neighbours true neighbours? (1 best, 0 worst).

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Inputs (flattened); any numeric dtype.
    Z : array-like of shape (n, q)
        Embedding, row i of Z belonging to row i of X.
    k : int or sequence of int
        Neighbourhood size(s), ``1 <= k <= (2n - 2) / 3``.

    Returns
    -------
    float, or ndarray of shape (len(k),) for a sequence of k
        ``1 - 2 / (n k (2n - 3k - 1)) Σ_i Σ_{j ∈ N^Z_k(i) \\ N^X_k(i)} (r^X(i, j) - k)``.
    """
    X, Z = _check_pair(X, Z)
    ks = _check_ks(k, X.shape[0])
    return _per_k(_rank_pass(X, Z, ks).trustworthiness, k)


def continuity(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Continuity: are the data's neighbours kept as neighbours? (1 best, 0 worst).

    Trustworthiness with X and Z swapped; parameters and returns as in
    :func:`trustworthiness`.
    """
    X, Z = _check_pair(X, Z)
    ks = _check_ks(k, X.shape[0])
    return _per_k(_rank_pass(X, Z, ks).continuity, k)


def mrre(X, Z, *, k: int | Sequence[int]) -> tuple[Any, Any]:
    """Mean relative rank errors (0 best), both directions.

    Parameters
    ----------
    X, Z, k
        As in :func:`trustworthiness`.

    Returns
    -------
    z_to_x, x_to_z : float, or ndarray of shape (len(k),) each
        ``(1/C) Σ_i Σ_{j ∈ N^Z_k(i)} |r^X - r^Z| / r^Z`` and the same over ``N^X_k(i)``
        divided by ``r^X``, with ``C = n Σ_{j=1..k} |2j - n - 1| / j``.
    """
    X, Z = _check_pair(X, Z)
    ks = _check_ks(k, X.shape[0])
    result = _rank_pass(X, Z, ks)
    return _per_k(result.mrre_zx, k), _per_k(result.mrre_xz, k)


def kl_divergence(X, Z, *, sigma: float | Sequence[float]) -> float | np.ndarray:
    """KL divergence between the Gaussian density estimates of X and Z (0 best).

    Parameters
    ----------
    X, Z : array-like
        As in :func:`trustworthiness`.
    sigma : float or sequence of float
        Bandwidth(s) on distances divided by each space's largest distance.

    Returns
    -------
    float, or ndarray of shape (len(sigma),)
        ``Σ_i f_X(i) log(f_X(i) / f_Z(i))`` with ``f(i) ∝ Σ_j exp(-d_ij² / σ)``.
    """
    X, Z = _check_pair(X, Z)
    sigmas = _check_sigmas(sigma)
    max_x, max_z = _max_distance(_Space(X)), _max_distance(_Space(Z))
    values = _kl_pass(X, Z, sigmas, max_x, max_z)
    return float(values[0]) if np.isscalar(sigma) else values


def distance_rmse(X, Z) -> float:
    """``ℓ-RMSE = sqrt(Σ_ij (d^X_ij - d^Z_ij)² / n²)`` on raw distances (0 best).

    Scale-dependent: an embedding at another scale than the data scores badly.
    """
    X, Z = _check_pair(X, Z)
    return _rank_pass(X, Z, np.array([1])).rmse


def stress(X, Z, *, optimal_scale: bool = True) -> float:
    """Normalised stress of the pairwise distances (0 best).

    ``sqrt(Σ_ij (d^X_ij - α d^Z_ij)² / Σ_ij d^X_ij²)``, with ``α`` the least-squares scale
    ``Σ d^X d^Z / Σ (d^Z)²`` when ``optimal_scale`` (so an embedding's arbitrary scale does
    not count), else ``α = 1`` (Kruskal's stress-1 on raw distances).
    """
    X, Z = _check_pair(X, Z)
    return _rank_pass(X, Z, np.array([1])).stress(optimal_scale)


def distance_correlation(X, Z) -> float:
    """Pearson correlation of the pairwise distances of X and Z over all pairs (1 best)."""
    X, Z = _check_pair(X, Z)
    return _rank_pass(X, Z, np.array([1])).correlation


def triplet_accuracy(X, Z, *, n_triplets: int = 10_000, random_state: int | None = 0) -> float:
    """Fraction of random triplets whose distance order is kept (1 best, 0.5 chance).

    For triplets ``(i, j, l)`` of distinct points drawn uniformly, the triplet counts as
    kept when ``sign(d^X_ij - d^X_il) == sign(d^Z_ij - d^Z_il)``.

    Parameters
    ----------
    X, Z : array-like
        As in :func:`trustworthiness`; needs n >= 3.
    n_triplets : int
        Number of triplets drawn (with replacement across triplets).
    random_state : int or None
        Seed of ``numpy.random.default_rng``.
    """
    X, Z = _check_pair(X, Z)
    n = X.shape[0]
    if n < 3:
        raise ValueError(f"triplet_accuracy needs at least 3 points, got {n}.")
    if n_triplets < 1:
        raise ValueError(f"n_triplets must be >= 1, got {n_triplets}.")
    rng = np.random.default_rng(random_state)
    i = rng.integers(0, n, n_triplets)
    j = (i + rng.integers(1, n, n_triplets)) % n
    # l uniform among the n - 2 points other than i and j.
    l = rng.integers(0, n - 2, n_triplets)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    l = l + (l >= lo)
    l = l + (l >= hi)

    def order(A):
        dij = np.sqrt(np.sum((A[i] - A[j]) ** 2, axis=1))
        dil = np.sqrt(np.sum((A[i] - A[l]) ** 2, axis=1))
        return np.sign(dij - dil)

    return float(np.mean(order(X) == order(Z)))


def reconstruction_mse(X, X_hat) -> float:
    """Data MSE: mean of ``(X - X_hat)²`` over all entries (0 best).

    Parameters
    ----------
    X, X_hat : array-like of the same number of rows and values per row
        Inputs and their reconstructions; images are flattened.
    """
    X = _as_2d_float(X, "X")
    X_hat = _as_2d_float(X_hat, "X_hat")
    if X.shape != X_hat.shape:
        raise ValueError(
            f"X and X_hat must have the same shape after flattening: {X.shape} vs {X_hat.shape}."
        )
    return float(np.mean((X - X_hat) ** 2))


# --------------------------------------------------------------------------- evaluate


def _sigma_key(sigma: float) -> str:
    return f"kl_{sigma:g}"


def evaluate(
    X,
    Z,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    sigmas: Iterable[float] = DEFAULT_SIGMAS,
    X_hat=None,
    extra: bool = True,
    diagrams: bool = False,
    n_triplets: int = 10_000,
    n_subsample: int | None = 1000,
    random_state: int | None = 0,
    block_rows: int | None = None,
) -> dict[str, Any]:
    """All quality measures of an embedding, in two chunked passes over the distances.

    Parameters
    ----------
    X : array-like of shape (n, d) or (n, C, H, W)
        Test inputs (flattened), any numeric dtype.
    Z : array-like of shape (n, q)
        Their embedding.
    ks : iterable of int
        Neighbourhood sizes (default 10, 20, …, 200); each must be <= (2n - 2) / 3.
    sigmas : iterable of float
        KL bandwidths (default 0.01, 0.1, 1).
    X_hat : array-like, optional
        Reconstructions of X; adds ``data_mse``.
    extra : bool
        Add ``stress``, ``distance_correlation`` (both free from the same pass) and
        ``triplet_accuracy``.
    diagrams : bool
        Add the diagram distances of :func:`diagram_distances` (H0 and H1 on
        ``n_subsample`` points; seconds to minutes, needs the ``tda`` extra).
    n_triplets, n_subsample, random_state
        Passed to :func:`triplet_accuracy` and :func:`diagram_distances`.
    block_rows : int, optional
        Rows per block of distances (default: about 32 MB per block).

    Returns
    -------
    dict
        The paper's table values (means over ``ks``): ``kl_0.01``, ``kl_0.1``, ``kl_1``
        (one ``kl_<σ:g>`` per sigma), ``mrre`` (mean over both directions and all k),
        ``continuity``, ``trustworthiness``, ``rmse``; the directions ``mrre_zx``,
        ``mrre_xz``; per-k lists aligned with ``ks``: ``trustworthiness_per_k``,
        ``continuity_per_k``, ``mrre_zx_per_k``, ``mrre_xz_per_k``, and ``ks`` itself;
        optionally ``data_mse``, ``stress``, ``distance_correlation``,
        ``triplet_accuracy``, ``wasserstein_h0``, ``bottleneck_h0``, ``wasserstein_h1``,
        ``bottleneck_h1``. All values are plain Python floats / lists (JSON-ready).
    """
    X, Z = _check_pair(X, Z)
    ks_arr = _check_ks(list(ks), X.shape[0])
    sigma_arr = _check_sigmas(list(sigmas))
    ranks = _rank_pass(X, Z, ks_arr, block_rows, cache=True)
    kl = _kl_pass(X, Z, sigma_arr, ranks.max_x, ranks.max_z, block_rows, ranks.caches)
    ranks.caches = [None, None]
    result: dict[str, Any] = {_sigma_key(s): float(v) for s, v in zip(sigma_arr, kl, strict=True)}
    result.update(
        mrre=float((ranks.mrre_zx.mean() + ranks.mrre_xz.mean()) / 2.0),
        continuity=float(ranks.continuity.mean()),
        trustworthiness=float(ranks.trustworthiness.mean()),
        rmse=ranks.rmse,
        mrre_zx=float(ranks.mrre_zx.mean()),
        mrre_xz=float(ranks.mrre_xz.mean()),
        ks=[int(k) for k in ks_arr],
        trustworthiness_per_k=ranks.trustworthiness.tolist(),
        continuity_per_k=ranks.continuity.tolist(),
        mrre_zx_per_k=ranks.mrre_zx.tolist(),
        mrre_xz_per_k=ranks.mrre_xz.tolist(),
    )
    if X_hat is not None:
        result["data_mse"] = reconstruction_mse(X, X_hat)
    if extra:
        result["stress"] = ranks.stress(True)
        result["distance_correlation"] = ranks.correlation
        if X.shape[0] >= 3:
            result["triplet_accuracy"] = triplet_accuracy(
                X, Z, n_triplets=n_triplets, random_state=random_state
            )
    if diagrams:
        result.update(diagram_distances(X, Z, n_subsample=n_subsample, random_state=random_state))
    return result


#: Name -> measure. Neighbourhood measures take ``k``, KL takes ``sigma``.
METRICS: dict[str, Callable[..., Any]] = {
    "kl_divergence": kl_divergence,
    "trustworthiness": trustworthiness,
    "continuity": continuity,
    "mrre": mrre,
    "distance_rmse": distance_rmse,
    "stress": stress,
    "distance_correlation": distance_correlation,
    "triplet_accuracy": triplet_accuracy,
    "diagram_distances": diagram_distances,
    "reconstruction_mse": reconstruction_mse,
}
