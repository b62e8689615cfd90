"""Benchmark: persistence_pairs for n = 32 ... 4096 (time, extra memory, union-find peer).

A thin wrapper of ``topoae bench --which pairing``; the code lives in ``topoae.apps.bench``
so that an installed package runs it too. Any ``topoae bench`` option may follow, e.g.::

    python benchmarks/bench_pairing.py --quick
    python benchmarks/bench_pairing.py --json --out results.json
"""

import sys

from topoae.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--which", "pairing", *sys.argv[1:]]))
