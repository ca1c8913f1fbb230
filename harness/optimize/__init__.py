"""Optuna optimisation with out-of-sample scoring over walk-forward / purged CV folds.

``optimize(bars, strategy, n_trials=..., objective="sharpe", cv=WalkForward(...))``
returns an :class:`OptimizationResult` (best params, trials, per-trial out-of-sample
returns, lineage, ``.pbo()`` and ``.deflated_sharpe()``). Optuna is imported on first
call, never at ``import harness``.
"""

import sys as _sys
import types as _types

from harness.optimize._folds import OBJECTIVES, FoldEvaluator
from harness.optimize._optimize import optimize, resolve_search_space
from harness.optimize._result import OptimizationResult

__all__ = ["optimize", "OptimizationResult", "OBJECTIVES", "FoldEvaluator", "resolve_search_space"]


class _CallableModule(_types.ModuleType):
    """``harness.optimize`` is both this subpackage and the function: once the subpackage
    is imported, Python binds ``harness.optimize`` to the module, so the module forwards
    calls to :func:`optimize` and ``harness.optimize(bars, ...)`` works either way."""

    def __call__(self, *args, **kwargs):
        return optimize(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
