"""`topoae tune`: a real Optuna study on digits (tiny trials), resumable, shared by workers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="the tune extra (optuna) is not installed")

from topoae.apps.tune import SearchSpace, direction_of  # noqa: E402
from topoae.cli import main  # noqa: E402
from topoae.errors import InputError  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
TINY = ["--dataset", "digits", "--epochs", "2", "--patience", "2"]


def _tune(out: Path, *extra: str) -> int:
    return main(["-q", "tune", *TINY, "--out", str(out), *extra])


def _study(out: Path):
    record = json.loads((out / "study.json").read_text())
    return optuna.load_study(study_name=record["study_name"], storage=record["storage"])


def _finished(study):
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(states=states)


def test_three_trials_write_the_database_best_json_and_the_figure(tmp_path, capsys):
    out = tmp_path / "tune"
    assert _tune(out, "--trials", "3") == 0
    study = _study(out)
    assert len(_finished(study)) == 3
    best = json.loads((out / "best.json").read_text())
    assert set(best) == {
        "lam",
        "learning_rate",
        "batch_size",
        "max_epochs",
        "patience",
        "random_state",
    }
    assert 16 <= best["batch_size"] <= 128 and 0.1 <= best["lam"] <= 3
    assert best["lam"] == pytest.approx(study.best_trial.params["lam"])
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("number,state,value")
    assert (out / "tuning.png").stat().st_size > 1000
    # The estimator takes best.json as it is.
    from topoae import TopologicalAutoencoder

    TopologicalAutoencoder(**best)
    # Run again: the study has its trials, nothing is added or repeated.
    assert _tune(out, "--trials", "3") == 0
    assert len(_study(out).trials) == 3


def test_a_killed_tune_resumes_without_losing_or_repeating_trials(tmp_path):
    out = tmp_path / "tune"
    launcher = "import sys; from topoae.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", launcher, "-q", "tune", *TINY, "--trials", "3"]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([*command, "--out", str(out)], env=env)
    deadline = time.monotonic() + 240
    first = None
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        if (out / "study.json").exists():
            try:
                done = _finished(_study(out))
            except Exception:  # the database may be mid-creation
                continue
            if done:
                first = {t.number: t.params for t in done}
                break
    assert first, "the first trial did not finish in time"
    time.sleep(1.0)  # into the next trial
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _tune(out, "--trials", "3") == 0
    study = _study(out)
    done = _finished(study)
    assert len(done) == 3
    for number, params in first.items():  # the finished trials are still there, unchanged
        assert study.trials[number].params == params
    settings = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(settings)) == 3  # no setting drawn twice
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.RUNNING not in states


def test_two_workers_share_one_study(tmp_path):
    out = tmp_path / "tune"
    assert _tune(out, "--trials", "4", "--jobs", "2") == 0
    done = _finished(_study(out))
    assert len(done) >= 4
    assert len({tuple(sorted(t.params.items())) for t in done}) == len(done)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trials", "0"], "--trials must be at least 1"),
        (["--objective", "beauty"], "unknown --objective"),
        (["--lam", "3:0.1"], "inverted range"),
        (["--lr", "0:1e-2"], "log-uniform range needs LOW > 0"),
        (["--lam", "a:b"], "expected LOW:HIGH"),
        (["--storage", "nosuchdb://x"], "Cannot open the study storage"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, capsys, flags, message):
    assert _tune(tmp_path / "t", "--trials", "1", *flags) == 2
    assert message in capsys.readouterr().err


def test_a_study_made_with_other_settings_is_refused_unless_new_study(tmp_path, capsys):
    out = tmp_path / "tune"
    assert _tune(out, "--trials", "1", "--lam", "0.5") == 0
    assert _tune(out, "--trials", "1") == 2
    assert "made with other settings" in capsys.readouterr().err
    assert _tune(out, "--trials", "1", "--new-study") == 0
    assert json.loads((out / "study.json").read_text())["study_name"].endswith("-2")


def test_search_space_and_directions():
    space = SearchSpace.paper({"batch_size": "64", "lam": "0.05:5"})
    assert space.fixed == {"batch_size": 64}
    assert (space.ranges["lam"].low, space.ranges["lam"].high) == (0.05, 5.0)
    assert SearchSpace.paper(model="ae").fixed == {"lam": 0.0}
    with pytest.raises(InputError, match="Unknown parameter"):
        SearchSpace.paper({"dropout": "0.1"})
    assert direction_of("kl_0.1") == "minimize"
    assert direction_of("trustworthiness") == "maximize"


def test_python_tune_returns_estimator_parameters():
    from topoae import TopologicalAutoencoder
    from topoae.apps.tune import tune

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(60, 6)), rng.normal(size=(60, 6)) + 4])
    params, study = tune(X, n_trials=2, max_epochs=2, random_state=0)
    assert len(study.trials) == 2
    assert set(params) >= {"lam", "learning_rate", "batch_size"}
    TopologicalAutoencoder(**params)


def test_train_config_best_json_reproduces_the_best_trials_validation_measure(tmp_path):
    from topoae import datasets, metrics
    from topoae.core.evaluation import embed
    from topoae.runs import load_run_model

    out = tmp_path / "tune"
    assert _tune(out, "--trials", "2", "--no-prune") == 0
    best_trial = json.loads((out / "best_trial.json").read_text())
    run = tmp_path / "run"
    command = ["-q", "train", "--dataset", "digits", "--config", str(out / "best.json")]
    assert main([*command, "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())["train"]
    best = json.loads((out / "best.json").read_text())
    assert config["lam"] == best["lam"] and config["batch_size"] == best["batch_size"]
    data = datasets.load("digits", seed=best["random_state"])
    x_val = data.x_val.reshape(len(data.x_val), -1)
    latent = embed(load_run_model(run), data.x_val)
    value = metrics.evaluate(x_val, latent, ks=metrics.usable_ks(len(x_val)))["kl_0.1"]
    assert value == pytest.approx(best_trial["value"], rel=1e-9, abs=1e-12)


def test_a_bad_config_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lam": 0.5, "dropout": 0.1}))
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "unknown setting(s) dropout" in capsys.readouterr().err
    bad.write_text(json.dumps({"batch_size": "big"}))
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "wrong type" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "not a JSON file" in capsys.readouterr().err
