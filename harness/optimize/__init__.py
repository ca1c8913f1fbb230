"""Optuna optimisation with out-of-sample scoring over walk-forward / purged CV folds.

``optimize(bars, strategy, n_trials=..., objective="sharpe", cv=WalkForward(...))``
returns an :class:`OptimizationResult` (best params, trials, per-trial out-of-sample
returns, lineage, ``.pbo()`` and ``.deflated_sharpe()``). Optuna is imported on first
call, never at ``import harness``.
"""

from harness._callable import make_module_callable as _make_callable
from harness.optimize._folds import OBJECTIVES, FoldEvaluator
from harness.optimize._optimize import optimize, resolve_search_space
from harness.optimize._result import OptimizationResult

__all__ = ["optimize", "OptimizationResult", "OBJECTIVES", "FoldEvaluator", "resolve_search_space"]


_make_callable(__name__, optimize)
