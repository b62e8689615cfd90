"""AnnData / scanpy convention: ``embed(adata)`` writes ``obsm["X_topoae"]`` and ``uns["topoae"]``.

Like ``scanpy.tl.umap``, :func:`embed` fits on a representation of the cells, stores the
embedding in ``adata.obsm[key_added]`` (so ``scanpy.pl.embedding(adata, basis="topoae")``
draws it) and its settings in ``adata.uns[key_added without "X_"]``. Needs the ``anndata``
extra (``pip install 'topoae[anndata]'``).

Examples
--------
The embedding of a small random data set::

    import anndata, numpy as np
    from topoae.anndata import embed

    adata = anndata.AnnData(np.random.default_rng(0).normal(size=(200, 20)).astype("float32"))
    embed(adata, max_epochs=2, random_state=0)
    adata.obsm["X_topoae"].shape        # (200, 2)
    adata.uns["topoae"]["n_epochs"]     # 2
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from topoae.errors import InputError, MissingDependencyError

__all__ = ["MAX_DENSE_BYTES", "embed", "write_embedded"]

#: Largest dense copy of a sparse matrix :func:`embed` makes (the estimator trains in memory).
MAX_DENSE_BYTES = 4 << 30


def _require_anndata():
    try:
        import anndata
    except ImportError:
        raise MissingDependencyError(
            "topoae.anndata needs anndata: pip install 'topoae[anndata]'."
        ) from None
    return anndata


def _representation(adata: Any, use_rep: str | None, layer: str | None) -> tuple[np.ndarray, str]:
    """The matrix to embed and its name (scanpy's rule when ``use_rep`` is None)."""
    if use_rep is not None and layer is not None:
        raise InputError("Pass use_rep or layer, not both.")
    if layer is not None:
        if layer not in adata.layers:
            raise InputError(f"No layer {layer!r} in adata.layers; found {sorted(adata.layers)}.")
        data, name = adata.layers[layer], f"layers/{layer}"
    else:
        if use_rep is None:
            # scanpy's convention: many genes and a PCA present -> embed the PCA.
            use_rep = "X_pca" if adata.n_vars > 50 and "X_pca" in adata.obsm else "X"
        if use_rep == "X":
            data, name = adata.X, "X"
        elif use_rep in adata.obsm:
            data, name = adata.obsm[use_rep], use_rep
        else:
            raise InputError(
                f"No representation {use_rep!r} in adata.obsm; found {sorted(adata.obsm)} "
                "(or use_rep='X')."
            )
    if data is None:
        raise InputError("adata.X is empty; pass use_rep= or layer=.")
    if hasattr(data, "toarray"):
        size = data.shape[0] * data.shape[1] * 4
        if size > MAX_DENSE_BYTES:
            raise InputError(
                f"{name} is sparse, {data.shape[0]} × {data.shape[1]}: its dense copy would take "
                f"{size / 2**30:.1f} GiB. Embed a PCA instead (scanpy.pp.pca, then "
                "use_rep='X_pca') or a layer of selected genes."
            )
        data = data.toarray()
    return np.asarray(data, dtype=np.float32), name


def _settings(estimator: Any, rep: str) -> dict[str, Any]:
    """What ``uns`` records: HDF5-writable values only (``None`` parameters are left out)."""
    from topoae._version import __version__

    params = {}
    for key, value in estimator.get_params().items():
        if value is None:
            continue
        if isinstance(value, tuple | list):
            value = list(value)
        elif not isinstance(value, bool | int | float | str | np.generic):
            value = repr(value)
        params[key] = value
    return {
        "params": params,
        "version": __version__,
        "use_rep": rep,
        "n_epochs": int(estimator.n_epochs_),
        "best_epoch": int(estimator.best_epoch_),
        "best_val_loss": float(estimator.best_val_loss_),
        "architecture": str(estimator.architecture_),
    }


def embed(
    adata: Any,
    *,
    use_rep: str | None = None,
    layer: str | None = None,
    key_added: str = "X_topoae",
    copy: bool = False,
    **estimator_params: Any,
) -> Any:
    """Fit a topological autoencoder on the cells of ``adata`` and store their embedding.

    Parameters
    ----------
    adata : anndata.AnnData
        ``n_obs`` cells × ``n_vars`` genes.
    use_rep : str, optional
        ``"X"`` or an ``obsm`` key such as ``"X_pca"``. Default as in scanpy: ``"X_pca"``
        when present and ``n_vars > 50``, else ``"X"``.
    layer : str, optional
        A layer instead of ``X``. Sparse matrices are densified (up to
        :data:`MAX_DENSE_BYTES`).
    key_added : str
        ``obsm`` key of the embedding; the settings go to ``uns[key_added[2:]]`` when it
        starts with ``"X_"`` (``"topoae"`` by default), else ``uns[key_added]``.
    copy : bool
        Work on and return a copy instead of changing ``adata``.
    **estimator_params
        Passed to :class:`topoae.TopologicalAutoencoder` (``n_components``, ``lam``,
        ``max_epochs``, ``random_state``, ...).

    Returns
    -------
    anndata.AnnData or None
        The copy when ``copy=True``, else ``None`` (``adata`` is changed in place):
        ``obsm[key_added]`` of shape ``(n_obs, n_components)``, float32, and
        ``uns[...]`` with ``params``, ``version``, ``use_rep``, ``n_epochs``, ``best_epoch``.
    """
    anndata = _require_anndata()
    if not isinstance(adata, anndata.AnnData):
        raise InputError(f"embed needs an anndata.AnnData, got {type(adata).__name__}.")
    if adata.isbacked and not copy:
        raise InputError("adata is opened backed (read-only); load it in memory or pass copy=True.")
    from topoae import TopologicalAutoencoder

    target = adata.copy() if copy else adata
    x, rep = _representation(target, use_rep, layer)
    estimator = TopologicalAutoencoder(**estimator_params)
    embedding = estimator.fit_transform(x)
    target.obsm[key_added] = np.asarray(embedding, dtype=np.float32)
    uns_key = key_added[2:] if key_added.startswith("X_") else key_added
    target.uns[uns_key] = _settings(estimator, rep)
    return target if copy else None


def write_embedded(
    source: str | os.PathLike,
    out: str | os.PathLike,
    embedding: np.ndarray,
    *,
    key_added: str = "X_topoae",
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write a copy of the ``.h5ad`` file ``source`` with an embedding of all its cells added.

    For ``topoae train`` / ``transform`` on an ``.h5ad``: the file is read into memory, the
    embedding goes to ``obsm[key_added]`` and ``settings`` (HDF5-writable values: numbers,
    strings, lists, dicts) to ``uns`` under the key :func:`embed` uses; ``out`` is written
    atomically.

    Parameters
    ----------
    source, out : path-like
        ``out`` may equal ``source``.
    embedding : ndarray of shape (n_obs, n_components)
        One row per cell, in the file's order.
    key_added : str
    settings : dict, optional

    Returns
    -------
    Path
        ``out``.
    """
    anndata = _require_anndata()
    from topoae.errors import DataFileError

    try:
        adata = anndata.read_h5ad(source)
    except Exception as error:  # h5py and anndata raise many kinds for a damaged file
        raise DataFileError(f"{source}: not a readable .h5ad file ({error}).") from None
    embedding = np.asarray(embedding, dtype=np.float32)
    if embedding.ndim != 2 or len(embedding) != adata.n_obs:
        raise InputError(
            f"The embedding has shape {embedding.shape}; {source} has {adata.n_obs} cells, "
            "one row per cell is needed."
        )
    adata.obsm[key_added] = embedding
    if settings is not None:
        adata.uns[key_added[2:] if key_added.startswith("X_") else key_added] = settings
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".h5ad", dir=out.parent)
    os.close(fd)
    try:
        adata.write_h5ad(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
