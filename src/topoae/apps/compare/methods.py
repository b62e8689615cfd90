"""One method on one seed: fit a baseline or train an autoencoder, embed the test split, score it.

Protocols (docs/method.md §6): ``"clean"`` trains the autoencoders on the training split
and stops early on the validation split; ``"reference"`` also trains them on the
validation split, as the authors' code did. Baselines are fitted on the training split in
both, as in the paper (the validation split is not used by them), except TopoMap, which
has no out-of-sample map and is fitted on the test split it lays out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topoae.datasets import Dataset
from topoae.errors import InputError
from topoae.paper import AUTOENCODERS, COLUMNS, CYCLE_METHODS, METHODS

__all__ = ["PROTOCOLS", "MethodResult", "run_method"]

PROTOCOLS: tuple[str, ...] = ("clean", "reference")


@dataclass
class MethodResult:
    """One method on one seed.

    Attributes
    ----------
    method : str
    seed : int
    latent : ndarray of shape (n_test, 2)
        Test embedding.
    measures : dict
        :func:`topoae.metrics.evaluate` of the test split (``data_mse`` where the
        method reconstructs).
    seconds : dict
        ``fit``, ``embed``, ``evaluate`` and ``total`` wall-clock seconds.
    info : dict
        Method-specific facts (settings; epochs for autoencoders; the paper-style
        train-subsample scores of t-SNE under ``extras``).
    model : object
        The fitted baseline or trained model.
    """

    method: str
    seed: int
    latent: np.ndarray
    measures: dict[str, Any]
    seconds: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    model: Any = None


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).reshape(len(x), -1)


def _test_labels(data: Dataset) -> np.ndarray | None:
    """The test labels where the data set has real ones (they add ``knn_accuracy``)."""
    return data.y_test if data.has_labels else None


def check_protocol(protocol: str) -> None:
    """A ValueError naming the choices unless ``protocol`` is one of :data:`PROTOCOLS`."""
    if protocol not in PROTOCOLS:
        raise InputError(f"Unknown protocol {protocol!r}; choose 'clean' or 'reference'.")


def run_method(
    method: str,
    data: Dataset,
    *,
    seed: int,
    preset: str | None = None,
    max_epochs: int = 100,
    patience: int = 10,
    device: str = "auto",
    protocol: str = "clean",
    ks: Iterable[int] | None = None,
    sigmas: Iterable[float] | None = None,
    run_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> MethodResult:
    """Fit or train one method on ``data``'s training split and score its test embedding.

    Parameters
    ----------
    method : str
        A key of :data:`topoae.paper.METHODS`.
    data : Dataset
    seed : int
        Seeds the method's randomness (initialisation, shuffling, t-SNE, UMAP).
    preset : str, optional
        Whose paper settings to use (default ``data.name``).
    max_epochs, patience : int
        Autoencoders' training length and early stopping.
    device : str
        Autoencoders' device.
    protocol : {"clean", "reference"}
        See the module docstring.
    ks, sigmas : iterable, optional
        Passed to :func:`topoae.metrics.evaluate` (defaults: the paper's).
    run_dir : path, optional
        Autoencoders: write a standard run folder there (and resume from its checkpoint).
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    MethodResult
    """
    from topoae import metrics

    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}; choose from {', '.join(METHODS)}.")
    check_protocol(protocol)
    ks = tuple(metrics.DEFAULT_KS if ks is None else ks)
    sigmas = tuple(metrics.DEFAULT_SIGMAS if sigmas is None else sigmas)
    say = log or (lambda message: None)
    started = time.perf_counter()
    if method in AUTOENCODERS:
        model, latent, measures, info, parts = _run_autoencoder(
            method,
            data,
            seed=seed,
            preset=preset,
            max_epochs=max_epochs,
            patience=patience,
            device=device,
            protocol=protocol,
            run_dir=run_dir,
            say=say,
            ks=ks,
            sigmas=sigmas,
        )
        seconds = {
            "fit": parts["fit"],
            "embed": parts["embed"],
            "evaluate": parts["measures"],
            "total": time.perf_counter() - started,
        }
        return MethodResult(method, seed, np.asarray(latent), measures, seconds, info, model)
    model, latent, x_hat, info, fit_seconds, embed_seconds = _run_baseline(
        method, data, seed=seed, preset=preset, ks=ks, sigmas=sigmas
    )
    before = time.perf_counter()
    measures = metrics.evaluate(
        _flat(data.x_test), latent, ks=ks, sigmas=sigmas, X_hat=x_hat, labels=_test_labels(data)
    )
    seconds = {
        "fit": fit_seconds,
        "embed": embed_seconds,
        "evaluate": time.perf_counter() - before,
        "total": time.perf_counter() - started,
    }
    return MethodResult(method, seed, np.asarray(latent), measures, seconds, info, model)


def _run_baseline(method, data, *, seed, preset, ks, sigmas):
    """Fit a baseline on the training split and embed (and reconstruct) the test split."""
    from topoae import metrics
    from topoae.baselines import make_baseline

    started = time.perf_counter()
    model = make_baseline(method, preset or data.name, random_state=seed)
    info: dict[str, Any] = {"params": model.get_params()}
    # A layout without an out-of-sample map (TopoMap) can only embed what it was fitted on.
    in_sample = not getattr(model, "out_of_sample", True)
    info["fitted_on"] = "test" if in_sample else "train"
    model.fit(data.x_test if in_sample else data.x_train)
    fit_seconds = time.perf_counter() - started
    latent = np.asarray(model.transform(data.x_test))
    x_hat = model.inverse_transform(latent) if model.reconstructs else None
    embed_seconds = time.perf_counter() - started - fit_seconds
    if method == "tsne":
        # The paper's way to score t-SNE: a random training subsample of test size.
        rng = np.random.RandomState(seed % 2**32)
        chosen = np.sort(rng.choice(len(data.x_train), len(data.x_test), replace=False))
        subsample = metrics.evaluate(
            _flat(data.x_train)[chosen], model.embedding_[chosen], ks=ks, sigmas=sigmas
        )
        info["extras"] = {"train_subsample": subsample}
    return model, latent, x_hat, info, fit_seconds, embed_seconds


def _run_autoencoder(
    method, data, *, seed, preset, max_epochs, patience, device, protocol, run_dir, say, ks, sigmas
):
    """Train one autoencoder through the one run path, scoring its test embedding there."""
    import contextlib

    from topoae import metrics
    from topoae._lock import RunFolder
    from topoae.runs import experiment_config, run_experiment
    from topoae.runs.folder import record_run

    overrides = {
        "max_epochs": max_epochs,
        "patience": patience,
        "seed": seed,
        "device": device,
        "train_on_validation": protocol == "reference",
    }
    # The cycle variants are TopoAE with the H1 term on (topoae.paper.CYCLE_METHODS).
    overrides.update(CYCLE_METHODS.get(method, {}))
    base = "topoae" if method in CYCLE_METHODS else method
    config = experiment_config(data, base, preset=preset, overrides=overrides)
    say(
        f"  {method}: lam={config.lam:g}, lr={config.learning_rate:g}, "
        f"batch={config.batch_size}, up to {config.max_epochs} epochs"
    )

    def progress(record: dict) -> None:
        if record["epoch"] % 10 == 0 or record["epoch"] == 1:
            say(
                f"  {method} seed {seed}: epoch {record['epoch']:3d}/{config.max_epochs} "
                f"loss {record['train_loss']:.4f} val {record['val_loss']:.4f} "
                f"({record['seconds']:.1f}s/epoch)"
            )

    labels = _test_labels(data)

    def measures(x_test, latent, x_hat):
        return metrics.evaluate(x_test, latent, ks=ks, sigmas=sigmas, X_hat=x_hat, labels=labels)

    # Each autoencoder's run folder is a train folder, held by whoever trains it.
    writer = RunFolder(run_dir, "train") if run_dir is not None else contextlib.nullcontext()
    with writer as folder:
        if folder is not None:
            folder.begin()
        result = run_experiment(
            data,
            method,
            config=config,
            out=run_dir,
            resume=run_dir is not None,
            callback=progress,
            meta={"protocol": protocol},
            measures=measures,
            # The half-widths are present only where the measures were estimated.
            summary_measures=[name for key, _ in COLUMNS for name in (key, f"{key}_ci95")],
        )
        if folder is not None:
            record_run(folder)
    training = result.training
    info = {
        "config": config.to_dict(),
        "epochs": len(training.history),
        "best_epoch": training.best_epoch,
        "best_val_loss": training.best_val_loss,
        "stopped_early": training.stopped_early,
    }
    say(f"  {method} seed {seed}: best epoch {training.best_epoch} of {len(training.history)}")
    return training.model, result.latent, result.measures, info, result.seconds
