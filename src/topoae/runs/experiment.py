"""The one path from a data set to a finished run: config, training, test outputs, files.

``topoae train`` and ``topoae compare`` call :func:`run_experiment`; the estimator, which
trains on in-memory data and writes no run folder, calls its training part
:func:`fit_model`. Nothing else repeats the sequence::

    config  = the paper's preset for the data set + overrides   (experiment_config)
    result  = seeded model, trained with early stopping         (fit_model)
    latent  = embedding of the test split, x_hat its reconstruction
    summary = epochs, losses, test MSE, measures of the test embedding
    files   = the run folder                                    (topoae.runs.folder.save_run)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topoae.core.distributed import DistributedContext
from topoae.core.evaluation import embed, reconstruct
from topoae.core.models import Autoencoder, TopologicallyRegularizedAutoencoder
from topoae.core.training import TrainConfig, TrainResult, build_model, paper_config, train
from topoae.datasets import Dataset
from topoae.errors import InputError
from topoae.paper import get_preset
from topoae.runs.folder import read_config, save_run, write_config

__all__ = [
    "AUTO",
    "KL_KEYS",
    "ExperimentResult",
    "experiment_config",
    "fit_model",
    "kl_measures",
    "resolve_preset",
    "run_experiment",
    "snapshot_subset",
]

#: Measures that :func:`run_experiment` puts in the summary by default.
KL_KEYS: tuple[str, ...] = ("kl_0.01", "kl_0.1", "kl_1")

#: ``measures(x_test_flat, latent, x_hat_flat) -> dict of str to float``.
Measures = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, Any]]


@dataclass
class ExperimentResult:
    """A finished experiment.

    Attributes
    ----------
    config : TrainConfig
    training : TrainResult
        The trained model (best weights, eval mode), history, snapshots.
    latent : ndarray of shape (n_test, latent_dim), float32
        Embedding of the test split.
    x_hat : ndarray of the shape of ``data.x_test``, float32
        Reconstruction of the test split.
    measures : dict
        What the ``measures`` function returned (empty without one).
    summary : dict
        Written to ``summary.json``: ``dataset``, ``model``, ``epochs``, ``best_epoch``,
        ``best_val_loss``, ``stopped_early``, ``test_reconstruction_mse``,
        ``train_seconds``, then the chosen measures.
    seconds : dict of str to float
        ``fit``, ``embed`` (test embedding and reconstruction) and ``measures``.
    out : Path or None
        The run folder written.
    """

    config: TrainConfig
    training: TrainResult
    latent: np.ndarray
    x_hat: np.ndarray
    measures: dict[str, Any]
    summary: dict[str, Any]
    seconds: dict[str, float]
    out: Path | None = field(default=None)

    @property
    def model(self) -> TopologicallyRegularizedAutoencoder:
        """The trained model."""
        return self.training.model


#: The preset name of :func:`topoae.auto.auto_preset`, the default for users' files.
AUTO = "auto"


def experiment_config(
    data: Dataset,
    model: str = "topoae",
    *,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """The paper's settings for ``model`` on ``data`` (or on ``preset``), with ``overrides``.

    Parameters
    ----------
    data : Dataset
        Gives the preset when ``preset`` is ``None`` (:func:`topoae.paper.preset_for_dataset`:
        a data set the paper did not use gets the generic one; a user's file, one with a
        ``source``, gets ``"auto"``) and the ``data_scale``.
    model : {"topoae", "ae", "linear-topoae"}
    preset : str, optional
        A name of :func:`topoae.paper.get_preset`, or ``"auto"``: the network chosen from the
        number of features (:func:`topoae.auto.auto_preset`; ``"linear-topoae"`` stays
        linear) and the paper's Spheres settings of ``model`` otherwise, the batch size
        lowered to the training size. An unknown name is an error.
    overrides : dict, optional
        :class:`TrainConfig` fields; ``None`` values are ignored. The vanilla ``"ae"``
        always has ``lam = 0``.

    Returns
    -------
    TrainConfig

    Raises
    ------
    topoae.errors.InputError
        For an unknown model or preset, a non-zero ``lam`` for ``"ae"``, or bad settings.
    """
    preset = resolve_preset(data, preset)
    values: dict[str, Any] = {"data_scale": data.data_scale}
    if preset == AUTO:
        values.update(_auto_values(data, model))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if model == "ae":
        if values.get("lam", 0) != 0:
            raise InputError(
                "The vanilla autoencoder trains without the topological term; drop lam."
            )
        values["lam"] = 0.0
    return paper_config("spheres" if preset == AUTO else preset, model, **values)


def resolve_preset(data: Dataset, preset: str | None) -> str:
    """The preset a run of ``data`` uses: ``preset``; else ``"auto"`` for a file, the data set's
    own for one of the paper's, ``"generic"`` (Spheres' settings) for another registered one.

    Raises
    ------
    topoae.errors.InputError
        For an unknown preset name.
    """
    if preset is None:
        from topoae.paper import PRESETS

        if data.source is not None:
            return AUTO
        return data.name if data.name in PRESETS else "generic"
    if preset != AUTO:
        get_preset(preset)  # an unknown name is an error, not the generic fallback
    return preset


def _auto_values(data: Dataset, model: str) -> dict[str, Any]:
    """The ``auto`` preset's network (and batch cap) for ``data`` (see :mod:`topoae.auto`)."""
    from topoae.auto import auto_preset
    from topoae.paper import PRESETS

    n_train = len(data.x_train)
    settings = auto_preset(data.n_features, n_train, input_shape=data.input_shape)
    spheres = PRESETS["spheres"].models.get(model)
    batch = spheres.batch_size if spheres is not None else settings.batch_size
    values: dict[str, Any] = {"batch_size": max(2, min(batch, n_train))}
    if model != "linear-topoae":
        values["architecture"] = settings.architecture
        values["hidden_sizes"] = settings.hidden_sizes
    return values


