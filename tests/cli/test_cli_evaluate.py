"""`topoae evaluate` on the authors' embeddings and on malformed files."""

import json

import numpy as np
import pytest

from topoae.cli import main


def _row(out: str) -> dict[str, float]:
    lines = out.strip().splitlines()
    headers = [h.strip() for h in lines[0].strip("|").split("|")]
    values = [float(v) for v in lines[2].strip("|").split("|")]
    return dict(zip(headers, values, strict=True))


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
