"""``python -m topoae``: the same command line as the ``topoae`` script, exit status included."""

import os
import subprocess
import sys
from pathlib import Path

import topoae


def run_module(*args):
    # The child imports the topoae under test, wherever this process found it.
    source = str(Path(topoae.__file__).resolve().parents[1])
    path = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, "-m", "topoae", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_version():
    result = run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"topoae {topoae.__version__}"


def test_exit_status_of_main():
    # No subcommand: main() prints the help and returns 2, which must become the exit status.
    result = run_module()
    assert result.returncode == 2
    assert "usage: topoae" in result.stdout and "train" in result.stdout


def test_only_user_errors_become_one_line_and_a_bug_keeps_its_traceback(
    monkeypatch, capsys, tmp_path
):
    import pytest

    from topoae.cli import filtration, main
    from topoae.errors import InputError

    def user_mistake(args):
        raise InputError("the points file has 1 row; give at least 3")

    monkeypatch.setattr(filtration, "run", user_mistake)
    argv = ["filtration", "--out", str(tmp_path / "f.gif")]
    assert main(argv) == 2
    assert "error: the points file has 1 row" in capsys.readouterr().err

    def bug(args):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(filtration, "run", bug)
    with pytest.raises(ValueError, match="internal inconsistency"):
        main(argv)
