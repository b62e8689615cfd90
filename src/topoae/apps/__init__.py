"""The application layer: the paper's comparison, the benchmarks and the HTML report.

Built on the run layer (``topoae.runs``, ``topoae.estimator``) and the leaves; the command
line (``topoae.cli``) is the only layer above it.
"""