def fit_model(
    config: TrainConfig,
    x_train,
    x_val,
    *,
    autoencoder: Autoencoder | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    callback: Callable[[dict[str, float]], None] | None = None,
    snapshot_data=None,
    progress: Callable[[int, int], None] | None = None,
    distributed: DistributedContext | None = None,
) -> TrainResult:
    """Build the seeded model (:func:`~topoae.core.training.build_model`) and train it.

    Parameters
    ----------
    config : TrainConfig
    x_train, x_val : array-like of shape (n, *input_shape)
    autoencoder : Autoencoder, optional
        A custom encoder / decoder to wrap instead of the built-in ``config.architecture``.
    checkpoint : path, optional
        Checkpoint file, written after every epoch.
    resume : bool
        Continue from ``checkpoint`` when it exists.
    callback : callable, optional
        Called with each epoch's history record.
    snapshot_data : array-like of shape (s, *input_shape), optional
        Embedded every ``config.snapshot_every`` steps.
    progress, distributed
        Passed to :func:`~topoae.core.training.train` (per-step progress; one rank of a
        torchrun process group).

    Returns
    -------
    TrainResult
    """
    model = build_model(config, tuple(x_train.shape[1:]), autoencoder=autoencoder)
    return train(
        x_train,
        x_val,
        config,
        model=model,
        checkpoint_path=checkpoint,
        resume=resume,
        callback=callback,
        snapshot_data=snapshot_data,
        progress=progress,
        distributed=distributed,
    )


