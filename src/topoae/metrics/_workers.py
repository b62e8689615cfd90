"""The threads of a measure pass: one pool for BLAS products and NumPy work, BLAS itself serial.

A pass alternates BLAS products (the Gram rows), compiled numba kernels and NumPy work (the
KL densities). OpenBLAS's own worker threads busy-wait for a while after every product, so
a numba kernel started right after one finds a core taken and runs at half speed (measured
on the 2-core machine: the rank kernel 1.3x instead of 1.9x faster on two threads). Inside
a pass, BLAS is therefore limited to one thread and the products are split by rows between
Python threads, which sleep when idle (BLAS and NumPy release the GIL).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np
from numba import get_num_threads


class _Workers:
    """Context of a pass: ``count`` threads (numba's thread count, at most the cores)."""

    def __init__(self) -> None:
        self.count = max(1, min(get_num_threads(), os.cpu_count() or 1))
        self.pool: ThreadPoolExecutor | None = None
        self._blas: Any = None

    def __enter__(self) -> _Workers:
        if self.count > 1:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

            self._blas = threadpool_limits(1, user_api="blas")
            self.pool = ThreadPoolExecutor(self.count)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        if self._blas is not None:
            self._blas.restore_original_limits()
            self._blas = None

    def run(self, fn: Callable[[Any], object], jobs: Iterable[Any]) -> None:
        """fn(job) for every job, on the pool's threads (in this thread without a pool)."""
        if self.pool is None:
            for job in jobs:
                fn(job)
        else:
            list(self.pool.map(fn, jobs))

    def parts(self, length: int) -> list[tuple[int, int]]:
        """``length`` items cut into at most ``count`` contiguous, non-empty ranges."""
        cuts = np.linspace(0, length, min(self.count, max(length, 1)) + 1).astype(int)
        return [(int(a), int(b)) for a, b in pairwise(cuts) if b > a]

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        """out = a @ b, the rows of a split between the threads."""
        self.run(lambda p: np.matmul(a[p[0] : p[1]], b, out=out[p[0] : p[1]]), self.parts(len(a)))
