"""Pictures: embeddings, persistence diagrams, training animations, the filtration demo.

Everything here needs matplotlib (the ``plot`` extra, ``pip install 'topoae[plot]'``); it is
imported only when a function draws. Figures are drawn on the Agg canvas (no display
needed); functions return the matplotlib Figure (or the path of an animation) and write
files atomically.

- :func:`plot_embeddings`: one scatter panel per method, coloured by class.
- :func:`plot_persistence`: H0/H1 diagrams and barcodes of data and embedding, with their
  bottleneck and Wasserstein distances.
- :func:`animate_snapshots`: latent codes during training, runs side by side (GIF / MP4).
- :func:`animate_filtration`: a Vietoris–Rips filtration growing next to its diagram.
"""

from topoae.plotting.animation import Snapshots, animate_snapshots, snapshots_from_run
from topoae.plotting.diagrams import compare_persistence, plot_persistence
from topoae.plotting.embeddings import plot_embeddings
from topoae.plotting.filtration import animate_filtration, noisy_circle, read_points_csv

__all__ = [
    "Snapshots",
    "animate_filtration",
    "animate_snapshots",
    "compare_persistence",
    "noisy_circle",
    "plot_embeddings",
    "plot_persistence",
    "read_points_csv",
    "snapshots_from_run",
]
