"""The one path data -> finished run: the same model as the core loop, the files, the settings."""

import json

import numpy as np
import pytest
import torch

from topoae import make_spheres
from topoae.core.evaluation import embed, reconstruct
from topoae.core.training import paper_config, train
from topoae.datasets import Dataset
from topoae.errors import InputError
from topoae.runs import experiment_config, load_run, load_run_model, run_experiment

OVERRIDES = {"max_epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "seed": 5}


@pytest.fixture(scope="module")
def data():
    x, y = make_spheres(n_samples=25, d=10, n_spheres=5)  # 200 points in R^11
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    order = np.random.RandomState(0).permutation(len(x))
    parts = [order[:120], order[120:160], order[160:]]
    return Dataset("spheres", *(a for p in parts for a in (x[p], y[p].astype(np.int64))))


def test_run_equals_the_core_loop_and_writes_the_folder(data, tmp_path):
    # The same config and weights as the core loop called by hand with the paper's settings.
    # (By hand first: the measures' parallel numba code changes torch's thread count, which
    # changes the last bits of a later training.)
    config = paper_config("spheres", "topoae", **OVERRIDES)
    by_hand = train(data.x_train, data.x_val, config)
    out = tmp_path / "run"
    result = run_experiment(data, "topoae", overrides=OVERRIDES, out=out)
    assert result.config == config
    for key, value in by_hand.model.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[key]), key
    np.testing.assert_array_equal(result.latent, embed(by_hand.model, data.x_test))
    x_hat = reconstruct(by_hand.model, data.x_test)
    np.testing.assert_array_equal(result.x_hat, x_hat)
    # The folder holds what the result holds.
    for name in ("config.json", "history.json", "model.pt", "checkpoint.pt", "summary.json"):
        assert (out / name).exists(), name
    run = load_run(out)
    np.testing.assert_array_equal(run.latent_test, result.latent)
    np.testing.assert_array_equal(run.labels_test, data.y_test)
    assert run.summary == json.loads(json.dumps(result.summary))
    assert run.config["dataset"] == "spheres" and run.config["model"] == "topoae"
    assert run.summary["epochs"] == 2 == len(result.training.history)
    expected_mse = float(np.mean((x_hat - data.x_test) ** 2))
    assert run.summary["test_reconstruction_mse"] == pytest.approx(expected_mse, rel=1e-6)
    assert {"kl_0.01", "kl_0.1", "kl_1"} <= set(run.summary)
    np.testing.assert_allclose(
        embed(load_run_model(out), data.x_test), result.latent, rtol=1e-5, atol=1e-6
    )


def test_resuming_a_finished_run_keeps_it(data, tmp_path):
    out = tmp_path / "run"
    first = run_experiment(data, "ae", overrides=OVERRIDES, out=out, measures=None)
    again = run_experiment(data, "ae", overrides=OVERRIDES, out=out, resume=True, measures=None)
    np.testing.assert_array_equal(first.latent, again.latent)
    assert "kl_0.1" not in again.summary and again.config.lam == 0


def test_without_a_folder_nothing_is_written(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_experiment(data, "linear-topoae", overrides=OVERRIDES, measures=None)
    assert result.out is None and list(tmp_path.iterdir()) == []
    assert result.config.architecture == "linear"


def test_snapshots_and_custom_measures(data, tmp_path):
    seen = {}

    def measures(x, z, x_hat):
        seen["shapes"] = (x.shape, z.shape, x_hat.shape)
        return {"answer": 42.0, "ignored": 1.0}

    overrides = {**OVERRIDES, "snapshot_every": 3}
    result = run_experiment(
        data, overrides=overrides, out=tmp_path, measures=measures, summary_measures=["answer"]
    )
    assert seen["shapes"] == ((40, 11), (40, 2), (40, 11))
    assert result.summary["answer"] == 42.0 and "ignored" not in result.summary
    assert result.measures == {"answer": 42.0, "ignored": 1.0}
    run = load_run(tmp_path)
    assert run.snapshots["latent"].shape == (1 + 2 * (120 // 16) // 3, 40, 2)
    np.testing.assert_array_equal(np.sort(run.snapshots["labels"]), np.sort(data.y_test))


def test_settings(data):
    # A data set the paper never saw gets the generic preset (Spheres' model settings).
    other = Dataset("mine", data.x_train, data.y_train, data.x_val, data.y_val,
                    data.x_test, data.y_test, data_scale=3.0)  # fmt: skip
    config = experiment_config(other)
    assert config == paper_config("spheres", data_scale=3.0)
    assert experiment_config(other, preset="mnist").architecture == "deep"
    with pytest.raises(InputError, match=r"Unknown preset 'nope'.*spheres.*generic"):
        experiment_config(other, preset="nope")
    with pytest.raises(InputError, match="drop lam"):
        experiment_config(data, "ae", overrides={"lam": 0.5})
    with pytest.raises(InputError, match="Unknown model"):
        experiment_config(data, "vae")
    with pytest.raises(InputError, match="not both"):
        run_experiment(data, config=config, overrides={"seed": 1})
