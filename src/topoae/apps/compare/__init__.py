"""The paper's experiment: every method × seed, measured on the test split, tabulated.

:func:`compare` fits each baseline (:mod:`topoae.baselines`) and trains each
autoencoder (:mod:`topoae.core.training`) on the training split of each seed, embeds the
test split, scores it with :func:`topoae.metrics.evaluate`, and (with ``out``) writes::

    results.json                  settings, every measure of every method and seed, timings
    table.md / table.csv          mean ± std over seeds beside the paper's Table 1
    figure.png                    one panel per method (first seed), coloured by label
    embeddings/<method>_seed<s>.csv   the test embedding (columns 0, 1, labels)
    runs/<method>-seed<s>/        autoencoders only: a standard run folder (topoae.runs)

``results.json`` is rewritten atomically after every finished method/seed pair, so an
interrupted comparison resumes where it stopped (an interrupted autoencoder resumes
from its per-epoch checkpoint); :func:`load_results` reads a folder back.

The modules: :mod:`~topoae.apps.compare.orchestration` (:func:`compare`, the session that
runs and stores the pairs), :mod:`~topoae.apps.compare.methods` (one method on one seed,
the protocols), :mod:`~topoae.apps.compare.parallel` (worker processes),
:mod:`~topoae.apps.compare.results` (the ``results.json`` store) and
:mod:`~topoae.apps.compare.tables` (summaries and the mean ± std table). The methods, the
paper's Table 1 and its columns are facts of :mod:`topoae.paper`.
"""

from topoae.apps.compare.methods import PROTOCOLS, MethodResult, run_method
from topoae.apps.compare.orchestration import compare, paper_seeds
from topoae.apps.compare.results import RESULTS_FORMAT, Comparison, load_results
from topoae.apps.compare.tables import summarize

__all__ = [
    "PROTOCOLS",
    "RESULTS_FORMAT",
    "Comparison",
    "MethodResult",
    "compare",
    "load_results",
    "paper_seeds",
    "run_method",
    "summarize",
]
