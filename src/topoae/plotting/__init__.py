"""Pictures: embeddings, persistence diagrams, training animations, the filtration demo.

Arrays in, pictures out: nothing here computes diagrams or reads run folders (a leaf: it
imports only ``topoae._io``). Everything here needs matplotlib (the ``plot`` extra,
``pip install 'topoae[plot]'``); it is imported only when a function draws. Figures are
drawn on the Agg canvas (no display needed); functions return the matplotlib Figure (or
the path of an animation) and write files atomically.

- :func:`plot_embeddings`: one scatter panel per method, coloured by class.
- :func:`plot_persistence`: H0/H1 diagrams and barcodes of data and embedding, with their
  bottleneck and Wasserstein distances (computed by :mod:`topoae.metrics.diagrams`).
- :func:`animate_snapshots`: latent codes during training, runs side by side (GIF / MP4).
- :func:`animate_filtration`: a Vietoris–Rips filtration growing next to its diagram.
"""

from topoae.plotting.animation import Snapshots, animate_snapshots
from topoae.plotting.diagrams import plot_diagram_panels, plot_persistence
from topoae.plotting.embeddings import plot_embeddings
from topoae.plotting.filtration import animate_filtration, noisy_circle, read_points_csv

__all__ = [
    "Snapshots",
    "animate_filtration",
    "animate_snapshots",
    "noisy_circle",
    "plot_diagram_panels",
    "plot_embeddings",
    "plot_persistence",
    "read_points_csv",
]
