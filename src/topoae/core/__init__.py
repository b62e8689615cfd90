"""The core layer: persistence pairs, the topological loss, the autoencoders, training, evaluation.

Imports only the leaf modules (``topoae.paper``, ``topoae._io``) besides itself; every
layer above (runs, estimator, applications, command line) is built on it.
"""
