"""compare(): methods × seeds on a small Spheres, files written, resume, tables, errors."""

import csv
import io
import json

import numpy as np
import pytest

from topoae import datasets
from topoae.apps.compare import (
    RESULTS_FORMAT,
    compare,
    load_results,
    paper_seeds,
    run_method,
    summarize,
)
from topoae.apps.compare import orchestration as compare_module
from topoae.apps.compare.results import Comparison, save_results
from topoae.apps.compare.tables import ESTIMATE_NOTE, intervals, table_markdown
from topoae.errors import DataFileError
from topoae.paper import COLUMNS, PAPER_SEEDS, PAPER_TABLE
from topoae.runs.folder import load_run, read_embedding_csv

#: 10 small spheres of 30 points plus an enclosing one of 300, in R^11: 60 test points.
SMALL = {"n_samples": 30, "d": 10}
KS = (5, 10)


def _small_compare(out, **kwargs):
    settings = dict(
        methods=["pca", "ae"],
        seeds=[1, 2],
        out=out,
        max_epochs=1,
        ks=KS,
        dataset_kwargs=SMALL,
        device="cpu",
    )
    settings.update(kwargs)
    return compare("spheres", **settings)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    lines = []
    comparison = _small_compare(out, log=lines.append)
    return out, comparison, lines


def test_writes_every_file(small_run):
    out, comparison, lines = small_run
    for name in ("results.json", "table.md", "table.csv", "figure.png"):
        assert (out / name).stat().st_size > 0, name
    for method in ("pca", "ae"):
        for seed in (1, 2):
            latent, labels = read_embedding_csv(out / "embeddings" / f"{method}_seed{seed}.csv")
            assert latent.shape == (60, 2)
            assert np.array_equal(labels, datasets.load("spheres", seed=seed, **SMALL).y_test)
    # Autoencoders get a standard run folder that the other tools can read.
    run = load_run(out / "runs" / "ae-seed1")
    latent, _ = read_embedding_csv(out / "embeddings" / "ae_seed1.csv")
    assert np.allclose(run.latent_test, latent)
    assert run.summary["kl_0.1"] == comparison.record("ae", 1)["measures"]["kl_0.1"]
    assert not (out / "runs" / "pca-seed1").exists()
    # Progress: one line per method and seed, method by method.
    starts = [line for line in lines if line.startswith("[")]
    assert starts == ["[1/4] PCA seed 1", "[2/4] PCA seed 2", "[3/4] AE seed 1", "[4/4] AE seed 2"]


def test_results_hold_every_measure_and_the_settings(small_run):
    out, comparison, _ = small_run
    saved = json.loads((out / "results.json").read_text())
    assert saved["settings"]["seeds"] == [1, 2]
    assert saved["settings"]["ks"] == list(KS)
    assert len(saved["records"]) == 4
    for record in saved["records"]:
        assert {
            "kl_0.01",
            "kl_0.1",
            "kl_1",
            "mrre",
            "continuity",
            "trustworthiness",
            "rmse",
        } <= set(record["measures"])
        assert len(record["measures"]["trustworthiness_per_k"]) == len(KS)
        assert "data_mse" in record["measures"]  # both PCA and the AE reconstruct
        assert record["seconds"]["total"] >= record["seconds"]["fit"] >= 0
    ae = comparison.record("ae", 2)
    assert ae["info"]["config"]["lam"] == 0.0
    assert ae["info"]["config"]["train_on_validation"] is False
    assert ae["info"]["epochs"] == 1
    assert saved["summary"]["pca"]["kl_0.1"]["n"] == 2
    assert "ci95" not in saved["summary"]["pca"]["kl_0.1"]  # exact: no interval stored


def _loo_knn_accuracy(Z, y, k=5):
    """Leave-one-out k-NN accuracy by brute force (majority of the k nearest others)."""
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(y[row], minlength=y.max() + 1).argmax() for row in nearest])
    return float(np.mean(votes == y))


def test_labelled_data_adds_knn_accuracy(small_run):
    out, comparison, _ = small_run
    for method, seed in (("pca", 1), ("ae", 2)):
        record = comparison.record(method, seed)
        latent, labels = read_embedding_csv(out / record["embedding"])
        expected = _loo_knn_accuracy(latent, labels.astype(int))
        assert record["measures"]["knn_accuracy"] == pytest.approx(expected, abs=1e-9)


