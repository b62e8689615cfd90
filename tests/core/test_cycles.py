"""H1 pairs with their edges (topoae.core.cycles) and the cycle terms (core/losses/cycles.py)."""

from itertools import combinations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from topoae.core.cycles import check_homology_dims, edge_ranks, h1_cascades, h1_pairs
from topoae.core.losses import CycleLoss, pairwise_distances
from topoae.datasets.loops import make_circle
from topoae.errors import InputError, MissingDependencyError

gudhi = pytest.importorskip("gudhi")
ripser = pytest.importorskip("ripser")

FORMULATIONS = ("persistence", "edges", "cascade", "asymmetric-cascade")


def _float32_exact(points):
    # ripser computes in float32: distances that float32 holds exactly make its
    # diagram exact, so it can be compared at 1e-10.
    return cdist(points, points).astype(np.float32).astype(np.float64)


def _persistence(dist, pairs):
    return np.sort(dist[pairs[:, 2], pairs[:, 3]] - dist[pairs[:, 0], pairs[:, 1]])


def _ripser_h1(dist):
    diagram = ripser.ripser(dist, distance_matrix=True, maxdim=1)["dgms"][1]
    return np.sort(diagram[:, 1] - diagram[:, 0])


def _gudhi_h1(dist):
    tree = gudhi.RipsComplex(distance_matrix=dist).create_simplex_tree(max_dimension=2)
    tree.compute_persistence(homology_coeff_field=2)
    diagram = tree.persistence_intervals_in_dimension(1).reshape(-1, 2)
    return np.sort(diagram[:, 1] - diagram[:, 0])


def _clouds():
    rng = np.random.default_rng(7)
    for m, d in ((16, 2), (30, 5), (48, 10)):
        yield f"random-{m}", rng.normal(size=(m, d))
    circle, _ = make_circle(n_samples=60, dim=10, noise=0.05, seed=3)
    yield "circle", circle.astype(np.float64)


@pytest.mark.parametrize(("name", "points"), list(_clouds()))
def test_persistence_equals_ripser_and_gudhi(name, points):
    dist = _float32_exact(points)
    pairs = h1_pairs(dist)
    assert len(pairs) > 0, name
    ours = _persistence(dist, pairs)
    np.testing.assert_allclose(ours, _ripser_h1(dist), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours, _gudhi_h1(dist), rtol=0, atol=1e-10)
    # Births are strictly shorter than deaths, edges sorted, rows by birth rank.
    assert np.all(pairs[:, 0] < pairs[:, 1]) and np.all(pairs[:, 2] < pairs[:, 3])
    _, ranks = edge_ranks(dist)
    assert np.all(np.diff(ranks[pairs[:, 0], pairs[:, 1]]) > 0)


@pytest.mark.parametrize(("name", "points"), list(_clouds()))
def test_own_reduction_gives_gudhis_pairs(name, points):
    dist = cdist(points, points)
    np.testing.assert_array_equal(h1_cascades(dist).pairs, h1_pairs(dist))


def test_circle_most_persistent_class_is_the_loop():
    circle, _ = make_circle(n_samples=100, dim=100, noise=0.02, seed=0)
    dist = cdist(circle, circle)
    pairs = h1_pairs(dist)
    persistence = dist[pairs[:, 2], pairs[:, 3]] - dist[pairs[:, 0], pairs[:, 1]]
    order = np.argsort(persistence)[::-1]
    top = pairs[order[0]]
    # The unit circle fills when an inscribed triangle does: its sides are sqrt(3).
    assert 1.6 < dist[top[2], top[3]] < 1.8
    assert dist[top[0], top[1]] < 0.3  # the widest gap between neighbours
    assert len(pairs) == 1 or persistence[order[1]] < 0.1 * persistence[order[0]]


def test_no_cycles_give_empty_arrays():
    for m in (1, 2, 3):
        dist = cdist(np.arange(m * 2.0).reshape(m, 2), np.arange(m * 2.0).reshape(m, 2))
        assert h1_pairs(dist).shape == (0, 4)
        found = h1_cascades(dist)
        assert found.pairs.shape == (0, 4) and found.cascade.shape == (0, 2)
    line = np.linspace(0, 1, 20)[:, None] ** 2
    assert h1_pairs(cdist(line, line)).shape == (0, 4)
    assert h1_cascades(cdist(line, line)).pairs.shape == (0, 4)


def test_hand_computed_square():
    # Sides (0,1), (0,3), (1,2), (2,3) of length 1 in the order (A, i, j): the first three
    # span; (2, 3) closes the loop; both triangles with the diagonal (0, 2) fill it.
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    dist = cdist(square, square)
    np.testing.assert_array_equal(h1_pairs(dist), [[2, 3, 0, 2]])
    assert h1_cascades(dist).cascade.shape == (0, 2)


FIVE = np.array([[0, 6], [7, 7], [8, 1], [5, 8], [3, 1]], dtype=float)


