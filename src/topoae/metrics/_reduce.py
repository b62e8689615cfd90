"""From per-row quantities to measures, with 95 % half-widths when the rows are a sample.

Every point-wise measure is a mean over the n rows of a per-row contribution (trust,
continuity, MRRE, Q_NX, LCMC, R_NX, kNN accuracy), so a seeded sample of m rows gives an
unbiased estimate with the CLT half-width ``1.96 s / sqrt(m) · sqrt(1 - m / n)`` (s the
sample standard deviation, the last factor the finite-population correction). Measures
that are smooth functions of several such means (KL_σ, RMSE, stress, Pearson correlation)
get theirs by the delta method. With all rows, every half-width is 0 and the values are
the exact ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from topoae.metrics._passes import _PerRow

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


def _mean_ci(v: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and its 95 % half-width for a sample of m of n rows."""
    m = v.shape[0]
    mean = v.mean(axis=0)
    if m >= n or m < 2:
        return mean, np.zeros_like(mean)
    return mean, Z95 * v.std(axis=0, ddof=1) / np.sqrt(m) * np.sqrt(1.0 - m / n)


def _delta_ci(V: np.ndarray, g: Callable[[np.ndarray], float], n: int) -> tuple[float, float]:
    """g(column means of V) and its delta-method 95 % half-width (numerical gradient)."""
    m = V.shape[0]
    mu = V.mean(axis=0)
    value = float(g(mu))
    if m >= n or m < 2:
        return value, 0.0
    grad = np.empty(len(mu))
    for c in range(len(mu)):
        h = 1e-6 * max(abs(mu[c]), 1e-300)
        up, down = mu.copy(), mu.copy()
        up[c] += h
        down[c] -= h
        grad[c] = (g(up) - g(down)) / (2.0 * h)
    var = float(grad @ np.atleast_2d(np.cov(V, rowvar=False)) @ grad)
    return value, float(Z95 * np.sqrt(max(var, 0.0) / m * (1.0 - m / n)))


def _contributions(per_row: _PerRow, n: int, ks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row contributions (m, len(ks)) whose column means are the measures at each k."""
    k = ks.astype(np.float64)
    s = per_row.sums
    trust_norm = 2.0 / (k * (2.0 * n - 3.0 * k - 1.0))  # n · 2 / (n k (2n - 3k - 1))
    j = [np.arange(1.0, kk + 1) for kk in ks]
    c = np.array([np.sum(np.abs(2.0 * jj - n - 1) / jj) for jj in j])  # C / n
    q = s[:, :, 4] / k
    return {
        "trustworthiness": 1.0 - trust_norm * s[:, :, 0],
        "continuity": 1.0 - trust_norm * s[:, :, 1],
        "mrre_zx": s[:, :, 2] / c,
        "mrre_xz": s[:, :, 3] / c,
        "q_nx": q,
        "lcmc": q - k / (n - 1.0),
        "r_nx": ((n - 1.0) * q - k) / (n - 1.0 - k),
    }


def neighbourhood_measures(per_row: _PerRow, n: int, ks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-k values (and half-widths, key ``<name>_ci95``) of the rank measures."""
    out = {}
    for name, v in _contributions(per_row, n, ks).items():
        out[name], out[f"{name}_ci95"] = _mean_ci(v, n)
    return out


def summary(per_row: _PerRow, n: int, ks: np.ndarray) -> dict[str, object]:
    """``evaluate``'s rank entries: means over ks, per-k lists, and half-widths."""
    parts = _contributions(per_row, n, ks)
    parts["mrre"] = (parts["mrre_zx"] + parts["mrre_xz"]) / 2.0
    parts["neighbourhood_preservation"] = parts["q_nx"]
    out: dict[str, object] = {}
    for name, v in parts.items():
        mean, ci = _mean_ci(v.mean(axis=1), n)
        per_k, per_k_ci = _mean_ci(v, n)
        out[name], out[f"{name}_ci95"] = float(mean), float(ci)
        if name != "mrre":
            out[f"{name}_per_k"] = per_k.tolist()
            out[f"{name}_per_k_ci95"] = per_k_ci.tolist()
    return out


def kl_values(dens: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """KL_σ for each σ from the rows' densities (m, 2, S), with half-widths.

    ``KL = Σ_i f_X(i) log(f_X(i) / f_Z(i)) / Σ f_X + log(Σ f_Z / Σ f_X)`` in terms of
    the unnormalised densities: a function of three means, hence the delta method.
    """
    values, cis = [], []
    for s in range(dens.shape[2]):
        fx, fz = dens[:, 0, s], dens[:, 1, s]
        V = np.column_stack([fx, fz, fx * np.log(fx / fz)])
        v, ci = _delta_ci(V, lambda mu: mu[2] / mu[0] + np.log(mu[1] / mu[0]), n)
        values.append(v)
        cis.append(ci)
    return np.array(values), np.array(cis)


def pair_values(pair: np.ndarray, n: int) -> dict[str, float]:
    """RMSE, stress (optimal scale) and Pearson correlation of the distances, with half-widths.

    Row sums over j of (dx - dz)², dx², dz², dx·dz, dx, dz; totals are n times their means.
    """
    V = pair[:, :6]
    n_pairs = n * (n - 1.0)

    def rmse(mu):
        return np.sqrt(max(mu[0], 0.0) / n)

    def stress(mu):
        if mu[2] == 0:
            return 1.0
        return np.sqrt(max(0.0, 1.0 - mu[3] ** 2 / (mu[1] * mu[2])))

    def pearson(mu):
        t = n * mu
        cov = t[3] - t[4] * t[5] / n_pairs
        vx = t[1] - t[4] ** 2 / n_pairs
        vz = t[2] - t[5] ** 2 / n_pairs
        if vx <= 0 or vz <= 0:
            return float("nan")
        return float(np.clip(cov / np.sqrt(vx * vz), -1.0, 1.0))

    out = {}
    for name, g in (("rmse", rmse), ("stress", stress), ("distance_correlation", pearson)):
        out[name], out[f"{name}_ci95"] = _delta_ci(V, g, n)
    return out


def knn_correct(top: np.ndarray, rows: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per row: does the majority label of its k nearest points in Z equal its own?

    Leave-one-out (the point itself is never its neighbour); a tie between labels goes to
    the smallest label (in ``np.unique`` order), as scikit-learn's KNeighborsClassifier.
    """
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    n_classes = int(codes.max()) + 1
    votes = np.zeros((len(rows), n_classes), dtype=np.int64)
    neighbour_codes = codes[top[:, :k]]
    for c in range(n_classes):
        votes[:, c] = np.count_nonzero(neighbour_codes == c, axis=1)
    return (np.argmax(votes, axis=1) == codes[rows]).astype(np.float64)


def auc_from_hist(hist: np.ndarray) -> tuple[np.ndarray, float]:
    """Q_NX(K) for K = 1..n-1 and the area under R_NX with 1/K weights (K = 1..n-2).

    ``hist[m]`` counts the pairs (i, j != i) with max(r^X, r^Z) = m.
    """
    n = len(hist)
    K = np.arange(1, n, dtype=np.float64)
    q = np.cumsum(hist[1:]) / (K * n)
    KK = K[: n - 2]
    r = ((n - 1.0) * q[: n - 2] - KK) / (n - 1.0 - KK)
    auc = float(np.sum(r / KK) / np.sum(1.0 / KK)) if n > 2 else float("nan")
    return q, auc
