"""`topoae evaluate` on the authors' embeddings and on malformed files."""

import json

import numpy as np
import pytest

from topoae.cli import main


def _table(out: str) -> dict[str, list[str]]:
    """The printed table: measure -> [value, ± 95 %, exact/estimated]."""
    lines = [line for line in out.strip().splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: row[1:] for row in cells}


def _row(out: str) -> dict[str, float]:
    return {name: float(cells[0]) for name, cells in _table(out).items()}


def test_authors_topoae_embedding_scores_near_the_papers_row(reference_dir, tmp_path, capsys):
    path = reference_dir / "TopoAE.csv"
    assert (
        main(["evaluate", str(path), "--dataset", "spheres", "--json", str(tmp_path / "m.json")])
        == 0
    )
    row = _row(capsys.readouterr().out)
    # The paper's TopoAE row (a mean of 5 runs; this file is one of the authors' runs).
    assert row["KL_0.01"] == pytest.approx(0.085, abs=0.03)
    assert row["KL_0.1"] == pytest.approx(0.326, abs=0.03)
    assert row["ℓ-Cont"] == pytest.approx(0.822, abs=0.03)
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["kl_0.1"] == pytest.approx(row["KL_0.1"], rel=1e-3)
    assert len(saved["trustworthiness_per_k"]) == 20

    # The same embedding as two bare columns (no header, no labels) gives the same measures.
    latent = np.loadtxt(path, delimiter=",", skiprows=1)[:, :2]
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, latent, delimiter=",")
    assert main(["evaluate", str(plain), "--json", str(tmp_path / "p.json")]) == 0
    captured = capsys.readouterr()
    assert "cannot be checked" in captured.err
    assert json.loads((tmp_path / "p.json").read_text())["kl_0.1"] == pytest.approx(saved["kl_0.1"])


def test_wrong_rows_or_labels_are_clear_errors(reference_dir, tmp_path, capsys):
    lines = (reference_dir / "PCA.csv").read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:501]) + "\n")
    assert main(["evaluate", str(short)]) == 2
    assert "has 500 rows but the spheres test split has 1000" in capsys.readouterr().err

    swapped = tmp_path / "swapped.csv"  # rows 1 and 2 exchanged: labels 10 and 9 out of order
    swapped.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    assert main(["evaluate", str(swapped)]) == 2
    err = capsys.readouterr().err
    assert "differs from the spheres test labels in 2 of 1000 rows" in err
    assert "first: row 0" in err

    assert main(["evaluate", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _two_blobs_file(tmp_path, n_test=2000):
    """A labelled CSV whose test split has ``n_test`` points, and a noisy 2-D embedding of it."""
    from topoae import datasets

    rng = np.random.default_rng(0)
    n = n_test * 5 // 4
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 5)) + 1.5 * y[:, None]
    path = tmp_path / "blobs.csv"
    rows = [",".join(f"{v:.6f}" for v in x) + f",{label}" for x, label in zip(X, y, strict=True)]
    path.write_text("a,b,c,d,e,label\n" + "\n".join(rows) + "\n")
    data = datasets.load(path, seed=0, labels="label", test_fraction=0.8)
    assert len(data.x_test) == n_test
    latent = data.x_test[:, :2] + 0.3 * rng.normal(size=(n_test, 2))
    embedding = tmp_path / "embedding.csv"
    np.savetxt(embedding, latent, delimiter=",")
    args = ["--dataset", str(path), "--labels", "label", "--test-fraction", "0.8"]
    return data, latent, embedding, args


def _loo_knn_accuracy(Z, y, k=5):
    """Leave-one-out k-NN accuracy by brute force (majority of the k nearest others)."""
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(y[row], minlength=y.max() + 1).argmax() for row in nearest])
    return float(np.mean(votes == y))


def test_a_large_file_is_estimated_with_error_bars_and_agrees_with_exact(tmp_path, capsys):
    data, latent, embedding, args = _two_blobs_file(tmp_path)
    exact_json, sampled_json = tmp_path / "exact.json", tmp_path / "sampled.json"
    assert main(["evaluate", str(embedding), *args, "--json", str(exact_json)]) == 0
    out = capsys.readouterr().out
    table = _table(out)
    exact = json.loads(exact_json.read_text())
    assert "exact: all 2000 test points were query points" in out
    assert exact["estimated"] is False and exact["n_queries"] == 2000
    for name in ("KL_0.1", "ℓ-Cont", "ℓ-Trust", "q_nx", "auc_r_nx", "knn_accuracy"):
        assert table[name][1:] == ["", "exact"], name
    # Triplets are always a sample: its half-width is shown even in the exact mode.
    assert table["triplet_accuracy"][2] == "estimated" and table["triplet_accuracy"][1]
    assert exact["knn_accuracy"] == pytest.approx(_loo_knn_accuracy(latent, data.y_test))

    command = ["evaluate", str(embedding), *args, "--max-exact", "500", "--sample-size", "200"]
    assert main([*command, "--json", str(sampled_json)]) == 0
    out = capsys.readouterr().out
    table = _table(out)
    sampled = json.loads(sampled_json.read_text())
    assert "estimated: 200 of 2000 test points were query points" in out
    assert sampled["estimated"] is True and sampled["n_queries"] == 200
    for key, name in (("kl_0.1", "KL_0.1"), ("continuity", "ℓ-Cont"), ("knn_accuracy", None)):
        ci = sampled[f"{key}_ci95"]
        assert table[name or key] == [f"{sampled[key]:.3g}", f"{ci:.2g}", "estimated"]
        # The exact value lies within the estimate's interval (a generous 3 half-widths).
        assert abs(sampled[key] - exact[key]) < 3 * ci, key
    assert "auc_r_nx" not in table  # only the exact mode has the whole curve

    # Another sample seed draws other query points.
    assert main([*command, "--sample-seed", "1", "--json", str(sampled_json)]) == 0
    capsys.readouterr()
    assert json.loads(sampled_json.read_text())["kl_0.1"] != sampled["kl_0.1"]


def test_device_option(reference_dir, tmp_path, capsys, monkeypatch):
    embedding = reference_dir / "PCA.csv"
    cpu_json = tmp_path / "cpu.json"
    assert main(["evaluate", str(embedding), "--device", "cpu", "--json", str(cpu_json)]) == 0
    capsys.readouterr()
    # No CUDA device (forced, so the test means the same on a GPU machine): a clear error.
    monkeypatch.setattr("topoae.metrics._torch_pass.cuda_available", lambda: False)
    assert main(["evaluate", str(embedding), "--device", "cuda"]) == 2
    assert "torch sees no CUDA device" in capsys.readouterr().err
    assert main(["evaluate", str(embedding), "--device", "tpu9"]) == 2
    assert "is not a torch device" in capsys.readouterr().err
    # auto without a GPU is the CPU pass: the same values.
    auto_json = tmp_path / "auto.json"
    assert main(["evaluate", str(embedding), "--json", str(auto_json)]) == 0
    capsys.readouterr()
    cpu, auto = json.loads(cpu_json.read_text()), json.loads(auto_json.read_text())
    assert auto["kl_0.1"] == cpu["kl_0.1"] and auto["trustworthiness"] == cpu["trustworthiness"]
