"""Out-of-sample evaluation of one parameter set over the folds of a splitter.

For a rule-based strategy the weights of a test block ``[a, b)`` are computed on the bars
from ``a - warmup - 1`` to ``b`` (so indicators are warm at the first test bar) and the
engine simulates only the test rows: with ``fill="next_open"`` the decision at the close
of ``a - 1`` fills at the open of ``a``, so the first test return already holds the
position. Each block starts flat with ``init_cash``. A trainable strategy
(``trainable = True``) is first fitted on the fold's training rows with
``strategy.fit(train_bars, params, seed)``; the fitted model's ``target_weights(bars)``
then plays the same role.

The simulation is the engine's kernel (``harness.engine.nb.simulate_nb``, metrics-only
mode) and the metrics its reductions (``harness.engine.nb.metrics_nb``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import InputError
from market_data import Bars
from market_data.frequency import periods_per_year

__all__ = ["OBJECTIVES", "FoldEvaluator", "metric_of_returns", "contiguous_runs"]

#: objective name -> (index in ``harness.engine.enums.METRIC_NAMES``, default direction)
OBJECTIVES: dict[str, tuple[int, str]] = {
    "total_return": (0, "maximize"),
    "cagr": (1, "maximize"),
    "ann_volatility": (2, "minimize"),
    "sharpe": (3, "maximize"),
    "sortino": (4, "maximize"),
    "calmar": (5, "maximize"),
    "max_drawdown": (6, "maximize"),  # a negative fraction: closer to 0 is better
}


def check_objective(name: str) -> str:
    if name not in OBJECTIVES:
        import difflib

        close = difflib.get_close_matches(str(name), list(OBJECTIVES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown objective {name!r}{hint} (expected one of {', '.join(OBJECTIVES)})")
    return name


def contiguous_runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """``[(a, b), ...]`` half-open runs of consecutive integers in sorted ``idx``."""
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [idx.size]))
    return [(int(idx[s]), int(idx[e - 1]) + 1) for s, e in zip(starts, ends, strict=True)]


def metric_of_returns(returns: np.ndarray, name: str, ppy: float) -> float:
    """One metric of the equity curve ``cumprod(1 + returns)`` (the engine's reductions)."""
    from harness.engine import nb as enb

    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return float("nan")
    equity = np.cumprod(1.0 + r)
    out = np.empty(8)
    enb.metrics_nb(equity, 1.0, float(ppy), out)
    return float(out[OBJECTIVES[name][0]])


@dataclass
class FoldEvaluator:
    """Evaluates parameter sets of ``strategy`` out of sample over ``cv``'s folds of ``bars``."""

    bars: Bars
    strategy: Any
    cv: Any
    config: Any

    def __post_init__(self) -> None:
        self.folds = list(self.cv.split(self.bars))
        if not self.folds:
            raise InputError(f"cv {self.cv.spec()} yields no fold on {self.bars.n_bars} bars "
                             f"({_span(self.bars)}); use shorter train/test windows or more data")
        self.test_runs = [contiguous_runs(te) for _, te in self.folds]  # each fold's test blocks
        self.ppy = periods_per_year(self.bars.frequency)
        self.trainable = bool(getattr(self.strategy, "trainable", False))
        if self.trainable:
            for k, (tr, _) in enumerate(self.folds):
                if len(contiguous_runs(tr)) != 1:
                    raise InputError(f"trainable strategy {self.strategy.name!r} needs one contiguous training "
                                     f"window per fold, but fold {k} of {self.cv.spec()} has "
                                     f"{len(contiguous_runs(tr))}; use walk-forward cv")
        self.fill_params = self.config.fill_params()
        self.rebalance = int(self.config.rebalance_every or 0)
        self.init_cash = float(self.config.init_cash)

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def fold_returns(self, k: int, params: Any, seed: int = 0) -> np.ndarray:
        """Per-bar out-of-sample returns of fold ``k`` (its test rows, in order)."""
        train, test = self.folds[k]
        if self.trainable:
            model = self.strategy.fit(self.bars[int(train[0]):int(train[-1]) + 1], params, seed)

            def weights_of(b: Bars) -> np.ndarray:
                return model.target_weights(b)
        else:
            def weights_of(b: Bars) -> np.ndarray:
                return self.strategy.target_weights(b, params)
        return self._returns_on(self.test_runs[k], weights_of, int(self.strategy.warmup(params)))

    def returns_of(self, rows: np.ndarray, weights_of: Any, warmup: int) -> np.ndarray:
        """Per-bar returns on ``rows`` of the weights ``weights_of(bars)`` gives, under this
        evaluator's conventions: each contiguous block of ``rows`` starts flat with
        ``init_cash``, its weights computed from ``warmup`` bars before it. This is how a
        fixed model (e.g. a deployed champion, never refitted) is scored on the folds' bars."""
        return self._returns_on(contiguous_runs(rows), weights_of, int(warmup))

    def _returns_on(self, runs: list[tuple[int, int]], weights_of: Any, warmup: int) -> np.ndarray:
        parts = [self._block(a, b, warmup, weights_of) for a, b in runs]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def block_weights(self, a: int, b: int, warm: int, weights_of: Any) -> tuple[Bars, np.ndarray, bool]:
        """``(bars, weights, skip_first)`` the block ``[a, b)`` simulates: with fills at the next
        open it starts one bar early (the decision at the close of ``a - 1``) and its first
        return is dropped. ``backtest(bars, weights=weights, config=config)`` trades exactly this."""
        from harness.engine.api import prepare_weights

        at_open = bool(self.config.fill_at_open)
        start = a - 1 if at_open and a > 0 else a
        s0 = max(0, start - warm)
        window = self._rows(s0, b)
        w = prepare_weights(window, weights_of(window), self.config)[start - s0:]
        return self._rows(start, b), np.ascontiguousarray(w), start < a

    def _rows(self, a: int, b: int) -> Bars:
        """``bars[a:b]``, kept: trials ask for the same few blocks again and again, and a
        ``Bars`` slice (views, but validated on construction) costs more than the kernel."""
        cache = self.__dict__.setdefault("_row_cache", {})
        out = cache.get((a, b))
        if out is None:
            if len(cache) >= 4096:
                cache.clear()
            out = cache[(a, b)] = self.bars[a:b]
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_row_cache", None)  # rebuilt where it is used (e.g. a Dask worker)
        return state

    def _block(self, a: int, b: int, warm: int, weights_of) -> np.ndarray:
        from harness.engine import nb as enb
        from harness.engine.enums import order_dt

        sub, w, skip = self.block_weights(a, b, warm, weights_of)
        equity = np.empty(sub.n_bars)
        simulate = enb.simulate_kernel(sub.n_symbols, self.fill_params)  # simulate_nb or its light 1-symbol path
        simulate(sub.open, sub.high, sub.low, sub.close, w, bool(self.config.fill_at_open), self.rebalance,
                 self.init_cash, self.fill_params, equity, np.empty(0), np.empty((0, sub.n_symbols)),
                 np.empty(0, dtype=order_dt))
        r = enb.returns_nb(equity, self.init_cash)
        return r[1:] if skip else r


def _span(bars: Bars) -> str:
    from market_data.bars import _fmt_ts

    if not bars.n_bars:
        return "no bars"
    return f"{_fmt_ts(bars.timestamps[0])} .. {_fmt_ts(bars.timestamps[-1])}"
