"""Quality measures of an embedding: how well Z (n, k) keeps the structure of X (n, d).

The paper's measures (docs/method.md §7) and a few used by later work, as plain functions
``f(X, Z, *, k)`` plus the registry :data:`METRICS` and :func:`evaluate`, which computes
all of them in one chunked pass over the pairwise distances.

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
in float64 for high-dimensional inputs, exact differences for low-dimensional ones). In
the exact mode every row is ranked in both spaces by a compiled O(n) bucket sort in exact
``(distance, index)`` order (``_coranking``), which gives the co-ranking curve too; the
sampled rows of the estimated mode keep only their ``k_max`` nearest points and find those
points' ranks in the other space by one counting pass over the row (``_passes``). No
``n × n`` matrix is ever held. The KL densities divide by each space's largest distance:
the pass starts from a bound that a few farthest-point sweeps find (usually the diameter
itself) and computes the densities again only if its rows reach farther. With a CUDA
device the same pass runs in torch on the GPU (``_torch_pass``).

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
from topoae.metrics._distances import _max_distance, _Space
from topoae.metrics._evaluate import (
    DEFAULT_KNN_K,
    DEFAULT_MAX_EXACT,
    DEFAULT_SAMPLE_SIZE,
    evaluate,
)
from topoae.metrics._passes import _kl_pass, _rank_pass
from topoae.metrics._spearman import MAX_EXACT_PAIRS, SAMPLE_PAIRS, _pair_distances, spearman
from topoae.metrics.diagrams import diagram_distances, wasserstein_distance

__all__ = [
    "DEFAULT_KNN_K",
    "DEFAULT_KS",
    "DEFAULT_MAX_EXACT",
    "DEFAULT_SAMPLE_SIZE",
    "DEFAULT_SIGMAS",
    "METRICS",
    "auc_r_nx",
    "continuity",
    "coranking_curves",
    "diagram_distances",
    "distance_correlation",
    "distance_rmse",
    "evaluate",
    "kl_divergence",
    "knn_accuracy",
    "lcmc",
    "mrre",
    "neighbourhood_preservation",
    "q_nx",
    "r_nx",
    "reconstruction_mse",
    "spearman_correlation",
    "stress",
    "triplet_accuracy",
    "trustworthiness",
    "usable_ks",
    "wasserstein_distance",
]


def _per_k(values: np.ndarray, k: int | Iterable[int]) -> float | np.ndarray:
    return float(values[0]) if np.isscalar(k) else values


def _top_k(X, Z, k) -> dict[str, np.ndarray]:
    """Per-k rank measures of all points through the top-k pass (no full rankings)."""
    X, Z = _check_pair(X, Z)
    n = X.shape[0]
    ks = _check_ks(k, n)
    return _reduce.neighbourhood_measures(_rank_pass(_Space(X), _Space(Z), ks), n, ks)


def _pairs(X, Z) -> dict[str, float]:
    X, Z = _check_pair(X, Z)
    per_row = _rank_pass(_Space(X), _Space(Z), np.array([1]))
    return _reduce.pair_values(per_row.pair, X.shape[0])


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
    return _per_k(_top_k(X, Z, k)["trustworthiness"], k)


def continuity(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Continuity: are the data's neighbours kept as neighbours? (1 best, 0 worst).

    Trustworthiness with X and Z swapped; parameters and returns as in
    :func:`trustworthiness`.
    """
    return _per_k(_top_k(X, Z, k)["continuity"], k)


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
    result = _top_k(X, Z, k)
    return _per_k(result["mrre_zx"], k), _per_k(result["mrre_xz"], k)


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
    space_x, space_z = _Space(X), _Space(Z)
    dens = _kl_pass(space_x, space_z, sigmas, _max_distance(space_x), _max_distance(space_z))
    values, _ = _reduce.kl_values(dens, X.shape[0])
    return float(values[0]) if np.isscalar(sigma) else values


def distance_rmse(X, Z) -> float:
    """``ℓ-RMSE = sqrt(Σ_ij (d^X_ij - d^Z_ij)² / n²)`` on raw distances (0 best).

    Scale-dependent: an embedding at another scale than the data scores badly.
    """
    return _pairs(X, Z)["rmse"]


def stress(X, Z, *, optimal_scale: bool = True) -> float:
    """Normalised stress of the pairwise distances (0 best).

    ``sqrt(Σ_ij (d^X_ij - α d^Z_ij)² / Σ_ij d^X_ij²)``, with ``α`` the least-squares scale
    ``Σ d^X d^Z / Σ (d^Z)²`` when ``optimal_scale`` (so an embedding's arbitrary scale does
    not count), else ``α = 1`` (Kruskal's stress-1 on raw distances).
    """
    if optimal_scale:
        return _pairs(X, Z)["stress"]
    X, Z = _check_pair(X, Z)
    sums = _rank_pass(_Space(X), _Space(Z), np.array([1])).pair.sum(axis=0)
    if sums[1] == 0:
        raise InputError("All points of X coincide; stress is undefined.")
    return float(np.sqrt(sums[0] / sums[1]))


def distance_correlation(X, Z) -> float:
    """Pearson correlation of the pairwise distances of X and Z over all pairs (1 best)."""
    return _pairs(X, Z)["distance_correlation"]


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
        raise InputError(f"triplet_accuracy needs at least 3 points, got {n}.")
    if n_triplets < 1:
        raise InputError(f"n_triplets must be >= 1, got {n_triplets}.")
    rng = np.random.default_rng(random_state)
    i = rng.integers(0, n, n_triplets)
    j = (i + rng.integers(1, n, n_triplets)) % n
    # l uniform among the n - 2 points other than i and j.
    l = rng.integers(0, n - 2, n_triplets)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    l = l + (l >= lo)
    l = l + (l >= hi)

    def order(A):
        return np.sign(_pair_distances(A, i, j) - _pair_distances(A, i, l))

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
        raise InputError(
            f"X and X_hat must have the same shape after flattening: {X.shape} vs {X_hat.shape}."
        )
    return float(np.mean((X - X_hat) ** 2))