def test_table_has_ours_and_the_papers_rows(small_run):
    out, comparison, _ = small_run
    headers, rows = comparison.table()
    assert headers == ["method", "seeds", *[h for _, h in COLUMNS]]
    assert [row[0] for row in rows] == ["PCA", "PCA (paper)", "AE", "AE (paper)"]
    assert all(len(row) == len(headers) for row in rows)
    assert rows[1][2:] == [f"{PAPER_TABLE['spheres']['pca'][k]:.3g}" for k, _ in COLUMNS]
    mean, std, n = comparison.summary()["pca"]["kl_0.1"]
    assert rows[0][3] == f"{mean:.3g} ± {std:.2g}" and n == 2
    assert (out / "table.md").read_text().strip() == comparison.table_markdown()
    table = list(csv.DictReader(io.StringIO((out / "table.csv").read_text())))
    assert [(r["method"], r["source"]) for r in table] == [
        ("pca", "ours"),
        ("pca", "paper"),
        ("ae", "ours"),
        ("ae", "paper"),
    ]
    assert float(table[0]["kl_0.1_mean"]) == pytest.approx(mean)
    assert float(table[3]["data_mse_mean"]) == pytest.approx(0.8155)


def test_rerun_skips_finished_pairs_and_adds_new_ones(small_run, tmp_path, monkeypatch):
    out, comparison, _ = small_run
    calls = []
    real = compare_module.run_method

    def counting(method, data, **kwargs):
        calls.append((method, kwargs["seed"]))
        return real(method, data, **kwargs)

    monkeypatch.setattr(compare_module, "run_method", counting)
    again = _small_compare(out)
    assert calls == []
    assert again.records == comparison.records
    # Another method: only its pairs run; the earlier ones stay in results.json.
    more = _small_compare(out, methods=["pca", "isomap"], seeds=[2])
    assert calls == [("isomap", 2)]
    assert [row[0] for row in more.table()[1]] == ["Isomap", "Isomap (paper)", "PCA", "PCA (paper)"]
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["records"]) == 5
    assert saved["settings"]["all_methods"] == ["pca", "ae", "isomap"]


def test_rerun_with_other_settings_is_refused(small_run):
    out, _, _ = small_run
    with pytest.raises(ValueError, match=r"other settings.*ks"):
        _small_compare(out, ks=(5,))
    with pytest.raises(ValueError, match=r"other settings.*protocol"):
        _small_compare(out, protocol="reference")


def test_reference_protocol_trains_on_validation_too():
    data = datasets.load("spheres", seed=3, **SMALL)
    result = run_method("ae", data, seed=3, max_epochs=1, ks=KS, protocol="reference")
    assert result.info["config"]["train_on_validation"] is True
    assert result.measures["data_mse"] > 0 and result.latent.shape == (60, 2)


def test_a_dataset_object_is_used_for_every_seed():
    data = datasets.load("spheres", seed=0, **SMALL)
    comparison = compare(data, methods=["pca"], seeds=[4, 5], ks=KS, figure=False)
    a, b = (comparison.record("pca", s)["measures"] for s in (4, 5))
    assert a["kl_0.1"] == pytest.approx(b["kl_0.1"])  # same data, deterministic PCA


def test_summarize_is_mean_and_sample_std():
    records = [
        {"method": "pca", "seed": s, "measures": {"kl_0.1": v, "rmse": 2 * v}}
        for s, v in ((1, 0.1), (2, 0.2), (3, 0.6))
    ]
    summary = summarize(records)
    mean, std, n = summary["pca"]["kl_0.1"]
    assert (mean, n) == (pytest.approx(0.3), 3)
    assert std == pytest.approx(np.sqrt(((0.2**2) + (0.1**2) + (0.3**2)) / 2))
    assert summarize(records, seeds=[3])["pca"]["rmse"] == (1.2, 0.0, 1)
    assert "data_mse" not in summary["pca"]


def _estimated_records():
    """PCA on two seeds and TopoAE on one, every measure an estimate with a 95 % half-width."""
    records = []
    for method, seed, value in (("pca", 1, 0.2), ("pca", 2, 0.3), ("topoae", 1, 0.25)):
        measures = {"kl_0.1": value, "kl_0.1_ci95": 0.004, "continuity": 0.8}
        measures.update(estimated=True, estimated_measures=["kl_0.1"])
        records.append({"method": method, "seed": seed, "measures": measures})
    return records


