"""``topoae bench --which measures``: topoae's measures beside scikit-learn's, on one data set."""

import pytest

from topoae.apps.bench_measures import TRUST_K, bench_measures
from topoae.cli import main


def test_bench_measures_rows_agree_with_scikit_learn():
    result = bench_measures([300, 400], dim=20, repeats=1)
    assert [row["n"] for row in result.rows] == [300, 400]
    for row in result.rows:
        for name in ("topoae", "topoae_trust", "sklearn_trust"):
            assert row[f"{name}_s"] > 0 and row[f"{name}_peak_mib"] >= 0
        assert row["ratio_all"] == pytest.approx(row["sklearn_trust_s"] / row["topoae_s"])
        # The same definition, computed three ways: scikit-learn, the single function and
        # evaluate's k = 10 entry.
        assert row["trust_topoae"] == pytest.approx(row["trust_sklearn"], abs=1e-12)
        assert row["trust_evaluate"] == pytest.approx(row["trust_sklearn"], abs=1e-12)
    assert result.settings["trust_k"] == TRUST_K


def test_cli_measures_table(capsys):
    argv = ["bench", "--which", "measures", "--measure-sizes", "200", "--repeats", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Quality measures: evaluate (everything, 20 ks)" in out
    assert "scikit-learn trust s" in out and "| 200 |" in out
