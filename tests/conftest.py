"""Shared test settings: two threads (the CI machine has two cores), fixed seeds."""

import os
from pathlib import Path

import pytest
import torch

# TOPOAE_TEST_THREADS lets a crowded development machine run the suite with fewer threads.
torch.set_num_threads(int(os.environ.get("TOPOAE_TEST_THREADS", "2")))

#: The authors' Spheres test embeddings, shipped beside the project checkout.
REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


@pytest.fixture
def reference_dir() -> Path:
    path = REFERENCE_DIR / "original-topoae-spheres"
    if not path.exists():
        pytest.fail(f"reference data missing at {path}")
    return path
