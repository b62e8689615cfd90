"""Shared test settings: two threads (the CI machine has two cores), fixed seeds."""

import os
from pathlib import Path

# scikit-learn's estimator checks include one on array-API input; it runs only when SciPy's
# array-API support is switched on before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest
import torch

# Without a GPU, Triton kernels run in Triton's interpreter on CPU tensors (set before any
# import of triton, which reads it when kernels are defined).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# TOPOAE_TEST_THREADS lets a crowded development machine run the suite with fewer threads.
torch.set_num_threads(int(os.environ.get("TOPOAE_TEST_THREADS", "2")))

#: The authors' Spheres test embeddings (BSD-3, licence beside them), kept in the repository.
REFERENCE_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture
def reference_dir() -> Path:
    path = REFERENCE_DIR / "original-topoae-spheres"
    if not path.exists():
        pytest.fail(f"reference data missing at {path}")
    return path
