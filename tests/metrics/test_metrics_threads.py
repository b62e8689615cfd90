"""Measuring never changes the caller's torch thread count (numba shares OpenMP with torch)."""

import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

SCRIPT = """
import numpy as np, torch
torch.set_num_threads(1)
torch.ones(300, 300) @ torch.ones(300, 300)  # torch's OpenMP pool is running
from topoae import metrics
x = np.random.default_rng(0).normal(size=(400, 30))
metrics.evaluate(x, x[:, :2], ks=[10])
print(torch.get_num_threads())
"""


def test_evaluate_in_a_fresh_process_keeps_one_torch_thread():
    env = {"PYTHONPATH": SRC, "OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "1"