def snapshot_subset(data: Dataset, size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The fixed test subset whose codes are stored during training: ``(x, y)``.

    Up to ``size`` test samples drawn with seed 0 (the same for every run), in their order.
    """
    chosen = np.sort(np.random.RandomState(0).permutation(len(data.x_test))[:size])
    return data.x_test[chosen], data.y_test[chosen]


def kl_measures(x_test: np.ndarray, latent: np.ndarray, x_hat: np.ndarray) -> dict[str, float]:
    """KL_0.01, KL_0.1, KL_1 of the test embedding (the default measures of a run).

    The neighbourhood sizes are those a test set of this size allows
    (:func:`topoae.metrics.usable_ks`), so a small test split still gets its KL values.
    """
    from topoae.metrics import evaluate, usable_ks

    values = evaluate(x_test, latent, ks=usable_ks(len(x_test)))
    return {key: float(values[key]) for key in KL_KEYS if key in values}


def run_experiment(
    data: Dataset,
    model: str = "topoae",
    *,
    overrides: dict[str, Any] | None = None,
    preset: str | None = None,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    callback: Callable[[dict[str, float]], None] | None = None,
    meta: dict[str, Any] | None = None,
    measures: Measures | None = kl_measures,
    summary_measures: Collection[str] = KL_KEYS,
    progress: Callable[[int, int], None] | None = None,
    distributed: DistributedContext | None = None,
) -> ExperimentResult:
    """Train ``model`` on ``data`` and finish the run: test embedding, summary, run folder.

    Parameters
    ----------
    data : Dataset
    model : {"topoae", "ae", "linear-topoae"}
    overrides, preset
        See :func:`experiment_config`; ``snapshot_every > 0`` stores the codes of
        :func:`snapshot_subset` during training.
    config : TrainConfig, optional
        A configuration already built by :func:`experiment_config` (then ``overrides``
        and ``preset`` must be left out).
    out : path, optional
        Run folder: ``checkpoint.pt`` during training, then every file of
        :func:`topoae.runs.folder.save_run`. ``None`` writes nothing.
    resume : bool
        Continue from ``out/checkpoint.pt`` when it exists.
    callback : callable, optional
        Called with each epoch's history record.
    meta : dict, optional
        Extra entries of ``config.json`` (besides ``dataset`` and ``model``).
    measures : callable or None
        ``measures(x_test_flat, latent, x_hat_flat) -> dict`` of the test embedding;
        :func:`kl_measures` by default.
    summary_measures : collection of str
        Which of the measures go into the summary (those present).
    progress : callable, optional
        ``progress(batch, n_batches)`` after every training step.
    distributed : DistributedContext, optional
        Train as one rank of a torchrun process group; only rank 0 writes to ``out``
        (every rank reads its checkpoint to resume: on several machines ``out`` must be on
        a shared file system).

    Returns
    -------
    ExperimentResult
    """
    if config is None:
        config = experiment_config(data, model, preset=preset, overrides=overrides)
    elif overrides is not None or preset is not None:
        raise InputError("Pass either config or overrides / preset to run_experiment, not both.")
    out = Path(out) if out is not None else None
    snapshot_x = snapshot_y = None
    if config.snapshot_every:
        snapshot_x, snapshot_y = snapshot_subset(data)
    run_meta = {"dataset": data.name, "model": model, **data_record(data), **(meta or {})}
    if out is not None:
        _check_resumed_source(out, data, resume)
        write_config(out, run_meta, config)
    started = time.perf_counter()
    training = fit_model(
        config,
        data.x_train,
        data.x_val,
        checkpoint=out / "checkpoint.pt" if out is not None else None,
        resume=resume,
        callback=callback,
        snapshot_data=snapshot_x,
        progress=progress,
        distributed=distributed,
    )
    fit_seconds = time.perf_counter() - started
    latent = embed(training.model, data.x_test)
    x_hat = reconstruct(training.model, data.x_test)
    embed_seconds = time.perf_counter() - started - fit_seconds
    flat_test, flat_hat = (a.reshape(len(a), -1) for a in (data.x_test, x_hat))
    if distributed is not None and not distributed.is_main:
        measures = None  # rank 0 reports them
    values = dict(measures(flat_test, latent, flat_hat)) if measures is not None else {}
    seconds = {
        "fit": fit_seconds,
        "embed": embed_seconds,
        "measures": time.perf_counter() - started - fit_seconds - embed_seconds,
    }
    summary = _summary(data, model, training, x_hat, fit_seconds)
    summary.update({k: float(values[k]) for k in summary_measures if k in values})
    if out is not None and (distributed is None or distributed.is_main):
        save_run(
            out,
            meta=run_meta,
            config=config,
            model=training.model,
            history=training.history,
            latent_test=latent,
            labels_test=data.y_test if data.has_labels else None,
            summary=summary,
            snapshots=training.snapshots,
            snapshot_labels=snapshot_y if data.has_labels else None,
        )
    return ExperimentResult(config, training, latent, x_hat, values, summary, seconds, out)


def _check_resumed_source(out: Path, data: Dataset, resume: bool) -> None:
    """Refuse to resume a run on a file with other data than it started on."""
    if not resume or not (out / "checkpoint.pt").exists():
        return
    earlier = (read_config(out) or {}).get("data_source")
    now = data_record(data).get("data_source")
    if earlier is None and now is None:
        return
    if earlier is None or now is None or earlier.get("split_sha256") != now.get("split_sha256"):
        raise InputError(
            f"{out} was started on other data than given now; resume it with its own data "
            "(`topoae train --resume --out RUN` reloads the recorded file) or use another --out."
        )
    if earlier.get("sha256") != now.get("sha256"):
        raise InputError(f"{now.get('path')}: the file changed since {out} was started.")


def data_record(data: Dataset) -> dict[str, Any]:
    """``config.json``'s record of a user's file (``data_source``); empty for a registered set.

    :func:`topoae.runs.folder.load_run_data` reloads the same split from it.
    """
    if data.source is None:
        return {}
    return {"data_source": data.source.to_dict()}


def _summary(
    data: Dataset, model: str, training: TrainResult, x_hat: np.ndarray, fit_seconds: float
) -> dict[str, Any]:
    return {
        "dataset": data.name,
        "model": model,
        "epochs": len(training.history),
        "best_epoch": training.best_epoch,
        "best_val_loss": training.best_val_loss,
        "stopped_early": training.stopped_early,
        "test_reconstruction_mse": float(np.mean((x_hat - data.x_test) ** 2)),
        "train_seconds": fit_seconds,
    }
