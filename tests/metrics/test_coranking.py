"""The co-ranking family (Q_NX, LCMC, R_NX, AUC), neighbourhood preservation, kNN accuracy
and Spearman correlation against slow full-matrix references and analytic cases; the
exact diameter; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr
from test_metrics import DATA, _random, ref_ranks

from topoae import metrics
from topoae.errors import InputError
from topoae.metrics._distances import _max_distance, _Space

# --------------------------------------------------------------------------- references


def ref_coranking(X: np.ndarray, Z: np.ndarray) -> dict[str, np.ndarray]:
    """Q_NX, LCMC, R_NX for K = 1..n-2 and the AUC, from the full co-ranking matrix."""
    n = len(X)
    RX, RZ = ref_ranks(cdist(X, X)), ref_ranks(cdist(Z, Z))
    off = ~np.eye(n, dtype=bool)
    # Co-ranking matrix Q[k, l] = #{(i, j): r^X = k, r^Z = l}, ranks 1..n-1.
    Q = np.zeros((n, n), dtype=np.int64)
    np.add.at(Q, (RX[off], RZ[off]), 1)
    K = np.arange(1, n - 1)
    q = np.array([Q[1 : k + 1, 1 : k + 1].sum() / (k * n) for k in K])
    r = ((n - 1) * q - K) / (n - 1 - K)
    return {
        "q_nx": q,
        "lcmc": q - K / (n - 1),
        "r_nx": r,
        "auc": np.sum(r / K) / np.sum(1.0 / K),
        "overlap": np.array([[len(set(np.flatnonzero((RX[i] >= 1) & (RX[i] <= k)))
                              & set(np.flatnonzero((RZ[i] >= 1) & (RZ[i] <= k)))) for i in range(n)]
                             for k in K]),
    }  # fmt: skip


def ref_knn(Z: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Leave-one-out vote of the k first points of each stable-sorted row (self excluded)."""
    R = ref_ranks(cdist(Z, Z))
    classes = np.unique(labels)
    correct = 0
    for i in range(len(Z)):
        neighbours = np.flatnonzero((R[i] >= 1) & (R[i] <= k))
        votes = [np.sum(labels[neighbours] == c) for c in classes]
        correct += classes[int(np.argmax(votes))] == labels[i]
    return correct / len(Z)


# --------------------------------------------------------------------------- fast == slow


