"""A small declarative schema for the structures topoae reads back (JSON and torch files).

A schema is one of

- a type or a tuple of types: ``int``, ``str``, ``(int, float)``, ``dict``, ``torch.Tensor``;
  ``int`` refuses ``bool`` and ``float`` accepts ``int`` (JSON writes ``1.0`` as ``1``);
- a dict ``{key: schema}``: a mapping holding at least these keys (more are allowed, so
  newer writers stay readable);
- a :class:`Spec`: :class:`Optional`, :class:`ListOf`, :class:`DictOf`, :class:`Tensor` or
  :class:`StateDictLike` (the keys, shapes and dtypes of a model's ``state_dict``).

:func:`problem` returns the first mismatch as text (``"at optimizer.state: missing"``) or
``None``; the readers in :mod:`topoae._safe_files` turn it into one
:class:`~topoae.errors.DataFileError` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DictOf", "ListOf", "Optional", "Spec", "StateDictLike", "Tensor", "problem"]


class Spec:
    """A check beyond ``isinstance``: :meth:`check` returns a problem or ``None``."""

    def check(self, value: Any, where: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Optional(Spec):
    """``None`` or ``schema``; as a dict value, the key may also be absent."""

    schema: Any

    def check(self, value, where):
        return None if value is None else problem(value, self.schema, where)


@dataclass(frozen=True)
class ListOf(Spec):
    """A list (or tuple) whose every item matches ``schema``; at least ``min_len`` items."""

    schema: Any
    min_len: int = 0

    def check(self, value, where):
        if not isinstance(value, list | tuple):
            return _wrong_type(value, "a list", where)
        if len(value) < self.min_len:
            return f"at {where}: {len(value)} items, expected at least {self.min_len}"
        for i, item in enumerate(value):
            if (found := problem(item, self.schema, f"{where}[{i}]")) is not None:
                return found
        return None


@dataclass(frozen=True)
class DictOf(Spec):
    """A mapping whose every value matches ``schema`` (keys of type ``keys``)."""

    schema: Any
    keys: type | tuple[type, ...] = str

    def check(self, value, where):
        if not isinstance(value, Mapping):
            return _wrong_type(value, "a mapping", where)
        for key, item in value.items():
            if not isinstance(key, self.keys):
                return f"at {where}: key {key!r} is a {type(key).__name__}"
            if (found := problem(item, self.schema, f"{where}.{key}")) is not None:
                return found
        return None


@dataclass(frozen=True)
class Tensor(Spec):
    """A ``torch.Tensor`` with this dtype (a ``torch.dtype``), ndim and shape (None: any).

    ``shape`` may hold ``None`` for a free dimension; ``finite`` refuses NaN and inf.
    """

    dtype: Any = None
    ndim: int | None = None
    shape: tuple[int | None, ...] | None = None
    finite: bool = False

    def check(self, value, where):
        import torch

        if not isinstance(value, torch.Tensor):
            return _wrong_type(value, "a tensor", where)
        if self.dtype is not None and value.dtype != self.dtype:
            return f"at {where}: dtype {value.dtype}, expected {self.dtype}"
        if self.ndim is not None and value.ndim != self.ndim:
            return f"at {where}: {value.ndim} dimensions, expected {self.ndim}"
        if self.shape is not None and (
            value.ndim != len(self.shape)
            or any(
                want is not None and got != want
                for got, want in zip(value.shape, self.shape, strict=True)
            )
        ):
            return f"at {where}: shape {tuple(value.shape)}, expected {self.shape}"
        if self.finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"at {where}: holds NaN or infinite values"
        return None


class StateDictLike(Spec):
    """The same keys, shapes and dtypes as ``reference`` (a model's ``state_dict()``)."""

    def __init__(self, reference: Mapping[str, Any]):
        self.reference = {k: (tuple(v.shape), v.dtype) for k, v in reference.items()}

    def check(self, value, where):
        import torch

        if not isinstance(value, Mapping):
            return _wrong_type(value, "a state_dict", where)
        missing = sorted(set(self.reference) - set(value))
        extra = sorted(set(value) - set(self.reference))
        if missing or extra:
            return (
                f"at {where}: weights of another model (missing {_few(missing)}, "
                f"unexpected {_few(extra)})"
            )
        for key, (shape, dtype) in self.reference.items():
            tensor = value[key]
            if not isinstance(tensor, torch.Tensor):
                return _wrong_type(tensor, "a tensor", f"{where}.{key}")
            if tuple(tensor.shape) != shape or tensor.dtype != dtype:
                return (
                    f"at {where}.{key}: {tensor.dtype} of shape {tuple(tensor.shape)}, "
                    f"the model has {dtype} of shape {shape}"
                )
        return None


def problem(value: Any, schema: Any, where: str = "top level") -> str | None:
    """The first way ``value`` does not match ``schema``, as text; ``None`` when it matches."""
    if isinstance(schema, Spec):
        return schema.check(value, where)
    if isinstance(schema, Mapping):
        if not isinstance(value, Mapping):
            return _wrong_type(value, "a mapping", where)
        for key, sub in schema.items():
            inner = key if where == "top level" else f"{where}.{key}"
            if key not in value:
                if isinstance(sub, Optional):
                    continue
                return f"at {inner}: missing"
            if (found := problem(value[key], sub, inner)) is not None:
                return found
        return None
    types = schema if isinstance(schema, tuple) else (schema,)
    if isinstance(value, bool) and bool not in types:
        return _wrong_type(value, _names(types), where)
    if isinstance(value, int) and float in types:
        return None
    if not isinstance(value, types):
        return _wrong_type(value, _names(types), where)
    return None


def _wrong_type(value: Any, expected: str, where: str) -> str:
    return f"at {where}: a {type(value).__name__}, expected {expected}"


def _names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _few(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")
