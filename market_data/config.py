"""Frozen, keyword-only, validated configuration objects.

``Config`` is the base of every configuration object in the harness (``BacktestConfig``,
a strategy's ``Params``, detector settings): subclasses are turned into frozen,
keyword-only dataclasses; each field declared with :func:`param` carries its bounds and
documentation; construction coerces and checks every value and rejects unknown names
with a "did you mean" hint; ``to_dict``/``from_dict`` and ``to_toml``/``from_toml``
round-trip exactly.

This is the lowest layer's utility: ``market_data`` imports nothing of ours, and the
store, the engine, the detectors and strategy parameters (``strategies.params.Params``,
which adds ``search_space()``) all build on it.

Example::

    class SMAParams(Config):
        fast: int = param(10, low=2, high=200, doc="fast moving-average window (bars)")
        slow: int = param(50, low=3, high=1000, doc="slow moving-average window (bars)")

        def check(self) -> None:
            if self.fast >= self.slow:
                self.fail("fast", f"must be below slow ({self.slow}), got {self.fast}")
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, get_type_hints

import numpy as np

from market_data.errors import InputError

__all__ = ["Config", "param", "ParamError", "parse_value"]


class ParamError(InputError):
    """A parameter or configuration value is unknown, of the wrong type or out of range."""


def parse_value(text: str) -> Any:
    """A value typed on a command line: ``true``/``false`` -> bool, ``none``/``null`` -> None,
    then int, then float, else the stripped text (the config classes check the types)."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def param(default: Any, *, low: float | None = None, high: float | None = None,
          choices: Sequence[Any] | None = None, log: bool = False, step: float | None = None,
          optional: bool = False, search: bool = True, doc: str = "") -> Any:
    """Declare a field with its default, bounds and documentation.

    ``low``/``high`` are inclusive bounds; ``choices`` restricts to a set; ``log`` and
    ``step`` shape the Optuna distribution; ``optional`` allows ``None``; ``search=False``
    keeps the field out of ``search_space()``.
    """
    meta = {"low": low, "high": high, "choices": tuple(choices) if choices is not None else None,
            "log": log, "step": step, "optional": optional or default is None, "search": search,
            "doc": doc}
    return dataclasses.field(default=default, metadata={"param": meta})


class Config:
    """Base class: subclasses become frozen, keyword-only, validated dataclasses."""

    _types: ClassVar[dict[str, type]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(cls, frozen=True, kw_only=True)
        hints = get_type_hints(cls)
        cls._types = {f.name: _base_type(hints.get(f.name, object)) for f in dataclasses.fields(cls)}
        original_init = cls.__init__

        def __init__(self, *args: Any, **kw: Any) -> None:
            if args:
                raise ParamError(f"{cls.__name__} takes keyword arguments only, got {len(args)} positional")
            unknown = [k for k in kw if k not in cls._types]
            if unknown:
                raise ParamError(_unknown_message(cls, unknown[0]))
            original_init(self, **kw)

        __init__.__doc__ = original_init.__doc__
        cls.__init__ = __init__  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(type(self), f, self._types[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self.check()

    # hooks ---------------------------------------------------------------
    def check(self) -> None:
        """Cross-field validation; override and call :meth:`fail` on a violation."""

    def fail(self, field: str, problem: str) -> None:
        raise ParamError(f"{type(self).__name__}.{field} {problem}")

    # conversion ----------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One dict per field: name, type, default, low, high, choices, doc."""
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata.get("param", {})
            out.append({"name": f.name, "type": cls._types[f.name].__name__, "default": f.default,
                        "low": meta.get("low"), "high": meta.get("high"), "choices": meta.get("choices"),
                        "doc": meta.get("doc", "")})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None = None, **overrides: Any) -> Config:
        merged = dict(data or {})
        merged.update(overrides)
        return cls(**merged)

    def replace(self, **changes: Any) -> Config:
        return self.from_dict(self.to_dict(), **changes)

    def to_toml(self) -> str:
        """A TOML table body (``key = value`` lines); ``None`` values are left out."""
        lines = []
        for k, v in self.to_dict().items():
            if v is None:
                continue
            lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + ("\n" if lines else "")

    @classmethod
    def from_toml(cls, text: str) -> Config:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ParamError(f"{cls.__name__}: invalid TOML: {exc}") from None
        return cls.from_dict(data)


# helpers -------------------------------------------------------------------
def _base_type(hint: Any) -> type:
    args = getattr(hint, "__args__", None)
    if args:  # Optional[X] / X | None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1 and isinstance(non_none[0], type):
            return non_none[0]
    return hint if isinstance(hint, type) else object


def _unknown_message(cls: type, name: str) -> str:
    close = difflib.get_close_matches(name, [f.name for f in dataclasses.fields(cls)], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{cls.__name__} has no field {name!r}{hint} (fields: {', '.join(f.name for f in dataclasses.fields(cls))})"


def _coerce(cls: type, f: dataclasses.Field, typ: type, value: Any) -> Any:
    meta = f.metadata.get("param", {})
    where = f"{cls.__name__}.{f.name}"
    if value is None:
        if meta.get("optional") or f.default is None:
            return None
        raise ParamError(f"{where} must not be None")
    if typ is bool:
        if isinstance(value, (bool, np.bool_)):
            value = bool(value)
        else:
            raise ParamError(f"{where} must be true or false, got {value!r}")
    elif typ is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParamError(f"{where} must be an integer, got {value!r}")
        if float(value) != math.floor(float(value)) or not math.isfinite(float(value)):
            raise ParamError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    elif typ is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ParamError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ParamError(f"{where} must be finite, got {value!r}")
    elif typ is str:
        if not isinstance(value, str):
            raise ParamError(f"{where} must be a string, got {value!r}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ParamError(f"{where} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low:
        raise ParamError(f"{where} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ParamError(f"{where} must be <= {high}, got {value!r}")
    return value


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ParamError(f"cannot write {v!r} to TOML")
