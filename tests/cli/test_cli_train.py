"""``topoae train`` end to end on a tiny budget, its outputs, resume and its errors."""

import json

import numpy as np
import pandas as pd
import pytest

from topoae.cli import main
from topoae.core.evaluation import embed
from topoae.runs import load_run, load_run_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "topoae"
    argv = ["train", "--epochs", "1", "--batch-size", "64", "--seed", "3", "--out", str(out)]
    assert main([*argv, "--snapshot-every", "50"]) == 0
    return out


def test_train_writes_a_complete_run(run_dir, capsys):
    names = ["config.json", "history.json", "history.csv", "model.pt", "checkpoint.pt"]
    names += ["embedding_test.csv", "embedding_test.npz", "summary.json", "snapshots.npz"]
    for name in names:
        assert (run_dir / name).exists(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "spheres" and config["model"] == "topoae"
    # Paper settings except the flags that were given.
    assert config["train"]["lam"] == 0.43358 and config["train"]["batch_size"] == 64
    csv = pd.read_csv(run_dir / "embedding_test.csv")
    assert list(csv.columns) == ["0", "1", "labels"] and len(csv) == 1000
    run = load_run(run_dir)
    np.testing.assert_allclose(csv[["0", "1"]].to_numpy(), run.latent_test, rtol=1e-6)
    assert run.snapshots["latent"].shape[1:] == (1000, 2)
    assert run.snapshots["latent"].shape[0] == 1 + (7650 // 64) // 50  # step 0, then every 50
    assert run.summary["epochs"] == 1


def test_saved_model_reproduces_the_embedding(run_dir):
    from topoae import datasets

    model = load_run_model(run_dir)
    latent = embed(model, datasets.load("spheres", seed=3).x_test)
    np.testing.assert_allclose(latent, load_run(run_dir).latent_test, rtol=1e-5, atol=1e-6)


def test_transform_of_raw_spheres_test_points_gives_the_run_embedding(run_dir, tmp_path):
    from topoae.datasets.spheres import make_spheres, spheres_test_indices

    x, _ = make_spheres()
    np.save(tmp_path / "raw.npy", x[spheres_test_indices(len(x))])  # raw, not standardised
    out = tmp_path / "z.npy"
    assert (
        main(["-q", "transform", str(run_dir), str(tmp_path / "raw.npy"), "--out", str(out)]) == 0
    )
    np.testing.assert_allclose(np.load(out), load_run(run_dir).latent_test, rtol=1e-4, atol=1e-5)


def test_existing_run_is_not_overwritten(run_dir, capsys):
    before = (run_dir / "model.pt").read_bytes()
    assert main(["train", "--epochs", "1", "--out", str(run_dir)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (run_dir / "model.pt").read_bytes() == before


def test_resume_of_a_finished_run_keeps_the_result(run_dir):
    before = load_run(run_dir).latent_test
    argv = ["train", "--epochs", "1", "--batch-size", "64", "--seed", "3", "--out", str(run_dir)]
    assert main([*argv, "--snapshot-every", "50", "--resume"]) == 0
    np.testing.assert_array_equal(load_run(run_dir).latent_test, before)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--model", "vae", "--out", "x"], "invalid choice"),
        (["train", "--lr", "-1", "--out", "x"], "positive"),
        (["train", "--epochs", "0", "--out", "x"], "positive"),
        (["train"], "--out"),
    ],
)
def test_wrong_flags_exit_non_zero(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_dataset_lists_the_registered_ones(tmp_path, capsys):
    assert main(["train", "--dataset", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "neither a registered data set" in err and "spheres" in err
    # The folder is locked before the data are read (a bad --out fails at once): nothing of
    # a run is in it.
    assert not any((tmp_path / "x" / name).exists() for name in ("config.json", "model.pt"))


def test_ae_with_lam_is_refused(tmp_path, capsys):
    assert main(["train", "--model", "ae", "--lam", "1", "--out", str(tmp_path / "ae")]) == 2
    assert "drop --lam" in capsys.readouterr().err
