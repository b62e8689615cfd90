"""The estimator's file: a small, portable, checksummed file read with ``weights_only=True``.

Layout (a ``torch.save`` dictionary): ``format`` (:data:`FILE_FORMAT`), ``format_version``
(:data:`FILE_VERSION`), ``meta`` (JSON text: versions, parameters, fitted attributes),
``state_dict`` (CPU tensors), ``mean`` / ``scale`` (tensors or ``None``) and ``checksum``
(SHA-256 of all of these). No training data, nothing that unpickles as code.
"""

from __future__ import annotations

import hashlib
import io
import json
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from topoae._io import atomic_write_bytes, to_jsonable
from topoae._version import __version__
from topoae.core.models import TopologicallyRegularizedAutoencoder, build_autoencoder
from topoae.core.training import resolve_device
from topoae.errors import DataFileError, InputError, MissingFileError
from topoae.estimator.validation import custom_autoencoder, custom_pair

__all__ = ["FILE_FORMAT", "FILE_VERSION", "read_estimator", "write_estimator"]

#: Marks files written by :func:`write_estimator`; ``FILE_VERSION`` is bumped whenever the
#: layout changes, so an old topoae can refuse a newer file clearly.
FILE_FORMAT = "topoae.TopologicalAutoencoder"
FILE_VERSION = 1

#: Fitted attributes stored in a saved file besides the weights and the preprocessing.
FITTED_META = (
    "n_features_in_",
    "input_shape_",
    "n_components_",
    "architecture_",
    "standardize_",
    "data_scale_",
    "batch_size_",
    "seed_",
    "n_epochs_",
    "best_epoch_",
    "best_val_loss_",
    "stopped_early_",
    "history_",
)


def write_estimator(estimator, path: str | os.PathLike) -> Path:
    """Write a fitted estimator to ``path`` atomically; the file written."""
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name == "architecture" and custom_pair(value) is not None:
            value = "custom"
        elif name == "random_state" and not isinstance(value, numbers.Integral | None):
            value = None  # a RandomState's state is not kept; seed_ records the run
        params[name] = to_jsonable(value)
    fitted = {name: to_jsonable(getattr(estimator, name)) for name in FITTED_META}
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(c) for c in estimator.feature_names_in_]
    meta = {
        "topoae_version": __version__,
        "torch_version": torch.__version__,
        "params": params,
        "fitted": fitted,
    }
    payload = {
        "format": FILE_FORMAT,
        "format_version": FILE_VERSION,
        "meta": json.dumps(meta, allow_nan=True),
        "state_dict": {
            k: v.detach().to("cpu", copy=True) for k, v in estimator.model_.state_dict().items()
        },
        "mean": None if estimator.mean_ is None else torch.from_numpy(estimator.mean_.copy()),
        "scale": None if estimator.scale_ is None else torch.from_numpy(estimator.scale_.copy()),
    }
    payload["checksum"] = _checksum(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _read_payload(path: Path) -> dict[str, Any]:
    """The checked dictionary of a file written by :func:`write_estimator`."""
    if not path.is_file():
        raise MissingFileError(f"No model file at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        raise DataFileError(
            f"Cannot read {path} as a topoae model ({type(error).__name__}: {error}). The "
            "file is damaged, truncated or was not written by TopologicalAutoencoder.save."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise DataFileError(
            f"{path} is not a TopologicalAutoencoder file (no {FILE_FORMAT!r} marker); "
            "training checkpoints and run folders are read by topoae.runs instead."
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FILE_VERSION:
        raise DataFileError(
            f"{path} uses file format {version!r}, newer than this topoae ({__version__}) "
            f"reads ({FILE_VERSION}); upgrade topoae."
        )
    if payload.get("checksum") != _checksum(payload):
        raise DataFileError(f"{path} is corrupt: its checksum does not match its contents.")
    return payload


def _read_meta(path: Path, payload: dict[str, Any], known: set[str]) -> tuple[dict, dict, Any]:
    """``(params, fitted, topoae_version)`` of the metadata, checked against ``known``."""
    try:
        meta = json.loads(payload["meta"])
        params, fitted = dict(meta["params"]), dict(meta["fitted"])
        missing = [name for name in FITTED_META if name not in fitted]
    except (KeyError, TypeError, ValueError) as error:
        raise DataFileError(f"{path} has unreadable metadata ({error}).") from error
    if missing or set(params) != known:
        raise DataFileError(
            f"{path} does not describe this version's TopologicalAutoencoder (written by "
            f"topoae {meta.get('topoae_version')}); missing {missing}, parameters "
            f"{sorted(set(params) ^ known)} differ."
        )
    return params, fitted, meta.get("topoae_version")


def _architecture_param(path: Path, saved: str, architecture) -> Any:
    """The ``architecture`` parameter of the loaded estimator."""
    if saved == "custom":
        if custom_pair(architecture) is None:
            raise InputError(
                f"{path} holds a model with a custom encoder / decoder; pass the same "
                "modules again: TopologicalAutoencoder.load(path, architecture=(encoder, "
                "decoder))."
            )
        return architecture
    if architecture is not None:
        raise InputError(
            f"{path} holds the built-in architecture {saved!r}; do not pass architecture."
        )
    return saved


def read_estimator(
    cls, path: str | os.PathLike, *, device: str, architecture: tuple[nn.Module, nn.Module] | None
):
    """A fitted ``cls`` from a file of :func:`write_estimator` (see ``cls.load``)."""
    path = Path(path)
    payload = _read_payload(path)
    params, fitted, _ = _read_meta(path, payload, set(cls().get_params()))
    if params.get("hidden_sizes") is not None:
        params["hidden_sizes"] = tuple(params["hidden_sizes"])
    params["architecture"] = _architecture_param(path, params["architecture"], architecture)
    estimator = cls(**params)
    for name in FITTED_META:
        setattr(estimator, name, fitted[name])
    estimator.input_shape_ = tuple(fitted["input_shape_"])
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    estimator.mean_ = None if payload["mean"] is None else payload["mean"].numpy()
    estimator.scale_ = None if payload["scale"] is None else payload["scale"].numpy()
    estimator._n_features_out = estimator.n_components_
    model = _model_of(estimator, architecture)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise DataFileError(
            f"The weights in {path} do not fit the model they describe: {error}"
        ) from error
    estimator.model_ = model.to(resolve_device(device)).eval()
    return estimator


def _model_of(estimator, architecture) -> TopologicallyRegularizedAutoencoder:
    """An untrained model of the saved estimator's structure."""
    if estimator.architecture_ == "custom":
        autoencoder = custom_autoencoder(
            architecture, estimator.input_shape_, estimator.n_components_
        )
    else:
        autoencoder = build_autoencoder(
            estimator.architecture_,
            estimator.input_shape_,
            estimator.n_components_,
            estimator.hidden_sizes,
        )
    return TopologicallyRegularizedAutoencoder(
        autoencoder,
        float(estimator.lam),
        match_edges=estimator.match_edges,
        data_scale=estimator.data_scale_,
    )


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of the metadata and every tensor's dtype, shape and bytes."""
    digest = hashlib.sha256()
    digest.update(str(payload.get("format_version")).encode())
    digest.update(str(payload.get("meta")).encode("utf-8"))
    tensors = dict(payload.get("state_dict") or {})
    tensors["<mean>"] = payload.get("mean")
    tensors["<scale>"] = payload.get("scale")
    for key in sorted(tensors):
        tensor = tensors[key]
        digest.update(key.encode("utf-8"))
        if tensor is None:
            digest.update(b"None")
            continue
        if not isinstance(tensor, torch.Tensor):
            return "invalid"
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
