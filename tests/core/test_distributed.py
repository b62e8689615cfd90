"""Distributed helpers: sharding of global batches, and the collectives on 2 gloo processes."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from topoae.core.distributed import DistributedContext, global_batch_slices, launched_by_torchrun
from topoae.errors import InputError


def test_global_batches_partition_the_epoch_without_overlap():
    order = torch.randperm(103, generator=torch.Generator().manual_seed(0))
    world, batch = 3, 8
    shards = [global_batch_slices(order, batch, r, world) for r in range(world)]
    assert all(len(s) == 103 // (world * batch) for s in shards)  # 4 global batches
    taken = torch.cat([torch.cat(s) for s in shards])
    assert len(taken) == len(set(taken.tolist())) == 4 * world * batch
    # Global batch b is the contiguous block b of the permutation, rank r its slice r.
    assert torch.equal(shards[1][2], order[2 * 24 + 8 : 2 * 24 + 16])


def test_one_rank_is_the_single_process_order():
    order = torch.arange(50)
    slices = global_batch_slices(order, 7, 0, 1)
    assert [s.tolist() for s in slices] == [list(range(i, i + 7)) for i in range(0, 49, 7)]


def test_too_little_data_for_a_global_batch_is_a_clear_error():
    with pytest.raises(InputError, match="fewer than one global batch"):
        global_batch_slices(torch.arange(10), 4, 0, 3)


def test_outside_torchrun_there_is_no_context(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched_by_torchrun()
    assert DistributedContext.from_environment() is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    context = DistributedContext.from_environment("cpu")
    try:
        context.check_same({"lam": 0.5, "seed": 1})
        decision = context.broadcast("stop" if rank == 0 else "go on")
        mean = context.mean({"loss": float(rank + 1)})
        try:
            context.check_same({"lam": 0.5, "seed": rank})  # rank 1 differs
            refused = None
        except InputError as error:
            refused = str(error)
        queue.put((rank, decision, mean["loss"], refused))
    finally:
        context.close()


def test_two_gloo_ranks_agree_broadcast_average_and_refuse_differing_settings():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    processes = [ctx.Process(target=_worker, args=(r, 2, port, queue)) for r in range(2)]
    for process in processes:
        process.start()
    results = sorted(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert [r[1] for r in results] == ["stop", "stop"]
    assert [r[2] for r in results] == [1.5, 1.5]
    assert all(r[3] is not None and "Ranks [1]" in r[3] for r in results)
