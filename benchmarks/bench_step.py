"""Benchmark: the training step of the vanilla AE, TopoAE and the peers (Spheres, MNIST-shaped).

A thin wrapper of ``topoae bench --which step,mnist``; the code lives in ``topoae.apps.bench``
so that an installed package runs it too. Any ``topoae bench`` option may follow, e.g.::

    python benchmarks/bench_step.py --quick
    python benchmarks/bench_step.py --json --out results.json
"""

import sys

from topoae.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--which", "step,mnist", *sys.argv[1:]]))