def test_hand_computed_cascade():
    # Squared lengths in order: (1,3) 5, (2,4) 25, (0,3) 29, (0,4) 34 (the tree), then
    # (1,2) 37, (0,1) 50, (1,4) 52, ... (1,2) is the longest edge of no triangle: the loop
    # 1-2-4-0-3 is born there. Triangle {0,1,3} pairs with (0,1), {1,2,4} with (1,4);
    # {0,1,4} = {(0,4),(0,1),(1,4)} reduces by {1,2,4} to {(2,4),(0,4),(1,2),(0,1)}, by
    # {0,1,3} to {(1,3),(2,4),(0,3),(0,4),(1,2)}: pivot (1,2), unpaired. Pivots met:
    # (1,4) the death edge, (0,1) the cascade, (1,2) the birth edge.
    found = h1_cascades(cdist(FIVE, FIVE))
    np.testing.assert_array_equal(found.pairs, [[1, 2, 1, 4]])
    np.testing.assert_array_equal(found.cascade, [[0, 1]])
    np.testing.assert_array_equal(found.cascade_sizes, [1])


def _slow_cascades(dist):
    """Obviously correct: every triangle sorted up front, full reduction, no shortcut."""
    m = len(dist)
    order = sorted(combinations(range(m), 2), key=lambda e: (dist[e], e[0], e[1]))
    rank = {edge: r for r, edge in enumerate(order)}
    faces = {
        t: sorted((rank[(t[0], t[1])], rank[(t[0], t[2])], rank[(t[1], t[2])]))
        for t in combinations(range(m), 3)
    }
    owner, reduced, pairs, union = {}, {}, [], set()
    for t in sorted(faces, key=lambda t: faces[t][::-1]):
        column, seen = set(faces[t]), []
        while column:
            pivot = max(column)
            seen.append(pivot)
            if pivot not in owner:
                owner[pivot] = t
                reduced[t] = column
                if dist[order[pivot]] < dist[order[seen[0]]]:
                    pairs.append((pivot, seen[0]))
                    union.update(seen[1:-1])
                break
            column = column ^ reduced[owner[pivot]]
    pairs.sort()
    as_rows = [(*order[b], *order[d]) for b, d in pairs]
    return np.array(as_rows).reshape(-1, 4), np.array([order[e] for e in sorted(union)])


@pytest.mark.parametrize("seed", range(4))
def test_cascades_equal_a_slow_reduction(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(14, 3 + seed))
    dist = cdist(points, points)
    pairs, union = _slow_cascades(dist)
    found = h1_cascades(dist)
    np.testing.assert_array_equal(found.pairs, pairs)
    np.testing.assert_array_equal(found.cascade, union.reshape(-1, 2))


def test_ties_and_duplicates_are_deterministic():
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 4, size=(24, 2)).astype(float)  # repeated points, equal lengths
    dist = cdist(grid, grid)
    first = h1_pairs(dist)
    np.testing.assert_array_equal(first, h1_pairs(dist.copy()))
    np.testing.assert_array_equal(h1_cascades(dist).pairs, first)
    # Zero-persistence pairs are dropped, as the diagrams drop them.
    np.testing.assert_allclose(_persistence(dist, first), _gudhi_h1(dist), atol=1e-10)
    # Relabelling the points permutes the pairs, never their persistence.
    perm = rng.permutation(len(grid))
    np.testing.assert_allclose(
        _persistence(dist[perm][:, perm], h1_pairs(dist[perm][:, perm])),
        _persistence(dist, first),
        atol=1e-12,
    )


def test_tensor_input_and_bad_input():
    x = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    dist = torch.cdist(x, x)
    np.testing.assert_array_equal(h1_pairs(dist), h1_pairs(dist.detach().numpy()))
    with pytest.raises(InputError, match="shape"):
        h1_pairs(np.zeros((3, 4)))
    bad = dist.detach().numpy().copy()
    bad[0, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        h1_cascades(bad)


def test_missing_gudhi_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gudhi", None)
    with pytest.raises(MissingDependencyError, match=r"topoae\[tda\]"):
        h1_pairs(np.eye(5))


def test_homology_dims():
    assert check_homology_dims("0") == (0,)
    assert check_homology_dims([1, 0, 1]) == (0, 1)
    with pytest.raises(InputError, match="dimension 2 is not supported"):
        check_homology_dims("0,1,2")
    for bad in ("", "a", [-1]):
        with pytest.raises(InputError):
            check_homology_dims(bad)


# --- the loss terms ---------------------------------------------------------------------


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_zero_for_an_isometric_latent(formulation):
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(24, 5)))
    rotation = torch.from_numpy(np.linalg.qr(rng.normal(size=(5, 5)))[0])
    dist_x = pairwise_distances(x)
    dist_z = pairwise_distances(x @ rotation + 3.0)
    loss = CycleLoss(formulation)
    assert float(loss(dist_x, dist_x)) == 0.0
    value, terms = loss(dist_x, dist_z, return_components=True)
    assert float(value) < 1e-24
    assert terms.cycles_x == terms.cycles_z == terms.shared_cycles > 0