def test_a_one_seed_estimate_shows_its_interval_and_several_seeds_their_spread():
    records = _estimated_records()
    assert intervals(records) == {"topoae": {"kl_0.1": 0.004}}
    table = table_markdown(summarize(records), ["pca", "topoae"], None, intervals(records))
    rows = [line for line in table.splitlines() if line.startswith("|")]
    lines = {line.split("|")[1].strip(): line for line in rows}
    assert "| 0.25 ± 0.004* |" in lines["TopoAE"]
    assert "| 0.8 " in lines["TopoAE"] and "0.8 ±" not in lines["TopoAE"]  # exact: value only
    assert "| 0.25 ± 0.071 " in lines["PCA"] and "*" not in lines["PCA"]  # spread over seeds
    assert table.endswith(ESTIMATE_NOTE)
    # Exact records: the table of before (no marks, no note).
    exact = [{**r, "measures": {"kl_0.1": r["measures"]["kl_0.1"]}} for r in records]
    plain = table_markdown(summarize(exact), ["pca", "topoae"], None, intervals(exact))
    assert "*" not in plain and "| 0.25 " in plain


def test_results_store_the_intervals_and_read_them_back(tmp_path):
    settings = {"dataset": "spheres", "methods": ["pca", "topoae"], "seeds": [1, 2]}
    comparison = Comparison(settings, _estimated_records(), out=tmp_path)
    save_results(comparison)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"]["topoae"]["kl_0.1"] == {"mean": 0.25, "std": 0.0, "n": 1, "ci95": 0.004}
    assert "ci95" not in saved["summary"]["pca"]["kl_0.1"]
    loaded = load_results(tmp_path)
    assert loaded.records == comparison.records
    assert "0.25 ± 0.004*" in loaded.table_markdown()


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown method.*lle"):
        compare("spheres", methods=["pca", "lle"], seeds=[1])
    with pytest.raises(ValueError, match="Unknown protocol"):
        compare("spheres", methods=["pca"], seeds=[1], protocol="leaky")
    with pytest.raises(ValueError, match="without repeats"):
        compare("spheres", methods=["pca"], seeds=[1, 1])
    with pytest.raises(ValueError, match="1 to 5"):
        paper_seeds(6)
    assert paper_seeds(2) == list(PAPER_SEEDS[:2])
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken JSON"):
        _small_compare(tmp_path)


def test_load_results_reads_back_what_compare_wrote(tmp_path):
    out = tmp_path / "pca"
    comparison = _small_compare(out, methods=["pca"], figure=False)
    loaded = load_results(out)
    assert loaded.out == out
    assert loaded.settings["seeds"] == comparison.settings["seeds"] == [1, 2]
    assert loaded.wall_seconds == pytest.approx(comparison.wall_seconds)
    for method in ("pca",):
        for seed in (1, 2):
            assert loaded.record(method, seed) == comparison.record(method, seed)
    assert loaded.table() == comparison.table()
    assert load_results(out / "results.json").records == loaded.records


_SETTINGS = {"dataset": "spheres", "methods": ["pca"], "seeds": [1]}


def _results(records):
    return json.dumps({"format": RESULTS_FORMAT, "settings": _SETTINGS, "records": records})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ("{not json", "broken JSON"),
        ('{"format": 99}', "not a topoae comparison"),
        ('{"format": 1, "settings": []}', "'settings' must be an object"),
        ('{"format": 1, "settings": {"dataset": "spheres", "methods": "pca"}}', "methods"),
        (_results([{"method": "pca", "seed": "1", "measures": {}}]), "integer seed"),
        (_results([{"method": "pca", "seed": 1}]), "no measures"),
        (_results([{"method": "pca", "seed": 1, "measures": {"kl_0.1": "x"}}]), "not a number"),
        (_results([{"method": "pca", "seed": 1, "measures": {}, "embedding": "/x"}]), "inside"),
        (_results([{"method": "pca", "seed": 1, "measures": {"estimated": 1}}]), "true/false"),
        (
            _results([{"method": "pca", "seed": 1, "measures": {"estimated_measures": [2]}}]),
            "list of measure names",
        ),
    ],
)
def test_load_results_names_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "results.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataFileError, match=message) as error:
        load_results(tmp_path)
    assert str(path) in str(error.value)


def test_parallel_jobs_store_the_same_results(small_run, tmp_path):
    # Two spawned workers; the parent stores each pair as it finishes.
    _, sequential, _ = small_run
    lines = []
    parallel = _small_compare(tmp_path, methods=["pca"], jobs=2, figure=False, log=lines.append)
    for seed in (1, 2):
        ours = parallel.record("pca", seed)["measures"]
        assert ours == sequential.record("pca", seed)["measures"]
    assert sorted(line for line in lines if line.startswith("[")) == [
        "[1/2] PCA seed 1",
        "[2/2] PCA seed 2",
    ]
    assert len(json.loads((tmp_path / "results.json").read_text())["records"]) == 2
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        _small_compare(tmp_path, jobs=0)
