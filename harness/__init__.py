"""The backtesting and auto-retraining harness.

Public API (kept small, pinned by ``tests/harness/test_exported_members.py``); heavy
pieces (torch, vectorbt, plotly, optuna) are imported lazily on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from market_data._numba import ensure_cache_dir as _ensure_cache_dir

_ensure_cache_dir()

__version__ = "0.1.0"

# public name -> "module:attribute" (or "module" for subpackages), imported on first access
_LAZY: dict[str, str] = {
    "errors": "harness.errors",
    "config": "harness.config",
    "regime": "harness.regime",
    "backtest": "harness.engine:backtest",
    "BacktestConfig": "harness.engine:BacktestConfig",
    "BacktestResult": "harness.engine:BacktestResult",
    "optimize": "harness.optimize:optimize",
    "OptimizationResult": "harness.optimize:OptimizationResult",
    "validation": "harness.validation",
    "WalkForward": "harness.validation:WalkForward",
    "sweep": "harness.sweep:sweep",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = import_module(module)
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
