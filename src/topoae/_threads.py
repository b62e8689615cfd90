"""Thread counts: fixed where results depend on them, never changed behind the caller's back.

Two facts, measured (``docs/reliability.md``):

- Training on the CPU gives different weights with 1 and 2 torch threads: torch splits
  reductions (matrix products, sums over the batch) between threads, and floating-point
  addition in another order rounds differently. The policy: train with
  :data:`TRAIN_THREADS` = 1 intra-op thread always, inside :func:`fixed_threads`. The small
  models of the paper train as fast on 1 thread as on 2, and a single thread cannot spin
  against the others when the CPU is shared.
- numba's OpenMP threading layer calls ``omp_set_num_threads(NUMBA_NUM_THREADS)`` once, when
  it starts (at the first parallel kernel, or ``numba.get_num_threads()``). torch with
  OpenMP reads its thread count from the same OpenMP setting, so the first
  ``metrics.evaluate`` silently raised torch's thread count from 1 to the number of cores.
  :func:`start_numba_threads` starts numba's layer and restores torch's count;
  :func:`preserve_threads` wraps any numba call so the caller's settings survive it.

Both torch's and numba's counts belong to the calling thread: call these from the thread
that trains or measures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from topoae.errors import InputError

__all__ = ["TRAIN_THREADS", "fixed_threads", "preserve_threads", "start_numba_threads"]

#: Intra-op threads for training (the same seed gives the bit-identical run on any machine
#: with the same torch build, whatever thread count the caller set).
TRAIN_THREADS = 1

_numba_started = False


def start_numba_threads() -> None:
    """Start numba's threading layer now, keeping torch's thread count as it was."""
    global _numba_started
    if _numba_started:
        return
    import numba
    import torch

    before = torch.get_num_threads()
    numba.get_num_threads()  # launches the threading layer (its omp_set_num_threads)
    torch.set_num_threads(before)
    _numba_started = True


@contextmanager
def preserve_threads() -> Iterator[None]:
    """Restore torch's and numba's thread counts after the block, whatever it did."""
    import numba
    import torch

    start_numba_threads()
    torch_before, numba_before = torch.get_num_threads(), numba.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != torch_before:
            torch.set_num_threads(torch_before)
        numba.set_num_threads(numba_before)


@contextmanager
def fixed_threads(n: int = TRAIN_THREADS) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads and at most ``n`` numba threads.

    The caller's settings come back afterwards, on success and on error.

    Parameters
    ----------
    n : int, default=TRAIN_THREADS
        At least 1.

    Examples
    --------
    >>> import torch
    >>> from topoae._threads import fixed_threads
    >>> before = torch.get_num_threads()
    >>> with fixed_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import numba
    import torch

    if int(n) < 1:
        raise InputError(f"thread count must be at least 1, not {n}")
    with preserve_threads():
        torch.set_num_threads(int(n))
        # numba.config sets NUMBA_NUM_THREADS through globals(), which its types do not see.
        limit = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        numba.set_num_threads(min(int(n), limit))
        yield
