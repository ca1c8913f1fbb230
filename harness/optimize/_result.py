"""``OptimizationResult``: best parameters, every trial, their out-of-sample returns, lineage."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from harness.validation import PBOResult

__all__ = ["OptimizationResult"]


@dataclass(frozen=True, eq=False)
class OptimizationResult:
    """What :func:`harness.optimize` returns.

    ``best_params`` (dict; for multi-objective studies the first Pareto-optimal trial)
    and ``best_value``; ``pareto`` (multi-objective: one dict per Pareto-optimal trial
    with ``number``, ``values`` and ``params``); ``trials`` (``pd.DataFrame``, one row per
    trial: number, state, value(s), params, per-fold values); ``oos_returns`` (trial
    number -> per-bar out-of-sample returns, the test rows of every fold concatenated in
    fold order, complete trials only); ``lineage`` (data snapshot id and digest,
    strategy, objective, cv scheme, seed, study name and storage, config, code version);
    ``study`` (the ``optuna.Study``, for its own tools and optuna-dashboard).
    """

    study: Any = field(repr=False)
    objectives: tuple[str, ...]
    best_params: dict[str, Any]
    best_value: float | tuple[float, ...] | None
    best_trial: int | None
    pareto: list[dict[str, Any]]
    trials: pd.DataFrame = field(repr=False)
    oos_returns: dict[int, np.ndarray] = field(repr=False)
    periods_per_year: float
    lineage: dict[str, Any]

    # ------------------------------------------------------------------ stats
    def returns_matrix(self) -> tuple[np.ndarray, list[int]]:
        """``(T, K)`` out-of-sample returns of the ``K`` complete trials and their numbers."""
        numbers = sorted(self.oos_returns)
        if not numbers:
            raise InputError("no complete trial has out-of-sample returns")
        lengths = {self.oos_returns[n].size for n in numbers}
        if len(lengths) != 1:
            raise InputError(f"trials have out-of-sample series of different lengths {sorted(lengths)}")
        return np.column_stack([self.oos_returns[n] for n in numbers]), numbers

    def pbo(self, n_blocks: int = 16, **kwargs: Any) -> PBOResult:
        """Probability of backtest overfitting of this search (CSCV over the trials' OOS returns).

        ``n_blocks`` is lowered to the largest even number the series length allows.
        """
        from harness.validation import pbo

        try:  # the same question of the same trials is answered once (a retrain asks it for its stats and logs)
            key = (int(n_blocks), tuple(sorted(kwargs.items())), tuple(sorted(self.oos_returns)))
            hash(key)
        except TypeError:
            key = None
        cache = self.__dict__.setdefault("_pbo_cache", {})
        if key is not None and key in cache:
            return cache[key]
        mat, _ = self.returns_matrix()
        if mat.shape[1] < 2:
            raise InputError("PBO needs at least 2 complete trials")
        n_blocks = min(int(n_blocks), 2 * (mat.shape[0] // 4))
        out = pbo(mat, n_blocks=max(2, n_blocks), **kwargs)
        if key is not None:
            cache[key] = out
        return out

    def trial_sharpes(self) -> np.ndarray:
        """Per-period Sharpe ratio (not annualised) of every complete trial's OOS returns."""
        from harness.validation import nb as vnb

        out = []
        for n in sorted(self.oos_returns):
            _, mean, std, _, _ = vnb.moments_1d_nb(np.asarray(self.oos_returns[n], dtype=np.float64))
            out.append(mean / std if std > 0 else np.nan)
        return np.asarray(out)

    def n_evaluated_trials(self) -> int:
        """Trials that were scored on data: complete ones plus those a pruner stopped
        (trials refused for invalid parameters are not counted)."""
        import optuna

        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        return sum(1 for t in self.study.get_trials(deepcopy=False, states=states) if "invalid" not in t.user_attrs)

    def deflated_sharpe(self, *, n_trials: float | None = None) -> float:
        """DSR of the best trial's OOS returns against the Sharpe ratios of the trials.

        The variance of the trial Sharpe ratios comes from the complete trials;
        ``n_trials`` defaults to :meth:`n_evaluated_trials` (pruned trials were tried too;
        an upper bound on the number of *independent* trials, pass an effective number
        if known).
        """
        from harness.validation import deflated_sharpe_ratio

        if self.best_trial is None or self.best_trial not in self.oos_returns:
            raise InputError("the best trial has no out-of-sample returns")
        sharpes = self.trial_sharpes()
        if n_trials is None:
            n_trials = max(self.n_evaluated_trials(), int(np.isfinite(sharpes).sum()), 1)
        return deflated_sharpe_ratio(self.oos_returns[self.best_trial], sharpes, n_trials=n_trials)

    def best_returns(self) -> np.ndarray:
        """The best trial's out-of-sample returns."""
        if self.best_trial is None:
            raise InputError("no complete trial")
        return self.oos_returns[self.best_trial]

    def oos_metrics(self) -> dict[str, float]:
        """Metrics of the best trial's concatenated out-of-sample returns (annualised)."""
        from harness.optimize._folds import OBJECTIVES, metric_of_returns

        r = self.best_returns()
        return {name: metric_of_returns(r, name, self.periods_per_year) for name in OBJECTIVES}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: best params and value, OOS metrics, DSR, PBO, counts, lineage."""
        out: dict[str, Any] = {
            "objectives": list(self.objectives), "best_params": self.best_params,
            "best_value": self.best_value, "best_trial": self.best_trial, "pareto": self.pareto,
            "n_trials": int(len(self.trials)), "n_complete": len(self.oos_returns),
        }
        try:
            out["oos_metrics"] = self.oos_metrics()
        except InputError:
            out["oos_metrics"] = None
        for key, fn in (("deflated_sharpe", self.deflated_sharpe), ("pbo", lambda: self.pbo().summary())):
            try:
                out[key] = fn()
            except InputError as exc:
                out[key] = None
                out[f"{key}_error"] = str(exc)
        out["lineage"] = self.lineage
        return _jsonable(out)

    def save(self, folder: str | Path) -> Path:
        """Write ``summary.json``, ``trials.csv`` and ``oos_returns.npz`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(self.summary(), indent=2, sort_keys=True))
        self.trials.to_csv(folder / "trials.csv", index=False)
        # stored, not deflated: trial returns are float noise that deflate shrinks little, at ~0.2 s per 200 trials
        np.savez(folder / "oos_returns.npz", **{f"trial_{n}": r for n, r in self.oos_returns.items()})
        return folder

    def __repr__(self) -> str:
        return (f"OptimizationResult({self.lineage.get('strategy')!r}, objectives={self.objectives}, "
                f"best_value={self.best_value}, best_params={self.best_params}, trials={len(self.trials)})")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x