def test_hand_computed_square_against_rectangle():
    # X: unit square, cycle born at (2,3) (length 1), filled at (0,2) (sqrt 2).
    # Z: 1 x 1.2 rectangle, sides (0,1), (2,3) of 1 and (0,3), (1,2) of 1.2: the tree is
    # (0,1), (2,3), (0,3); the cycle is born at (1,2) (1.2), filled at (0,2) (sqrt 2.44)
    # (triangle {0,2,3} comes first and pairs with (0,2); {0,1,2} then reduces to (1,2)).
    square = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=torch.float64)
    rectangle = square * torch.tensor([1.0, 1.2], dtype=torch.float64)
    dx, dz = pairwise_distances(square), pairwise_distances(rectangle)
    s2, s244 = np.sqrt(2.0), np.sqrt(2.44)
    # persistence: X's cycle has sqrt2 - 1 in X and sqrt2.44 - 1 in Z (edges (2,3), (0,2));
    # Z's has sqrt2.44 - 1.2 in Z and sqrt2 - 1 in X (edges (1,2), (0,2)).
    expected = (s2 - s244) ** 2 + ((s244 - 1.2) - (s2 - 1)) ** 2
    assert float(CycleLoss("persistence")(dx, dz)) == pytest.approx(expected, rel=1e-12)
    # edges: X's birth edge has the same length in both (1), its death edge differs;
    # Z's birth edge is 1.2 against 1, its death edge again sqrt2.44 against sqrt2.
    expected = 0 + (s2 - s244) ** 2 + (1.2 - 1) ** 2 + (s244 - s2) ** 2
    for formulation in ("edges", "cascade", "asymmetric-cascade"):  # no cascade edges here
        value = float(CycleLoss(formulation)(dx, dz))
        assert value == pytest.approx(expected, rel=1e-12), formulation


def test_hand_computed_cascade_term():
    # Z = 2 X keeps every pair and cascade (test_hand_computed_cascade): each compared
    # edge e contributes (A_e - 2 A_e)^2 = A_e^2, squared lengths 37 (birth), 52 (death),
    # 50 (cascade), in each direction that uses them.
    x = torch.from_numpy(FIVE)
    dx, dz = pairwise_distances(x), pairwise_distances(2 * x)
    assert float(CycleLoss("cascade")(dx, dz)) == pytest.approx(2 * (37 + 52 + 50))
    assert float(CycleLoss("asymmetric-cascade")(dx, dz)) == pytest.approx(
        (37 + 52 + 50) + (37 + 52)
    )
    assert float(CycleLoss("edges")(dx, dz)) == pytest.approx(2 * (37 + 52))
    persistence = (np.sqrt(52) - np.sqrt(37)) ** 2
    assert float(CycleLoss("persistence")(dx, dz)) == pytest.approx(2 * persistence)
    _, terms = CycleLoss("cascade")(dx, dz, return_components=True)
    assert (terms.cascade_x, terms.cascade_z, terms.shared_cycles) == (1, 1, 1)


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_gradcheck(formulation):
    generator = torch.Generator().manual_seed(1)
    dist_x = pairwise_distances(torch.randn(16, 5, dtype=torch.float64, generator=generator))
    latent = torch.randn(16, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    loss = CycleLoss(formulation)
    _, terms = loss(dist_x, pairwise_distances(latent), return_components=True)
    # Every part is exercised: cycles and cascade edges in both spaces.
    assert (terms.cycles_x, terms.cycles_z) == (5, 2)
    assert (CycleLoss("cascade")(dist_x, pairwise_distances(latent), True)[1].cascade_z) == 1
    assert torch.autograd.gradcheck(lambda z: loss(dist_x, pairwise_distances(z)), (latent,))


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("m", [1, 2, 3])
def test_too_small_batches_give_exact_zero(formulation, m):
    latent = torch.randn(m, 2, dtype=torch.float64, requires_grad=True)
    dist_x = pairwise_distances(torch.randn(m, 4, dtype=torch.float64))
    value = CycleLoss(formulation)(dist_x, pairwise_distances(latent))
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(latent.grad, torch.zeros_like(latent))


def test_engines_agree_and_structure_can_be_reused():
    generator = torch.Generator().manual_seed(2)
    dist_x = pairwise_distances(torch.randn(20, 6, dtype=torch.float64, generator=generator))
    dist_z = pairwise_distances(torch.randn(20, 2, dtype=torch.float64, generator=generator))
    for formulation in ("persistence", "edges"):
        ours = CycleLoss(formulation)(dist_x, dist_z)
        theirs = CycleLoss(formulation, engine="gudhi")(dist_x, dist_z)
        assert float(ours) == pytest.approx(float(theirs), rel=1e-12)
    loss = CycleLoss("cascade")
    reused = loss(dist_x, dist_z, structure_x=loss.structure(dist_x))
    assert float(reused) == float(loss(dist_x, dist_z))


def test_bad_settings():
    with pytest.raises(InputError, match="formulation"):
        CycleLoss("wasserstein")
    with pytest.raises(InputError, match="engine"):
        CycleLoss(engine="ripser")
    with pytest.raises(InputError, match="cascade"):
        CycleLoss("cascade", engine="gudhi")
    with pytest.raises(InputError, match="shape"):
        CycleLoss()(torch.zeros(4, 4), torch.zeros(5, 5))
