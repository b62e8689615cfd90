"""Training on 2 processes (gloo, CPU): identical replicas, one writer, exact resume."""

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from topoae import datasets
from topoae.core.distributed import DistributedContext
from topoae.core.training import TrainConfig, train

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _digest(model: torch.nn.Module) -> str:
    values = b"".join(v.detach().cpu().numpy().tobytes() for v in model.state_dict().values())
    return hashlib.sha256(values).hexdigest()


class _Stop(Exception):
    pass


def _rank(rank, world, port, folder, max_epochs, stop_after, pair_globally, queue):
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    context = DistributedContext.from_environment("cpu")
    data = datasets.load("spheres", seed=0)
    config = TrainConfig(
        max_epochs=max_epochs, device="cpu", seed=3, pair_globally=pair_globally, batch_size=28
    )

    def callback(record):
        if stop_after and record["epoch"] == stop_after:
            raise _Stop

    shared = Path(folder) / "rank0" / "checkpoint.pt"  # rank 0 writes, every rank resumes
    own = Path(folder) / f"rank{rank}" / "checkpoint.pt"  # where rank 1 must write nothing
    own.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = shared if shared.exists() else own
    try:
        result = train(
            data.x_train[:3000], data.x_val[:300], config, checkpoint_path=checkpoint,
            resume=True, callback=callback, distributed=context,
        )  # fmt: skip
        queue.put((rank, _digest(result.model), len(result.history), None))
    except _Stop:
        queue.put((rank, None, None, "stopped"))
    finally:
        context.close()


def _launch(folder, *, max_epochs=2, stop_after=0, pair_globally=False):
    ctx = mp.get_context("spawn")
    queue, port = ctx.Queue(), _free_port()
    args = (2, port, str(folder), max_epochs, stop_after, pair_globally, queue)
    processes = [ctx.Process(target=_rank, args=(r, *args)) for r in range(2)]
    for process in processes:
        process.start()
    results = sorted(queue.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return results


@pytest.mark.slow
def test_two_ranks_end_identical_only_rank_0_writes_and_resume_is_exact(tmp_path):
    first = _launch(tmp_path / "a")
    assert first[0][1] == first[1][1]  # identical replicas
    assert first[0][2] == 2
    assert (tmp_path / "a" / "rank0" / "checkpoint.pt").exists()
    assert not (tmp_path / "a" / "rank1" / "checkpoint.pt").exists()  # one writer
    again = _launch(tmp_path / "b")
    assert again[0][1] == first[0][1]  # a second identical launch: the identical result
    interrupted = _launch(tmp_path / "c", stop_after=1)
    assert [r[3] for r in interrupted] == ["stopped", "stopped"]
    resumed = _launch(tmp_path / "c")
    assert resumed[0][1] == resumed[1][1] == first[0][1]  # resume == uninterrupted


@pytest.mark.slow
def test_global_pairing_trains_identical_replicas(tmp_path):
    results = _launch(tmp_path / "g", max_epochs=1, pair_globally=True)
    assert results[0][1] == results[1][1]


def test_pair_globally_without_torchrun_is_a_clear_error():
    from topoae.errors import InputError

    x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    with pytest.raises(InputError, match="torchrun"):
        train(x, x[:8], TrainConfig(max_epochs=1, pair_globally=True, device="cpu"))


@pytest.mark.slow
def test_torchrun_launches_topoae_train_with_one_writer(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-port", str(_free_port()), "-m", "topoae", "train", "--dataset", "digits",
        "--epochs", "2", "--device", "cpu", "--out", str(out),
    ]  # fmt: skip
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert (out / "model.pt").exists() and (out / "summary.json").exists()
    assert finished.stdout.count("best_epoch") == 1  # rank 0 alone prints the summary