@pytest.mark.parametrize("name", list(DATA))
def test_coranking_curves_match_full_coranking_matrix(name):
    X, Z = DATA[name]()
    n = len(X)
    ref = ref_coranking(X, Z)
    curves = metrics.coranking_curves(X, Z, block_rows=7)
    for key in ("q_nx", "lcmc", "r_nx"):
        np.testing.assert_allclose(curves[key], ref[key], rtol=0, atol=1e-12, err_msg=key)
    assert curves["auc_r_nx"] == pytest.approx(ref["auc"], abs=1e-12)
    # evaluate's per-k values (top-k pass and full pass) and the single functions agree.
    ks = list(range(1, (2 * n - 2) // 3 + 1))
    result = metrics.evaluate(X, Z, ks=ks, extra=False, curves=True)
    np.testing.assert_allclose(result["q_nx_curve"], ref["q_nx"], atol=1e-12)
    np.testing.assert_allclose(result["r_nx_curve"], ref["r_nx"], atol=1e-12)
    assert result["auc_r_nx"] == pytest.approx(ref["auc"], abs=1e-12)
    for key, single in [("q_nx", metrics.q_nx), ("lcmc", metrics.lcmc), ("r_nx", metrics.r_nx)]:
        np.testing.assert_allclose(result[f"{key}_per_k"], ref[key][: len(ks)], atol=1e-12)
        np.testing.assert_allclose(single(X, Z, k=ks), ref[key][: len(ks)], atol=1e-12)
    # Neighbourhood preservation, mean |N^X_k ∩ N^Z_k| / k, written out separately.
    preservation = ref["overlap"][: len(ks)].mean(axis=1) / np.array(ks)
    np.testing.assert_allclose(result["neighbourhood_preservation_per_k"], preservation, atol=1e-12)
    np.testing.assert_allclose(
        metrics.neighbourhood_preservation(X, Z, k=ks), preservation, atol=1e-12
    )


@pytest.mark.parametrize("name", list(DATA))
def test_full_pass_gives_the_top_k_pass_values(name):
    # evaluate (full rankings) against the single functions (nearest-k selection).
    X, Z = DATA[name]()
    ks = [1, 2, 5, 13, 30]
    result = metrics.evaluate(X, Z, ks=ks, extra=False, block_rows=5)
    np.testing.assert_allclose(
        result["trustworthiness_per_k"], metrics.trustworthiness(X, Z, k=ks), atol=1e-12
    )
    np.testing.assert_allclose(
        result["continuity_per_k"], metrics.continuity(X, Z, k=ks), atol=1e-12
    )
    zx, xz = metrics.mrre(X, Z, k=ks)
    np.testing.assert_allclose(result["mrre_zx_per_k"], zx, atol=1e-12)
    np.testing.assert_allclose(result["mrre_xz_per_k"], xz, atol=1e-12)


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("k", [1, 4, 7])
def test_knn_accuracy_matches_reference(name, k):
    X, Z = DATA[name]()
    labels = np.random.default_rng(11).integers(0, 3, len(X))
    expected = ref_knn(Z, labels, k)
    assert metrics.knn_accuracy(Z, labels, k=k) == pytest.approx(expected, abs=1e-12)
    result = metrics.evaluate(X, Z, ks=[3], labels=labels, knn_k=k, extra=False)
    assert result["knn_accuracy"] == pytest.approx(expected, abs=1e-12)


def test_knn_accuracy_matches_scikit_learn_on_distinct_distances():
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    X, Z = _random(120, 4, seed=12)
    labels = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)
    theirs = cross_val_score(KNeighborsClassifier(5), Z, labels, cv=LeaveOneOut()).mean()
    assert metrics.knn_accuracy(Z, labels, k=5) == pytest.approx(theirs, abs=1e-12)
    # String labels work the same.
    names = np.array(["a", "b", "c"])[labels]
    assert metrics.knn_accuracy(Z, names, k=5) == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("name", list(DATA))
def test_spearman_matches_scipy_on_all_pairs(name):
    X, Z = DATA[name]()
    iu = np.triu_indices(len(X), 1)
    expected = spearmanr(cdist(X, X)[iu], cdist(Z, Z)[iu]).statistic
    rho, ci, estimated = metrics.spearman_correlation(X, Z)
    # Copies tie exactly within a row, but the Gram trick may round d(a, c) and d(a', c)
    # (rows of two copies) a last bit apart, which a global ranking of all pairs sees.
    tolerance = 1e-6 if name == "duplicates-high-d" else 1e-12
    assert (rho, ci, estimated) == (pytest.approx(expected, abs=tolerance), 0.0, False)
    assert metrics.evaluate(X, Z, ks=[3])["spearman_correlation"] == pytest.approx(rho)


def test_spearman_estimate_from_pairs_covers_the_exact_value():
    X, Z = _random(400, 6, seed=13)
    exact, _, _ = metrics.spearman_correlation(X, Z)
    inside = 0
    for seed in range(10):
        rho, ci, estimated = metrics.spearman_correlation(
            X, Z, max_pairs=1000, n_pairs=20_000, random_state=seed
        )
        assert estimated and 0 < ci < 0.03
        inside += abs(rho - exact) <= ci
    assert inside >= 7  # P(fewer | 95 % coverage) = 0.1 %


# --------------------------------------------------------------------------- analytic cases


@pytest.mark.parametrize("d", [3, 30])
def test_isometric_embedding_is_perfect_on_every_new_measure(d):
    X, _ = _random(90, d, seed=14)
    q, _ = np.linalg.qr(np.random.default_rng(15).normal(size=(d, d)))
    Z = 1.7 * X @ q + 4.0  # rotated, scaled, shifted: every rank and rank order kept
    n = len(X)
    labels = np.random.default_rng(16).integers(0, 2, n)
    ks = [1, 5, 20, 59]
    result = metrics.evaluate(X, Z, ks=ks, labels=labels, curves=True)
    K = np.arange(1, n - 1)
    np.testing.assert_allclose(result["q_nx_curve"], 1.0, atol=1e-12)
    np.testing.assert_allclose(result["r_nx_curve"], 1.0, atol=1e-12)
    assert result["auc_r_nx"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result["lcmc_per_k"], 1.0 - np.array(ks) / (n - 1), atol=1e-12)
    assert result["neighbourhood_preservation"] == pytest.approx(1.0, abs=1e-12)
    assert result["spearman_correlation"] == pytest.approx(1.0, abs=1e-12)
    assert result["knn_accuracy"] == pytest.approx(metrics.knn_accuracy(X, labels, k=5))
    curves = metrics.coranking_curves(X, Z)
    np.testing.assert_allclose(curves["lcmc"], 1.0 - K / (n - 1), atol=1e-12)


def test_random_embedding_scores_near_chance():
    rng = np.random.default_rng(17)
    X, Z = rng.normal(size=(300, 5)), rng.normal(size=(300, 2))
    result = metrics.evaluate(X, Z, ks=[10, 50], labels=X[:, 0] > 0, extra=True)
    assert abs(result["auc_r_nx"]) < 0.05
    assert abs(result["r_nx"]) < 0.05 and abs(result["lcmc"]) < 0.05
    assert abs(result["spearman_correlation"]) < 0.1
    assert 0.35 < result["knn_accuracy"] < 0.65


# --------------------------------------------------------------------------- diameter


@pytest.mark.parametrize("name", list(DATA))
def test_exact_diameter_every_path(name):
    X, Z = DATA[name]()
    for A in (X, Z, X[:, :3], np.vstack([X] * 2)):
        assert _max_distance(_Space(np.ascontiguousarray(A))) == pytest.approx(
            cdist(A, A).max(), rel=1e-12
        )


def test_exact_diameter_wide_space_with_blocks():
    rng = np.random.default_rng(18)
    X = rng.normal(size=(700, 50)) * 1e3 + 1e6  # far from the origin: needs centring
    space = _Space(X)
    assert _max_distance(space, block_rows=64) == pytest.approx(cdist(X, X).max(), rel=1e-9)


# --------------------------------------------------------------------------- bad input


def test_bad_input_new_measures():
    X, Z = _random(40, 3)
    with pytest.raises(InputError, match="Z has more points"):
        metrics.evaluate(X, np.vstack([Z, Z[:1]]), ks=[3])
    with pytest.raises(InputError, match="one entry per point"):
        metrics.evaluate(X, Z, ks=[3], labels=np.zeros(39))
    with pytest.raises(InputError, match="NaN"):
        metrics.knn_accuracy(Z, np.full(40, np.nan))
    with pytest.raises(InputError, match="knn_k"):
        metrics.evaluate(X, Z, ks=[3], labels=np.zeros(40), knn_k=40)
    with pytest.raises(InputError, match="overflow float64"):
        metrics.evaluate(X * 1e160, Z, ks=[3])
    Zinf = Z.copy()
    Zinf[3, 1] = np.inf
    with pytest.raises(InputError, match="NaN or inf in 1 row"):
        metrics.evaluate(X, Zinf, ks=[3])


def test_float32_values_whose_squares_overflow_float32_are_fine():
    X, Z = _random(50, 20)
    big = (X * 1e30).astype(np.float32)  # squares far beyond float32's 3.4e38
    a = metrics.evaluate(big, Z, ks=[3, 10])
    b = metrics.evaluate(big.astype(np.float64) / 1e30, Z, ks=[3, 10])
    for key in ("trustworthiness", "continuity", "q_nx", "auc_r_nx", "kl_0.1", "stress"):
        assert np.isfinite(a[key]) and a[key] == pytest.approx(b[key], rel=1e-6), key


def test_duplicate_points_follow_the_stable_order():
    # Three copies of each point: copies are each other's nearest, in index order.
    X, Z = _random(20, 4)
    X3, Z3 = np.vstack([X] * 3), np.vstack([Z] * 3)
    ref = ref_coranking(X3, Z3)
    curves = metrics.coranking_curves(X3, Z3)
    np.testing.assert_allclose(curves["q_nx"], ref["q_nx"], atol=1e-12)
    assert metrics.q_nx(X3, Z3, k=2) == 1.0  # both copies in both spaces


def test_rows_differing_only_by_the_sign_of_zero_are_duplicates():
    rng = np.random.default_rng(19)
    X = rng.normal(size=(40, 20))  # Gram path: duplicates found by hashing rows
    X[1] = X[0]
    X[0, 3], X[1, 3] = 0.0, -0.0
    Z = rng.normal(size=(40, 2))
    ref = ref_coranking(X, Z)
    np.testing.assert_allclose(metrics.coranking_curves(X, Z)["q_nx"], ref["q_nx"], atol=1e-12)