# --------------------------------------------------------------------------- co-ranking family


def q_nx(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Q_NX(k): mean share of the k nearest neighbours kept (1 best, k/(n-1) random).

    ``Q_NX(k) = (1 / (k n)) Σ_i |N^X_k(i) ∩ N^Z_k(i)|`` (Lee & Verleysen's co-ranking
    measure; parameters and returns as in :func:`trustworthiness`, ``k <= (2n - 2) / 3``;
    :func:`coranking_curves` gives every k).
    """
    return _per_k(_top_k(X, Z, k)["q_nx"], k)


def neighbourhood_preservation(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Mean ``|N^X_k(i) ∩ N^Z_k(i)| / k`` over points (1 best): the same number as Q_NX(k)."""
    return q_nx(X, Z, k=k)


def lcmc(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Local continuity meta-criterion ``LCMC(k) = Q_NX(k) - k / (n - 1)`` (higher better).

    Q_NX minus its value for a random embedding; at most ``1 - k / (n - 1)``.
    """
    return _per_k(_top_k(X, Z, k)["lcmc"], k)


def r_nx(X, Z, *, k: int | Sequence[int]) -> float | np.ndarray:
    """Rescaled ``R_NX(k) = ((n - 1) Q_NX(k) - k) / (n - 1 - k)`` (1 best, 0 random)."""
    return _per_k(_top_k(X, Z, k)["r_nx"], k)


def coranking_curves(X, Z, *, block_rows: int | None = None) -> dict[str, np.ndarray]:
    """Q_NX, LCMC and R_NX at every K = 1…n-2, from one full-rank pass.

    Returns
    -------
    dict
        ``K`` (n - 2,) int, ``q_nx``, ``lcmc``, ``r_nx`` (n - 2,) float, and ``auc_r_nx``
        (float, see :func:`auc_r_nx`).
    """
    X, Z = _check_pair(X, Z)
    n = X.shape[0]
    if n < 4:
        raise InputError(f"The co-ranking curves need at least 4 points, got {n}.")
    per_row = _full_pass(_Space(X), _Space(Z), np.array([1]), block_rows=block_rows)
    assert per_row.hist is not None  # the full pass keeps the co-ranking histogram
    q, auc = _reduce.auc_from_hist(per_row.hist)
    K = np.arange(1, n - 1)
    q = q[: n - 2]
    return {
        "K": K,
        "q_nx": q,
        "lcmc": q - K / (n - 1.0),
        "r_nx": ((n - 1.0) * q - K) / (n - 1.0 - K),
        "auc_r_nx": auc,
    }


def auc_r_nx(X, Z) -> float:
    """Area under the R_NX curve with log-scaled K (1 best, 0 random).

    ``AUC = Σ_{K=1..n-2} R_NX(K) / K  /  Σ_{K=1..n-2} 1 / K`` (Lee & Verleysen): every
    scale counts, small neighbourhoods most. Needs every point's full rankings (one sort
    of each distance row), the costliest measure here.
    """
    return float(coranking_curves(X, Z)["auc_r_nx"])


def knn_accuracy(Z, labels, *, k: int = DEFAULT_KNN_K) -> float:
    """Leave-one-out k-nearest-neighbour classification accuracy in the embedding (1 best).

    Parameters
    ----------
    Z : array-like of shape (n, q)
        Embedding.
    labels : array-like of shape (n,)
        Class of each point (any type ``np.unique`` sorts).
    k : int
        Neighbours voting (default 5). Each point is classified by the majority label of its
        k nearest other points in Z (stable order on ties of distance); a tie between labels
        goes to the smallest label, as in scikit-learn.
    """
    Z = _as_2d_float(Z, "Z")
    n = Z.shape[0]
    labels = _check_labels(labels, n)
    if not 1 <= int(k) <= n - 1:
        raise InputError(f"k must be between 1 and n - 1 = {n - 1}, got {k}.")
    space = _Space(Z)
    per_row = _rank_pass(space, space, np.array([int(k)]), n_top=int(k))
    return float(np.mean(_reduce.knn_correct(per_row.top, per_row.rows, labels, int(k))))


def spearman_correlation(
    X,
    Z,
    *,
    max_pairs: int = MAX_EXACT_PAIRS,
    n_pairs: int = SAMPLE_PAIRS,
    random_state: int | None = 0,
) -> tuple[float, float, bool]:
    """Spearman rank correlation of the pairwise distances of X and Z (1 best).

    Exact (average ranks for ties) when n (n - 1) / 2 <= ``max_pairs`` (default 5·10⁶,
    n <= 3,162); beyond, from ``n_pairs`` (default 10⁶) pairs drawn with ``random_state``.
    Returns ``(rho, ci95, estimated)``: the value, its 95 % half-width (0 when exact) and
    whether it was estimated.
    """
    X, Z = _check_pair(X, Z)
    return spearman(
        _Space(X), _Space(Z), max_pairs=max_pairs, n_pairs=n_pairs, random_state=random_state
    )


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
    "q_nx": q_nx,
    "lcmc": lcmc,
    "r_nx": r_nx,
    "auc_r_nx": auc_r_nx,
    "coranking_curves": coranking_curves,
    "neighbourhood_preservation": neighbourhood_preservation,
    "knn_accuracy": knn_accuracy,
    "spearman_correlation": spearman_correlation,
    "diagram_distances": diagram_distances,
    "reconstruction_mse": reconstruction_mse,
}
