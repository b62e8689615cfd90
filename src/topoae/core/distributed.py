"""Training on several processes, GPUs and machines with torch.distributed (DDP).

Started by ``torchrun --nproc-per-node N -m topoae train ...`` (or torchrun's multi-node
rendezvous), every process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from the
environment and joins one process group: gloo on CPUs, NCCL on GPUs (each rank on
``cuda:LOCAL_RANK``). What this means for the method (docs/method.md §3, §6):

* **Local pairing** (default): every rank draws its own minibatch of ``batch_size`` points
  from one permutation of the training set shared by all ranks (rank ``r`` takes slice ``r``
  of each global batch of ``world_size × batch_size`` points), pairs it on its own device and
  computes the paper's loss on it; DistributedDataParallel averages the gradients. Each rank
  optimises the paper's objective for a batch of ``batch_size``: the topology matched is that
  of ``batch_size`` points, as on one device, and an epoch takes ``1 / world_size`` the steps.
* **Global pairing** (``pair_globally=True``): the latent codes and data of all ranks are
  gathered (with gradients), the pairs are computed once for the global batch, and each rank
  back-propagates the same global loss through its own share. The topology matched is that of
  the whole ``world_size × batch_size`` batch (a larger batch than the paper's: choose
  ``batch_size`` accordingly); the pairing cost grows with the square of the global batch.

Only rank 0 writes files; early stopping is decided on rank 0 and broadcast, so all ranks stop
at the same epoch. A checkpoint holds no rank-specific state, so a run resumes with any world
size: the epoch's shuffling comes from the shared generator, and the remaining epochs are
sharded for the new world size.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from topoae.errors import InputError

__all__ = ["DistributedContext", "global_batch_slices", "launched_by_torchrun"]


def launched_by_torchrun() -> bool:
    """Whether this process was started by torchrun with a world of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@dataclass
class DistributedContext:
    """This process's place in the group.

    Attributes
    ----------
    rank, world_size, local_rank : int
    device : torch.device
        ``cuda:LOCAL_RANK`` with NCCL, else the CPU (gloo).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one writer of checkpoints and results."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: str = "auto") -> DistributedContext | None:
        """Join the process group described by torchrun's environment; None outside torchrun.

        Parameters
        ----------
        device : str
            ``"auto"`` (CUDA when every rank has a GPU), ``"cpu"`` or ``"cuda"``.
        """
        if not launched_by_torchrun():
            return None
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if use_cuda:
            if not torch.cuda.is_available():
                raise InputError(f"Rank {rank}: --device {device} but CUDA is not available here.")
            if not dist.is_nccl_available():
                raise InputError(
                    f"Rank {rank}: NCCL is not available in this torch build; train on the CPU "
                    "(--device cpu, gloo) or install a CUDA build of torch."
                )
            if local_rank >= torch.cuda.device_count():
                raise InputError(
                    f"Rank {rank}: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                    "GPU(s) on this machine; start at most that many processes per node."
                )
            torch.cuda.set_device(local_rank)
            resolved = torch.device("cuda", local_rank)
        elif device not in ("auto", "cpu"):
            raise InputError(f"Distributed training runs on 'cpu' or 'cuda', got {device!r}.")
        else:
            resolved = torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        return cls(rank, world, local_rank, resolved)

    # ---------------------------------------------------------------- collectives

    def check_same(self, settings: dict[str, Any]) -> None:
        """Refuse to train, on every rank, unless all ranks were given the same settings."""
        text = json.dumps(settings, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()
        digests: list[Any] = [None] * self.world_size
        dist.all_gather_object(digests, digest)
        if len(set(digests)) > 1:
            differing = [r for r, d in enumerate(digests) if d != digests[0]]
            raise InputError(
                f"Ranks {differing} were started with other settings than rank 0; launch every "
                "rank with the same command line and configuration."
            )

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a decision such as 'stop now')."""
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average of each value over the ranks (in one all-reduce)."""
        keys = sorted(values)
        if not keys:
            return {}
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        tensor = tensor.to(self.device)
        dist.all_reduce(tensor)
        return dict(zip(keys, (tensor / self.world_size).tolist(), strict=True))

    def sync_buffers(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics).

        DistributedDataParallel broadcasts them at each forward pass, so after an epoch
        each rank still holds the statistics of its own last batch: synchronised here, the
        validation, the best weights and the saved model are the same on every rank.
        """
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        """Leave the process group (at the end of training or on an error)."""
        if dist.is_initialized():
            dist.destroy_process_group()


def global_batch_slices(
    order: torch.Tensor, batch_size: int, rank: int, world_size: int
) -> list[torch.Tensor]:
    """This rank's minibatches of one epoch, from a permutation shared by all ranks.

    Global batch ``b`` is ``order[b·W·B : (b+1)·W·B]`` (``W`` ranks, ``B = batch_size``);
    rank ``r`` takes its slice ``r``. The incomplete last global batch is dropped, as the
    single-process loop drops its incomplete last batch, so every rank takes the same number
    of steps.

    Parameters
    ----------
    order : torch.Tensor of shape (n,), int64
        The epoch's permutation of the training indices (the same on every rank).
    batch_size, rank, world_size : int

    Returns
    -------
    list of torch.Tensor of shape (batch_size,)

    Raises
    ------
    InputError
        If the data hold fewer than ``world_size × batch_size`` points (no global batch).
    """
    span = batch_size * world_size
    n_global = len(order) // span
    if n_global == 0:
        raise InputError(
            f"{len(order)} training points are fewer than one global batch of {world_size} "
            f"ranks × {batch_size}; start fewer processes or lower the batch size."
        )
    start = rank * batch_size
    return [order[b * span + start : b * span + start + batch_size] for b in range(n_global)]
