"""Pictures: embeddings, persistence diagrams, training animations, the filtration demo.

Everything here needs matplotlib (the ``plot`` extra, ``pip install 'topoae[plot]'``); it is
imported only when a function draws. Every function returns the matplotlib Figure (or the
path it wrote) and saves atomically when given a path.
"""

from topoae.plotting.embeddings import plot_embeddings

__all__ = ["plot_embeddings"]
