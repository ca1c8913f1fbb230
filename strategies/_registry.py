"""The strategy registry: built-ins are imported lazily by name, users add their own."""

from __future__ import annotations

import difflib
import importlib
import re
from typing import Any

from strategies._base import REQUIRED_ATTRIBUTES
from strategies.params import ParamError

__all__ = ["get", "available", "register", "unregister"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# name -> dotted module path; imported on first use so `import strategies` stays light.
_BUILTIN: dict[str, str] = {}
_LOADED: dict[str, Any] = {}


def _builtin(name: str, module: str) -> None:
    _BUILTIN[name] = module


def register(strategy: Any, *, name: str | None = None, replace: bool = False) -> Any:
    """Register a strategy module or object; returns it (usable as a decorator on classes).

    The object must provide ``name``, ``Params``, ``search_space``, ``warmup`` and
    ``target_weights`` (see :mod:`strategies._base`).
    """
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(strategy, a)]
    if missing:
        raise ParamError(f"cannot register {strategy!r}: missing {', '.join(missing)} (the strategy protocol)")
    key = name or strategy.name
    if not isinstance(key, str) or not _NAME.match(key):
        raise ParamError(f"strategy name {key!r} must match [a-z][a-z0-9_]* (it becomes part of paths)")
    if not replace and (key in _LOADED and _LOADED[key] is not strategy or key in _BUILTIN and key not in _LOADED):
        raise ParamError(f"a strategy named {key!r} is already registered; pass replace=True to override it")
    _LOADED[key] = strategy
    return strategy


def unregister(name: str) -> None:
    """Remove a user-registered strategy (built-ins come back on next ``get``)."""
    _LOADED.pop(name, None)


def available() -> list[str]:
    """Names of every registered strategy, built-in and user, sorted."""
    return sorted(set(_BUILTIN) | set(_LOADED))


def get(name: str | Any) -> Any:
    """The strategy registered under ``name`` (a strategy object is returned unchanged)."""
    if not isinstance(name, str):
        missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(name, a)]
        if missing:
            raise ParamError(f"{name!r} is not a strategy: missing {', '.join(missing)}")
        return name
    if name in _LOADED:
        return _LOADED[name]
    if name in _BUILTIN:
        module = importlib.import_module(_BUILTIN[name])
        _LOADED[name] = module
        return module
    close = difflib.get_close_matches(name, available(), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ParamError(f"unknown strategy {name!r}{hint} (available: {', '.join(available()) or 'none'})")
