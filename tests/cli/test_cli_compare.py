"""`topoae compare` on the command line: table printed, files written, resume, errors."""

import json

import pytest

from topoae.cli import main
from topoae.paper import PAPER_SEEDS


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """PCA on the real Spheres split, first paper seed (autoencoders: see test_compare)."""
    out = tmp_path_factory.mktemp("cli-compare") / "spheres"
    argv = ["compare", "--methods", "pca", "--seeds", "1", "--epochs", "1", "--out", str(out)]
    return out, argv


def test_compare_prints_the_table_and_writes_the_files(cli_run, capsys):
    out, argv = cli_run
    assert main([*argv, "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("| method") and "KL_0.01" in lines[0] and "Data MSE" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["PCA", "PCA (paper)"]
    assert f"[1/1] PCA seed {PAPER_SEEDS[0]}" in captured.err
    for name in ("results.json", "table.md", "table.csv", "figure.png"):
        assert (out / name).exists(), name
    assert (out / "embeddings" / f"pca_seed{PAPER_SEEDS[0]}.csv").exists()
    saved = json.loads((out / "results.json").read_text())
    assert saved["settings"]["dataset"] == "spheres"
    assert saved["settings"]["n_test"] == 1000
    assert [r["method"] for r in saved["records"]] == ["pca"]
    # PCA on the real split lands near the paper's PCA row (a linear map: no seed effect).
    pca = next(r for r in saved["records"] if r["method"] == "pca")["measures"]
    assert pca["kl_0.1"] == pytest.approx(0.651, abs=0.03)
    assert pca["data_mse"] == pytest.approx(0.961, abs=0.03)

    # A rerun finds everything done and trains nothing.
    assert main([*argv, "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "1 of 1 method/seed pairs done" in captured.err
    assert "[1/1]" not in captured.err
    assert captured.out.strip().splitlines() == lines
    # The same folder with other settings is refused, not mixed.
    assert main([*argv, "--protocol", "reference"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_bad_flags_are_user_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--methods", "pca,lle", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "unknown method(s) lle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--seeds", "0", "--out", str(tmp_path)])
    assert main(["compare", "--seeds", "6", "--methods", "pca", "--out", str(tmp_path)]) == 2
    assert "1 to 5" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["compare", "--methods", "pca", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_digits_with_subsets_and_options_checked(tmp_path, capsys):
    out = tmp_path / "digits"
    argv = ["compare", "--dataset", "digits", "--methods", "pca", "--seeds", "1"]
    assert main([*argv, "--train-size", "300", "--test-size", "120", "--out", str(out)]) == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["settings"]["n_test"] == 120
    assert saved["settings"]["dataset_kwargs"] == {"train_size": 300, "test_size": 120}
    capsys.readouterr()
    # Options the data set does not take are a clear error, not a crash deep inside.
    assert main(["compare", "--methods", "pca", "--data-dir", ".", "--out", str(out)]) == 2
    assert "--data-dir is not available for spheres" in capsys.readouterr().err
