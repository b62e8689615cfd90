"""A trained run folder shared by the report and picture tests (read-only use), and image helpers.

A plain module beside conftest.py (``tests/`` is on the import path), so test modules in any
folder can import it whatever order pytest collects them in.
"""

from __future__ import annotations

import atexit
import base64
import functools
import io
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from topoae import datasets
from topoae.core.training import TrainConfig, embed, train
from topoae.runs import save_run


def make_run(folder, *, snapshots=True):
    """A real (tiny) Spheres run folder: 96 training points, 2 epochs, 3 snapshots."""
    data = datasets.load("spheres", seed=0)
    config = TrainConfig(
        batch_size=32, max_epochs=2, snapshot_every=3 if snapshots else 0, device="cpu"
    )
    subset = np.arange(0, 1000, 25)  # 40 test points
    result = train(
        data.x_train[:96],
        data.x_val[:32],
        config,
        snapshot_data=data.x_test[subset] if snapshots else None,
    )
    latent = embed(result.model, data.x_test)
    save_run(
        folder,
        meta={"dataset": "spheres", "model": "topoae"},
        config=config,
        model=result.model,
        history=result.history,
        latent_test=latent,
        labels_test=data.y_test,
        summary={
            "dataset": "spheres",
            "epochs": len(result.history),
            "best_val_loss": 0.22711359124067576,
            "kl_0.1": 0.25,
        },
        snapshots=result.snapshots,
        snapshot_labels=data.y_test[subset],
    )
    return folder


@functools.cache
def shared_run():
    """One run folder per test session, shared with test_cli_pictures (read-only use)."""
    folder = Path(tempfile.mkdtemp(prefix="topoae-report-test-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_run(folder / "topoae-seed0")


def images_of(page):
    """Decoded data-URI images of a page: list of (mime, PIL image)."""
    found = re.findall(r'src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"', page)
    return [(mime, Image.open(io.BytesIO(base64.b64decode(data)))) for mime, data in found]
