"""Users' files through the command line: train, transform, compare, report, bad input.

Every file is small and written by the tests; training runs 2 epochs on 90 rows.
"""

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from topoae.cli import main
from topoae.core.evaluation import embed
from topoae.runs import load_run, load_run_model

N, D = 90, 4
NAMES = ["a", "b", "c", "d"]
KINDS = np.array(["x", "y", "z"])
TRAIN = ["--epochs", "2", "--device", "cpu", "--seed", "1"]


def topoae(argv: list[str]) -> int:
    """The command line, quiet (``-q`` goes before the subcommand)."""
    return main(["-q", *argv])


def _array() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, N)
    x = rng.normal(size=(N, D)) + 3.0 * y[:, None]
    return x, y


def _write_csv(path, x, labels=None, sep=","):
    with open(path, "w") as handle:
        handle.write(sep.join(NAMES + (["kind"] if labels is not None else [])) + "\n")
        for i, row in enumerate(x):
            cells = [repr(float(v)) for v in row]
            handle.write(sep.join(cells + ([str(labels[i])] if labels is not None else [])) + "\n")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same array as CSV, TSV, NPY, NPZ, Parquet and h5ad (labels where the format has them)."""
    import anndata

    folder = tmp_path_factory.mktemp("files")
    x, y = _array()
    kinds = KINDS[y]
    paths = {}
    _write_csv(folder / "points.csv", x, kinds)
    _write_csv(folder / "points.tsv", x, kinds, sep="\t")
    _write_csv(folder / "plain.csv", x)
    np.save(folder / "points.npy", x)
    np.savez(folder / "points.npz", X=x, y=y)
    frame = pd.DataFrame(x, columns=NAMES)
    frame["kind"] = kinds
    frame.to_parquet(folder / "points.parquet")
    obs = pd.DataFrame({"kind": pd.Categorical(kinds)}, index=[f"c{i}" for i in range(N)])
    adata = anndata.AnnData(x, obs=obs)  # float64, the same numbers as the other files
    adata.obsm["X_pca"] = x[:, :3].copy()
    adata.write_h5ad(folder / "points.h5ad")
    for name in ("csv", "tsv", "npy", "npz", "parquet", "h5ad"):
        paths[name] = folder / f"points.{name}"
    paths["plain"] = folder / "plain.csv"
    paths["folder"] = folder
    return paths


@pytest.fixture(scope="module")
def csv_run(files):
    # The first measures of a process (topoae.metrics' numba kernels, which share OpenMP with
    # torch) reset torch.get_num_threads() from 1 to the core count, which moves every later
    # training by ~1e-5: one warm-up run first, so all the runs compared here train alike.
    warm = files["folder"] / "warm"
    assert topoae(["train", "--dataset", str(files["npy"]), *TRAIN, "--out", str(warm)]) == 0
    out = files["folder"] / "run-csv"
    argv = ["train", "--dataset", str(files["csv"]), "--labels", "kind", "--out", str(out)]
    assert topoae([*argv, *TRAIN]) == 0
    return out


def test_train_on_a_csv_records_the_source_and_the_auto_preset(csv_run, files):
    config = json.loads((csv_run / "config.json").read_text())
    source = config["data_source"]
    assert config["preset"] == "auto"
    assert config["train"]["hidden_sizes"] == [32, 32]  # auto: 4 features -> the 32 floor
    assert config["train"]["architecture"] == "mlp"
    # The label column was kept out of the features.
    assert source["feature_names"] == NAMES and source["n_features"] == D
    assert source["label_column"] == "kind" and source["label_names"] == ["x", "y", "z"]
    run = load_run(csv_run)
    assert run.latent_test.shape == (source["n_test"], 2)
    # Test rows in file order: the labels are the file's labels of the recorded split.
    from topoae.datasets.files import reload

    data = reload(source)
    _, y = _array()
    np.testing.assert_array_equal(run.labels_test, y[data.source.test_index])
    assert np.all(np.diff(data.source.test_index) > 0)


@pytest.mark.parametrize("fmt", ["tsv", "npy", "npz", "parquet", "h5ad"])
def test_every_format_gives_the_identical_split_and_embedding(fmt, files, csv_run):
    out = files["folder"] / f"run-{fmt}"
    argv = ["train", "--dataset", str(files[fmt]), "--out", str(out), *TRAIN]
    if fmt in ("tsv", "parquet", "h5ad"):
        argv += ["--labels", "kind"]
    assert main(argv) == 0
    ours = json.loads((out / "config.json").read_text())["data_source"]
    theirs = json.loads((csv_run / "config.json").read_text())["data_source"]
    assert ours["split_sha256"] == theirs["split_sha256"]
    np.testing.assert_array_equal(load_run(out).latent_test, load_run(csv_run).latent_test)


def test_transform_embeds_new_rows_with_the_run_preprocessing(csv_run, files, tmp_path):
    x, _ = _array()
    new = x[::-1][:25] + 0.5
    # Columns in another order, no label column: matched by name.
    frame = pd.DataFrame(new, columns=NAMES)[["d", "b", "a", "c"]]
    frame.to_csv(tmp_path / "new.csv", index=False)
    record = json.loads((csv_run / "config.json").read_text())["data_source"]
    mean, std = np.array(record["mean"]), np.array(record["std"])
    expected = embed(load_run_model(csv_run), ((new - mean) / std).astype(np.float32))
    for ext in ("csv", "npy", "parquet"):
        out = tmp_path / f"z.{ext}"
        assert (
            topoae(["transform", str(csv_run), str(tmp_path / "new.csv"), "--out", str(out)]) == 0
        )
        if ext == "csv":
            got = pd.read_csv(out).to_numpy()
        elif ext == "npy":
            got = np.load(out)
        else:
            got = pd.read_parquet(out).to_numpy()
        assert got.shape == (25, 2)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_evaluate_and_diagrams_reload_the_run_data(csv_run, files, tmp_path):
    embedding = str(csv_run / "embedding_test.csv")
    # The recorded split of the run, and the same split from the file flags and the seed.
    assert topoae(["evaluate", embedding, "--run", str(csv_run)]) == 0
    argv = ["evaluate", embedding, "--dataset", str(files["csv"]), "--labels", "kind"]
    assert topoae([*argv, "--seed", "1", "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["dataset"] == str(files["csv"])
    # Another seed gives another split: its labels differ from the embedding's.
    assert topoae([*argv, "--seed", "2"]) == 2
    pytest.importorskip("ripser")
    pytest.importorskip("matplotlib")
    out = tmp_path / "diagrams.png"
    assert topoae(["diagrams", str(csv_run), "--out", str(out), "--subsample", "20"]) == 0
    assert out.stat().st_size > 0


def test_split_flags_are_recorded(files, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--dataset", str(files["npy"]), "--test-fraction", "0.3", "--no-standardize"]
    assert (
        topoae([*argv, "--preset", "spheres", "--hidden-sizes", "8,4", *TRAIN, "--out", str(out)])
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    source = config["data_source"]
    assert source["n_test"] == 27 and source["standardize"] is False and source["mean"] is None
    assert config["preset"] == "spheres" and config["train"]["hidden_sizes"] == [8, 4]
    assert load_run(out).labels_test is None  # an unlabelled file: no labels stored


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err, err
    return err


def test_transform_errors(csv_run, tmp_path, capsys):
    np.save(tmp_path / "three.npy", np.zeros((5, 3)))
    pd.DataFrame(np.zeros((5, 3)), columns=["a", "c", "d"]).to_csv(
        tmp_path / "nob.csv", index=False
    )
    (tmp_path / "text.csv").write_text("a,b,c,d\n1,2,3,4\n1,2,oops,4\n")
    cases = {
        "three.npy": "3 feature columns",
        "nob.csv": "'b'",
        "text.csv": "oops",
    }
    for name, words in cases.items():
        argv = ["transform", str(csv_run), str(tmp_path / name), "--out", str(tmp_path / "z.npy")]
        assert main(argv) == 2, name
        assert words in _one_line_error(capsys), name
    argv = ["transform", str(csv_run), str(tmp_path / "text.csv"), "--out", str(tmp_path / "z.txt")]
    assert main(argv) == 2
    _one_line_error(capsys)


def _bad_files(folder):
    (folder / "empty.csv").write_text("")
    (folder / "header.csv").write_text("a,b,c\n")
    (folder / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n" + "1,2,3\n" * 40)
    (folder / "text.csv").write_text("a,b,c\n" + "1,2,3\n" * 20 + "1,two,3\n" + "1,2,3\n" * 20)
    (folder / "nan.csv").write_text("a,b,c\n" + "1,2,3\n" * 20 + "1,nan,3\n" + "1,2,3\n" * 20)
    (folder / "inf.csv").write_text("a,b,c\n" + "1,2,3\n" * 20 + "1,inf,3\n" + "1,2,3\n" * 20)
    (folder / "fake.npy").write_bytes(b"this is not numpy")
    (folder / "fake.parquet").write_text("a,b\n1,2\n")
    (folder / "fake.h5ad").write_text("not hdf5")


BAD = [
    (["--dataset", "empty.csv"], "empty"),
    (["--dataset", "header.csv"], ""),
    (["--dataset", "ragged.csv"], ""),
    (["--dataset", "text.csv"], "'b'"),
    (["--dataset", "nan.csv"], "'b'"),
    (["--dataset", "inf.csv"], "'b'"),
    (["--dataset", "fake.npy"], ""),
    (["--dataset", "fake.parquet"], ""),
    (["--dataset", "fake.h5ad"], ""),
    (["--dataset", "missing.csv"], "no such file"),
    (["--dataset", "no-such-set"], "spheres"),
    (["--dataset", "POINTS", "--labels", "nope"], "nope"),
    (["--dataset", "POINTS", "--batch-size", "500"], "batch"),
    (["--dataset", "H5AD", "--use-rep", "X_umap"], "X_umap"),
    (["--dataset", "POINTS", "--preset", "nope"], "nope"),
    (["--dataset", "spheres", "--labels", "kind"], "--labels"),
    (["--dataset", "POINTS", "--write-h5ad", "out.h5ad"], "h5ad"),
]


@pytest.mark.parametrize(("flags", "words"), BAD, ids=[" ".join(f) for f, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(flags, words, files, tmp_path, capsys):
    _bad_files(tmp_path)
    given = {"POINTS": str(files["plain"]), "H5AD": str(files["h5ad"])}
    suffixes = (".csv", ".npy", ".parquet", ".h5ad")
    flags = [given.get(f, str(tmp_path / f) if f.endswith(suffixes) else f) for f in flags]
    assert topoae(["train", *flags, *TRAIN, "--out", str(tmp_path / "run")]) == 2
    assert words in _one_line_error(capsys)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_train_writes_the_embedded_h5ad(files, tmp_path):
    import anndata

    out, written = tmp_path / "run", tmp_path / "embedded.h5ad"
    argv = ["train", "--dataset", str(files["h5ad"]), "--use-rep", "X_pca", "--labels", "kind"]
    assert topoae([*argv, *TRAIN, "--out", str(out), "--write-h5ad", str(written)]) == 0
    adata = anndata.read_h5ad(written)
    assert adata.obsm["X_topoae"].shape == (N, 2)
    assert list(adata.obs_names[:3]) == ["c0", "c1", "c2"]  # every cell, in file order
    x, _ = _array()
    record = json.loads((out / "config.json").read_text())["data_source"]
    assert record["use_rep"] == "X_pca" and record["n_features"] == 3
    rows = (x[:, :3] - np.array(record["mean"])) / np.array(record["std"])
    expected = embed(load_run_model(out), rows.astype(np.float32))
    np.testing.assert_allclose(adata.obsm["X_topoae"], expected, rtol=1e-5, atol=1e-6)
    assert adata.uns["topoae"]["use_rep"] == "X_pca"


def test_resume_reloads_the_recorded_file_and_refuses_a_changed_one(files, tmp_path, capsys):
    data = tmp_path / "copy.csv"
    data.write_bytes(files["csv"].read_bytes())
    out = tmp_path / "run"
    assert (
        topoae(["train", "--dataset", str(data), "--labels", "kind", *TRAIN, "--out", str(out)])
        == 0
    )
    before = load_run(out).latent_test
    assert topoae(["train", "--resume", *TRAIN, "--out", str(out)]) == 0
    np.testing.assert_array_equal(load_run(out).latent_test, before)
    data.write_text(data.read_text() + ",".join(["0"] * D) + ",x\n")
    assert topoae(["train", "--resume", *TRAIN, "--out", str(out)]) == 2
    assert "changed" in _one_line_error(capsys)


def test_compare_and_report_on_a_file(files, csv_run, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--dataset", str(files["csv"]), "--labels", "kind"]
    argv += ["--methods", "pca,topoae", "--seed-values", "1", "--split-seed", "1"]
    argv += ["--epochs", "2", "--device", "cpu"]
    assert topoae([*argv, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    settings = results["settings"]
    assert settings["preset"] == "auto" and settings["data_source"]["label_column"] == "kind"
    n_test = settings["data_source"]["n_test"]
    for method in ("pca", "topoae"):
        frame = pd.read_csv(out / "embeddings" / f"{method}_seed1.csv")
        assert list(frame.columns) == ["0", "1", "labels"] and len(frame) == n_test
    # The TopoAE of the comparison is the same run as `topoae train` with the same seed.
    run = load_run(out / "runs" / "topoae-seed1")
    np.testing.assert_array_equal(run.latent_test, load_run(csv_run).latent_test)
    assert (out / "table.md").exists()
    for folder in (out, csv_run):
        html = tmp_path / f"{folder.name}.html"
        assert topoae(["report", str(folder), "--out", str(html), "--no-animation"]) == 0
        assert html.stat().st_size > 0


def test_compare_without_labels_writes_no_label_column(files, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--dataset", str(files["npy"]), "--methods", "pca", "--seed-values", "0"]
    assert topoae([*argv, "--out", str(out)]) == 0
    frame = pd.read_csv(out / "embeddings" / "pca_seed0.csv")
    assert list(frame.columns) == ["0", "1"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "figure.png").stat().st_size > 0  # drawn uncoloured


def test_isomap_is_skipped_above_its_size(monkeypatch, files):
    from topoae.apps.compare import orchestration
    from topoae.datasets import load

    monkeypatch.setattr(orchestration, "ISOMAP_MAX_TRAIN", 10)
    notes = []
    data = load(str(files["npy"]))
    comparison = orchestration.compare(data, methods=["isomap", "pca"], seeds=[0], log=notes.append)
    assert comparison.settings["methods"] == ["pca"]
    assert any("Isomap skipped" in note for note in notes)


def test_spheres_transform_scaling_is_the_loader_standardisation():
    from topoae import datasets
    from topoae.cli.transform import spheres_scaling
    from topoae.datasets.spheres import make_spheres, spheres_test_indices

    mean, std = spheres_scaling()
    x, _ = make_spheres()
    raw_test = x[spheres_test_indices(len(x))]
    ours = ((raw_test - np.array(mean)) / np.array(std)).astype(np.float32)
    np.testing.assert_allclose(ours, datasets.load("spheres").x_test, rtol=1e-5, atol=1e-5)


#: Flags the page's commands get in the test, to stay quick (later flags win in argparse).
QUICK = {
    "train": ["--epochs", "2", "--device", "cpu"],
    "compare": ["--methods", "pca,topoae", "--seed-values", "0", "--epochs", "2", "--no-figure"],
    "report": ["--no-diagrams", "--no-animation"],
    "transform": [],
}


def test_the_your_data_page_commands_run(tmp_path, monkeypatch, capsys):
    """The ``sh`` blocks' commands of docs/your-data.md run on the page's own generated files."""
    import re
    import shlex
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "your-data.md").read_text()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", page, flags=re.S):
        exec(compile(block, "your-data.md", "exec"), namespace)
    commands = [
        shlex.split(line)[1:]
        for block in re.findall(r"```sh\n(.*?)```", page, flags=re.S)
        for line in block.splitlines()
        if line.startswith("topoae ")
    ]
    assert {argv[0] for argv in commands} == set(QUICK)
    for argv in commands:
        assert topoae([*argv, *QUICK[argv[0]]]) == 0, argv
    assert (tmp_path / "embedding.parquet").exists() and (tmp_path / "embedded.h5ad").exists()
    assert (tmp_path / "runs" / "cells-compare" / "report.html").exists()
