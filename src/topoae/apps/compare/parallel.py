"""Method/seed pairs in spawned worker processes; the parent stores each result as it finishes."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from typing import Any

from topoae.apps.compare.methods import MethodResult, run_method
from topoae.paper import METHODS

__all__ = ["run_parallel"]


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _worker(kwargs: dict[str, Any], queue: Any, header: str) -> MethodResult:
    queue.put(header)
    result = run_method(**kwargs, log=queue.put)
    result.model = None  # the parent needs measures and the embedding only
    return result


def run_parallel(todo: list[tuple[int, str]], session: Any, jobs: int) -> None:
    """Run ``todo`` pairs in ``jobs`` spawned processes; ``session.store`` each as it finishes.

    ``session`` gives ``task(seed, method)`` (the keyword arguments of
    :func:`~topoae.apps.compare.run_method`), ``store(result, run_dir)`` and ``say``.
    Workers' progress lines reach ``say`` through a queue; after a failure the pairs not
    yet started are cancelled.
    """
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with context.Manager() as manager:
        queue = manager.Queue()

        def relay() -> None:
            while (message := queue.get()) is not None:
                session.say(message)

        relay_thread = threading.Thread(target=relay, daemon=True)
        relay_thread.start()
        try:
            with concurrent.futures.ProcessPoolExecutor(
                jobs, mp_context=context, initializer=_worker_init, initargs=(threads,)
            ) as pool:
                futures = {}
                for index, (seed, method) in enumerate(todo, start=1):
                    kwargs = session.task(seed, method)
                    header = f"[{index}/{len(todo)}] {METHODS[method]} seed {seed}"
                    future = pool.submit(_worker, kwargs, queue, header)
                    futures[future] = kwargs["run_dir"]
                try:
                    for future in concurrent.futures.as_completed(futures):
                        session.store(future.result(), futures[future])
                except BaseException:
                    for future in futures:  # do not start the rest after a failure
                        future.cancel()
                    raise
        finally:
            queue.put(None)
            relay_thread.join()
