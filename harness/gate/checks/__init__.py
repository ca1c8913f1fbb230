"""The gate's checks: a plug-in family (``_base.Check``, one module per check).

``available()`` lists every check, ``check_class(name)`` gives one, ``register(cls)``
adds a user check (a :class:`Check` subclass with a ``name``). All of them are held to
one contract suite (``tests/harness/gate/test_check_contract.py``).
"""

from __future__ import annotations

import difflib
import importlib

from harness.errors import InputError
from harness.gate.checks._base import Check, MissingEvidence

__all__ = ["Check", "MissingEvidence", "available", "check_class", "register"]

_BUILTIN: dict[str, str] = {
    "oos_improvement": "harness.gate.checks.oos_improvement:OOSImprovement",
    "deflated_sharpe": "harness.gate.checks.deflated_sharpe:DeflatedSharpe",
    "pbo": "harness.gate.checks.pbo:PBO",
    "reality_check": "harness.gate.checks.reality_check:RealityCheck",
    "max_drawdown": "harness.gate.checks.max_drawdown:MaxDrawdown",
    "min_trades": "harness.gate.checks.min_trades:MinTrades",
    "max_turnover": "harness.gate.checks.max_turnover:MaxTurnover",
    "max_leverage": "harness.gate.checks.max_leverage:MaxLeverage",
    "fold_stability": "harness.gate.checks.fold_stability:FoldStability",
    "lookahead": "harness.gate.checks.lookahead:Lookahead",
    "shadow": "harness.gate.checks.shadow:ShadowCheck",
}
_USER: dict[str, type[Check]] = {}


def available() -> list[str]:
    """Names of every check, sorted."""
    return sorted(set(_BUILTIN) | set(_USER))


def register(klass: type[Check], *, replace: bool = False) -> type[Check]:
    """Register a user check class (a :class:`Check` subclass with a ``name``)."""
    if not (isinstance(klass, type) and issubclass(klass, Check) and klass.name):
        raise InputError(f"{klass!r} is not a harness.gate.checks.Check subclass with a name")
    if not replace and (klass.name in _BUILTIN or klass.name in _USER):
        raise InputError(f"a gate check named {klass.name!r} is already registered; pass replace=True")
    _USER[klass.name] = klass
    return klass


def unregister(name: str) -> None:
    """Remove a user check (built-in ones stay)."""
    _USER.pop(name, None)


def check_class(name: str) -> type[Check]:
    """The class registered under ``name``; an unknown name raises with a "did you mean" hint."""
    if name in _USER:
        return _USER[name]
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    close = difflib.get_close_matches(str(name), available(), n=2)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise InputError(f"unknown gate check {name!r}{hint} (available: {', '.join(available())})")
