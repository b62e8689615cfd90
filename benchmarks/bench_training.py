"""Benchmark: whole Spheres trainings (paper settings, fixed epochs), vanilla AE vs TopoAE.

A thin wrapper of ``topoae bench --which training``; the code lives in ``topoae.apps.bench``
so that an installed package runs it too. Any ``topoae bench`` option may follow, e.g.::

    python benchmarks/bench_training.py --quick
    python benchmarks/bench_training.py --json --out results.json
"""

import sys

from topoae.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--which", "training", *sys.argv[1:]]))
