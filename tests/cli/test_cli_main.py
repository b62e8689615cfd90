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
