"""The detector registry and the default detector from the home config / experiment TOML."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any

from harness.regime._base import Detector, RegimeError

__all__ = ["available", "get", "default", "from_config", "detector_class", "register",
           "DEFAULT_DETECTOR", "DEFAULT_PARAMS", "trigger_from_config"]

_BUILTIN: dict[str, str] = {
    "ewma": "harness.regime.ewma:EWMADetector",
    "cusum": "harness.regime.cusum:CUSUMDetector",
    "bocpd": "harness.regime.bocpd:BOCPDDetector",
    "garch": "harness.regime.garch:GARCHDetector",
}
_USER: dict[str, type[Detector]] = {}

#: The detector the retraining loop uses unless the home config or an experiment says otherwise
#: (chosen by ``benchmarks/bench_regime.py``; see benchmarks/README.md).
DEFAULT_DETECTOR = "cusum"
DEFAULT_PARAMS: dict[str, Any] = {}


def register(klass: type[Detector], *, replace: bool = False) -> type[Detector]:
    """Register a user detector class (a :class:`Detector` subclass with a ``name``)."""
    if not (isinstance(klass, type) and issubclass(klass, Detector) and klass.name):
        raise RegimeError(f"{klass!r} is not a Detector subclass with a name")
    if not replace and (klass.name in _BUILTIN or klass.name in _USER):
        raise RegimeError(f"a detector named {klass.name!r} is already registered; pass replace=True")
    _USER[klass.name] = klass
    return klass


def available() -> list[str]:
    """Names of every detector, sorted."""
    return sorted(set(_BUILTIN) | set(_USER))


def detector_class(name: str) -> type[Detector]:
    """The class registered under ``name``."""
    if name in _USER:
        return _USER[name]
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    close = difflib.get_close_matches(str(name), available(), n=2)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise RegimeError(f"unknown regime detector {name!r}{hint} (available: {', '.join(available())})")


def get(name: str, **params: Any) -> Detector:
    """A fresh detector by registry name with the given parameters (others default)."""
    return detector_class(name)(**params)


def from_config(config: Mapping[str, Any] | None) -> Detector:
    """Build a detector from a config table such as the home ``[regime]`` section or an
    experiment's ``[regime]`` table::

        detector = "bocpd"      # registry name (default: DEFAULT_DETECTOR)
        threshold = 0.6         # any detector parameter, flat ...
        [regime.params]         # ... or nested (nested wins)
        expected_run = 500
        [regime.trigger]        # ignored here: see trigger_from_config
        min_duration = 5

    Parameters given for a different detector than the default are not mixed in:
    ``DEFAULT_PARAMS`` apply only when ``detector`` is the default one.
    """
    cfg = dict(config or {})
    name = cfg.pop("detector", DEFAULT_DETECTOR)
    if not isinstance(name, str):
        raise RegimeError(f"[regime] detector must be a detector name string, got {name!r}")
    nested = cfg.pop("params", {})
    cfg.pop("trigger", None)
    if not isinstance(nested, Mapping):
        raise RegimeError("[regime.params] must be a table of detector parameters")
    params = dict(DEFAULT_PARAMS) if name == DEFAULT_DETECTOR else {}
    params.update(cfg)
    params.update(nested)
    return get(name, **params)


def trigger_from_config(config: Mapping[str, Any] | None):
    """The :class:`TriggerPolicy` of a ``[regime]`` table's ``trigger`` sub-table (defaults when absent)."""
    from harness.regime._trigger import TriggerPolicy

    table = dict((config or {}).get("trigger", {}) or {})
    return TriggerPolicy(**table)


def default() -> Detector:
    """The default detector: ``[regime]`` of ``<home>/config.toml`` when present, else the built-in default."""
    from harness.config import settings

    return from_config(settings("regime"))
