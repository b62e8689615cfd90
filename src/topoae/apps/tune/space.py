"""The search space of a tune: the paper's ranges, flags that widen or fix them, directions."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from topoae.errors import InputError, MissingDependencyError

__all__ = [
    "PAPER_SPACE",
    "Range",
    "SearchSpace",
    "direction_of",
    "optuna_module",
    "study_signature",
]

#: The paper's space: batch 16-128, learning rate log-uniform 1e-4-1e-2, λ log-uniform 0.1-3.
PAPER_SPACE: dict[str, tuple[float, float, str]] = {
    "batch_size": (16, 128, "int"),
    "learning_rate": (1e-4, 1e-2, "log"),
    "lam": (0.1, 3.0, "log"),
}

# Measures where a larger value is better; every other measure of evaluate is minimised.
_HIGHER_IS_BETTER = (
    "trustworthiness",
    "continuity",
    "distance_correlation",
    "distance_spearman",
    "triplet_accuracy",
    "knn_accuracy",
    "knn_preservation",
    "neighbourhood_preservation",
    "q_nx",
    "r_nx",
    "auc_r_nx",
    "lcmc",
)


def optuna_module():
    """Import Optuna, or say which extra brings it."""
    try:
        import optuna
    except ImportError as error:
        raise MissingDependencyError(
            "topoae tune needs Optuna: pip install 'topoae[tune]'."
        ) from error
    return optuna


def direction_of(objective: str) -> str:
    """``"maximize"`` for measures where larger is better (trustworthiness, ...), else minimise."""
    return "maximize" if objective.startswith(_HIGHER_IS_BETTER) else "minimize"


@dataclass(frozen=True)
class Range:
    """One searched parameter: ``low`` to ``high``, ``kind`` in {"int", "log", "float"}."""

    low: float
    high: float
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ("int", "log", "float"):
            raise InputError(f"Unknown range kind {self.kind!r}; use int, log or float.")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise InputError(
                f"Empty or inverted range {self.low:g}:{self.high:g}; "
                "give LOW:HIGH with LOW < HIGH."
            )
        if self.kind == "log" and self.low <= 0:
            raise InputError(f"A log-uniform range needs LOW > 0, got {self.low:g}.")


@dataclass
class SearchSpace:
    """Searched ranges and fixed values of the training settings a trial varies.

    Attributes
    ----------
    ranges : dict of str to Range
    fixed : dict of str to float
        Parameters held at one value (given by a flag as a single number).
    """

    ranges: dict[str, Range] = field(default_factory=dict)
    fixed: dict[str, float] = field(default_factory=dict)

    @classmethod
    def paper(
        cls, overrides: dict[str, str] | None = None, *, model: str = "topoae"
    ) -> SearchSpace:
        """The paper's space with ``"LOW:HIGH"`` (search) or ``"VALUE"`` (fix) overrides."""
        space = cls({name: Range(*spec) for name, spec in PAPER_SPACE.items()})
        for name, text in (overrides or {}).items():
            if name not in PAPER_SPACE:
                raise InputError(
                    f"Unknown parameter {name!r} to search; choose from {', '.join(PAPER_SPACE)}."
                )
            space.set(name, text)
        if model == "ae":  # the vanilla autoencoder has no λ to search
            space.ranges.pop("lam", None)
            space.fixed["lam"] = 0.0
        return space

    def set(self, name: str, text: str) -> None:
        """Search ``LOW:HIGH`` or fix ``VALUE`` for ``name`` (keeps the paper's kind)."""
        kind = PAPER_SPACE[name][2]
        try:
            parts = [float(part) for part in str(text).split(":")]
        except ValueError:
            raise InputError(
                f"--{name.replace('_', '-')}: expected LOW:HIGH or a number, got {text!r}."
            ) from None
        if len(parts) == 1:
            self.ranges.pop(name, None)
            self.fixed[name] = int(parts[0]) if kind == "int" else parts[0]
        elif len(parts) == 2:
            self.fixed.pop(name, None)
            self.ranges[name] = Range(parts[0], parts[1], kind)
        else:
            raise InputError(
                f"--{name.replace('_', '-')}: expected LOW:HIGH or a number, got {text!r}."
            )

    def suggest(self, trial) -> dict[str, float]:
        """Draw the trial's values (fixed ones included)."""
        values: dict[str, float] = dict(self.fixed)
        for name, spec in self.ranges.items():
            if spec.kind == "int":
                values[name] = trial.suggest_int(name, int(spec.low), int(spec.high))
            else:
                values[name] = trial.suggest_float(
                    name, spec.low, spec.high, log=spec.kind == "log"
                )
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "ranges": {k: [r.low, r.high, r.kind] for k, r in sorted(self.ranges.items())},
            "fixed": dict(sorted(self.fixed.items())),
        }


def study_signature(**parts: Any) -> str:
    """A short digest of what makes two tunes the same study (data, model, space, objective)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
