"""The comparison's result store: ``results.json``, its format, resuming, reading it back.

``results.json`` holds::

    format          RESULTS_FORMAT
    topoae_version
    settings        data set, methods, seeds, protocol, epochs, ks, sigmas, split sizes;
                    all_methods / all_seeds: every pair the folder holds, over sessions
    wall_seconds    time spent computing, summed over resumed sessions
    summary         method -> measure -> {mean, std, n} over the requested seeds (and ci95,
                    the 95 % half-width, where a one-seed value is a sampled estimate)
    records         one per finished method/seed: method, seed, measures, seconds, info,
                    embedding (a CSV path relative to the folder), run_dir (autoencoders)

It is rewritten atomically after every finished pair. :func:`load_results` reads it back
with every field checked (the file is untrusted input).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topoae._io import write_json
from topoae._safe_files import read_json
from topoae._version import __version__
from topoae.apps.compare.tables import (
    Intervals,
    Summary,
    intervals,
    summarize,
    table_csv,
    table_markdown,
    table_rows,
)
from topoae.errors import DataFileError, InputError, RunFolderError
from topoae.paper import METHODS
from topoae.runs.folder import check_run

__all__ = ["RESULTS_FORMAT", "Comparison", "jsonable", "load_results", "resume", "save_results"]

RESULTS_FORMAT = 1

#: Settings that must agree for a resumed comparison to continue an earlier one.
RESUME_KEYS = (
    "dataset",
    "dataset_kwargs",
    "data_source",
    "protocol",
    "max_epochs",
    "patience",
    "ks",
    "sigmas",
    "n_train",
    "n_test",
)


@dataclass
class Comparison:
    """The records of a comparison and what was asked for.

    Attributes
    ----------
    settings : dict
        Data set, methods, seeds, protocol, epochs, measures' ks and sigmas.
    records : list of dict
        One per finished method/seed: ``method``, ``seed``, ``measures``, ``seconds``,
        ``info`` (JSON-ready).
    out : Path or None
        The folder holding ``results.json`` and the files its records name.
    wall_seconds : float
        Time spent computing, summed over resumed sessions.
    """

    settings: dict[str, Any]
    records: list[dict[str, Any]]
    out: Path | None = None
    wall_seconds: float = 0.0

    def record(self, method: str, seed: int) -> dict[str, Any] | None:
        """The record of ``method`` on ``seed``, or ``None``."""
        for record in self.records:
            if record["method"] == method and record["seed"] == seed:
                return record
        return None

    def summary(self) -> Summary:
        """Method -> measure -> (mean, std, n) over the requested seeds (see :func:`summarize`)."""
        return summarize(self.records, self.settings["methods"], self.settings["seeds"])

    def intervals(self) -> Intervals:
        """Method -> measure -> 95 % half-width of one-seed estimates (see :func:`intervals`)."""
        return intervals(self.records, self.settings["methods"], self.settings["seeds"])

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows of the table: ours (mean ± std, or ± ci95* for a one-seed
        estimate) and the paper's."""
        preset = self.settings.get("preset")
        return table_rows(self.summary(), self.table_methods, preset, self.intervals())

    def table_markdown(self) -> str:
        """The table as Markdown (what ``topoae compare`` prints)."""
        preset = self.settings.get("preset")
        return table_markdown(self.summary(), self.table_methods, preset, self.intervals())

    def table_csv(self) -> str:
        """Machine-readable table: one row per method and source (ours / paper)."""
        return table_csv(self.summary(), self.table_methods, self.settings.get("preset"))

    @property
    def table_methods(self) -> list[str]:
        """The requested methods in the paper's table order (:data:`topoae.paper.METHODS`)."""
        return [m for m in METHODS if m in self.settings["methods"]]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (arrays to lists, anything else unknown to its str)."""
    return json.loads(
        json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


# --------------------------------------------------------------------------- reading


def _results_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / "results.json" if path.is_dir() else path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DataFileError(
            f"{path} does not exist; point at the --out folder of `topoae compare`."
        )
    check_run(path.parent, [path.name])
    advice = "delete it or choose another folder"
    saved = read_json(path, kind="comparison results", advice=advice)
    if saved.get("format") != RESULTS_FORMAT:
        raise DataFileError(
            f"{path} is not a topoae comparison (format {RESULTS_FORMAT}); choose another folder."
        )
    return saved


def _check_settings(path: Path, settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise DataFileError(f"{path}: 'settings' must be an object.")
    if not isinstance(settings.get("dataset"), str):
        raise DataFileError(f"{path}: settings.dataset must be a data set name.")
    for key in ("methods", "seeds"):
        values = settings.get(key)
        kind = str if key == "methods" else int
        if not isinstance(values, list) or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in values
        ):
            raise DataFileError(f"{path}: settings.{key} must be a list of {kind.__name__}s.")
    return settings


def _check_record(path: Path, index: int, record: Any) -> dict[str, Any]:
    where = f"{path}: record {index}"
    if not isinstance(record, dict):
        raise DataFileError(f"{where} must be an object.")
    if not isinstance(record.get("method"), str):
        raise DataFileError(f"{where} has no method name.")
    seed = record.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise DataFileError(f"{where} ({record['method']}) has no integer seed.")
    measures = record.get("measures")
    if not isinstance(measures, dict):
        raise DataFileError(f"{where} ({record['method']}, seed {seed}) has no measures.")
    _check_estimate_flags(where, record["method"], seed, measures)
    for key, value in measures.items():
        if key in ("estimated", "estimated_measures"):
            continue
        numbers = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise DataFileError(
                f"{where} ({record['method']}, seed {seed}): measure {key!r} is not a "
                f"number ({value!r})."
            )
    for key in ("embedding", "run_dir"):
        if key in record and not _inside(record[key]):
            raise DataFileError(
                f"{where}: {key} {record[key]!r} must be a relative path inside the folder."
            )
    return record


def _check_estimate_flags(where: str, method: str, seed: int, measures: dict) -> None:
    """``estimated`` must be a bool and ``estimated_measures`` a list of measure names."""
    flag = measures.get("estimated", False)
    names = measures.get("estimated_measures", [])
    if not isinstance(flag, bool) or not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise DataFileError(
            f"{where} ({method}, seed {seed}): 'estimated' must be true/false and "
            "'estimated_measures' a list of measure names."
        )


def _inside(relative: Any) -> bool:
    """Whether ``relative`` names a file inside the comparison folder (no escaping it)."""
    if not isinstance(relative, str) or not relative:
        return False
    parts = Path(relative).parts
    return not Path(relative).is_absolute() and ".." not in parts


def load_results(path: str | os.PathLike) -> Comparison:
    """Read a comparison back from its folder (or its ``results.json``).

    Parameters
    ----------
    path : str or PathLike
        A ``topoae compare --out`` folder, or the ``results.json`` in it.

    Returns
    -------
    Comparison
        Settings, records and wall time as saved; ``out`` is the folder.

    Raises
    ------
    DataFileError
        A missing or damaged file, another format, or a field of the wrong type; the
        message names the file and the field.
    """
    path = _results_path(path)
    saved = _read_json(path)
    settings = _check_settings(path, saved.get("settings"))
    records = saved.get("records", [])
    if not isinstance(records, list):
        raise DataFileError(f"{path}: 'records' must be a list.")
    records = [_check_record(path, i, r) for i, r in enumerate(records)]
    wall = saved.get("wall_seconds", 0.0)
    if not isinstance(wall, int | float) or isinstance(wall, bool):
        raise DataFileError(f"{path}: wall_seconds must be a number, got {wall!r}.")
    return Comparison(settings, records, path.parent, float(wall))


# --------------------------------------------------------------------------- writing


def resume(comparison: Comparison) -> None:
    """Take over the finished pairs saved in ``comparison.out`` (if any).

    Raises
    ------
    RunFolderError
        The folder holds results made with other settings (:data:`RESUME_KEYS`).
    DataFileError
        Its ``results.json`` is damaged or not a comparison.
    """
    if comparison.out is None:
        raise InputError("resume needs a comparison with an output folder (out)")
    path = comparison.out / "results.json"
    if not path.exists():
        return
    saved = load_results(path)
    ours = comparison.settings
    diff = {
        key: (saved.settings.get(key), ours.get(key))
        for key in RESUME_KEYS
        if saved.settings.get(key) != ours.get(key)
    }
    if diff:
        raise RunFolderError(
            f"{comparison.out} holds results made with other settings {diff} (saved, now); "
            "use the same settings to resume, or another --out."
        )
    comparison.records = saved.records
    comparison.wall_seconds = saved.wall_seconds
    # Keep earlier pairs that this call did not ask for in the file (and the table order ours).
    for key in ("methods", "seeds"):
        earlier = saved.settings.get(f"all_{key}", saved.settings[key])
        ours[f"all_{key}"] = list(dict.fromkeys([*earlier, *ours[key]]))


def _summary_json(comparison: Comparison) -> dict[str, Any]:
    """Mean, std, n of each cell; ``ci95`` too where a one-seed cell is an estimate."""
    cis = comparison.intervals()
    out: dict[str, Any] = {}
    for method, values in comparison.summary().items():
        out[method] = {}
        for key, (m, s, n) in values.items():
            out[method][key] = {"mean": m, "std": s, "n": n}
            if n == 1 and key in cis.get(method, {}):
                out[method][key]["ci95"] = cis[method][key]
    return out


def save_results(comparison: Comparison) -> Path:
    """Write ``comparison.out / "results.json"`` atomically (see the module docstring)."""
    if comparison.out is None:
        raise InputError("save_results needs a comparison with an output folder (out)")
    settings = dict(comparison.settings)
    settings.setdefault("all_methods", settings["methods"])
    settings.setdefault("all_seeds", settings["seeds"])
    return write_json(
        comparison.out / "results.json",
        {
            "format": RESULTS_FORMAT,
            "topoae_version": __version__,
            "settings": settings,
            "wall_seconds": comparison.wall_seconds,
            "summary": _summary_json(comparison),
            "records": comparison.records,
        },
    )
