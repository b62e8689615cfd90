"""``topoae train --homology-dims 0,1``: the cycle term from the command line, and bad input."""

import json

import pytest

from topoae.cli import main
from topoae.runs import load_run, load_run_model


def test_train_with_the_cycle_term(tmp_path):
    out = tmp_path / "h1"
    argv = ["train", "--dataset", "circle", "--epochs", "1", "--batch-size", "64"]
    argv += ["--homology-dims", "0,1", "--cycle-formulation", "cascade", "--cycle-lam", "0.5"]
    assert main([*argv, "--seed", "2", "--out", str(out)]) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert train["homology_dims"] == [0, 1]
    assert train["cycle_formulation"] == "cascade" and train["cycle_lam"] == 0.5
    history = load_run(out).history
    row = history[0] if isinstance(history, list) else history.iloc[0].to_dict()
    assert row["train_cycles"] > 0 and row["train_cycles_in_x"] > 0
    model = load_run_model(out)
    assert model.cycle_loss.formulation == "cascade" and model.cycle_lam == 0.5


def test_default_has_no_cycle_term(tmp_path):
    out = tmp_path / "h0"
    argv = ["train", "--dataset", "circle", "--epochs", "1", "--batch-size", "64"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["homology_dims"] == [0]
    history = load_run(out).history
    row = history[0] if isinstance(history, list) else history.iloc[0].to_dict()
    assert not any("cycles" in key for key in row)


def _exit_code(argv):
    """What the shell would see: argparse exits, a CLIError returns 2."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--homology-dims", "0,2"], "Homology dimension 2 is not supported"),
        (["--homology-dims", "a"], "must be integers"),
        (["--cycle-formulation", "loops"], "invalid choice"),
        (["--cycle-lam", "-1"], "--cycle-lam"),
        (["--model", "ae", "--homology-dims", "0,1"], "drop --homology-dims"),
    ],
)
def test_bad_cycle_flags_are_clear_errors(tmp_path, capsys, flags, message):
    argv = ["train", "--dataset", "circle", "--epochs", "1", *flags, "--out", str(tmp_path / "x")]
    assert _exit_code(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x" / "model.pt").exists()
