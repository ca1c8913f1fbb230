"""Deciders: a bar's target weights from the history up to and including that bar.

:class:`StrategyDecider` calls the strategy's own ``target_weights`` (the code
``backtest`` runs) on the history; :class:`WeightsDecider` looks explicit weights up by
bar time. Both return the row of the newest bar, which by the prefix property of every
strategy (``strategies.testing.check_no_lookahead``) equals the batch run's row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.paper._broker import Bar
from market_data import Bars

__all__ = ["History", "StrategyDecider", "WeightsDecider", "FixedSource"]


class History:
    """The bars a runner has seen, in growing arrays (amortised O(1) appends)."""

    def __init__(self, symbols, frequency: str, capacity: int = 1024) -> None:
        self.symbols = tuple(symbols)
        self.frequency = frequency
        N = len(self.symbols)
        self.n = 0
        self.ts = np.empty(capacity, np.int64)
        self.fields = {k: np.empty((capacity, N)) for k in ("open", "high", "low", "close", "volume")}

    def append(self, bar: Bar) -> None:
        if self.n and bar.time <= self.ts[self.n - 1]:
            raise ValueError("history must grow in time")
        if self.n == self.ts.shape[0]:
            cap = 2 * self.n
            ts = np.empty(cap, np.int64)
            ts[: self.n] = self.ts
            self.ts = ts
            for k, a in self.fields.items():
                b = np.empty((cap, a.shape[1]))
                b[: self.n] = a
                self.fields[k] = b
        self.ts[self.n] = bar.time
        for k in self.fields:
            self.fields[k][self.n] = getattr(bar, k)
        self.n += 1

    def extend(self, bars: Bars) -> None:
        from harness.paper._feed import bars_rows

        for b in bars_rows(bars):
            self.append(b)

    def bars(self, start: int = 0) -> Bars:
        """``Bars`` of rows ``[start, n)`` (views of the buffers)."""
        n = self.n
        return Bars(timestamps=self.ts[start:n], symbols=self.symbols,
                    **{k: a[start:n] for k, a in self.fields.items()}, frequency=self.frequency)


class StrategyDecider:
    """The weights of ``target_weights(history)`` at the newest bar.

    ``target_weights`` is ``strategy.target_weights(bars, params)`` for a strategy, or a
    callable ``f(bars) -> (T, N)`` (a registry ``DeployedStrategy.target_weights``).
    """

    def __init__(self, strategy: Any = None, params: Any = None, *, target_weights=None) -> None:
        if target_weights is None:
            from harness.engine.api import _resolve_strategy

            strat, p = _resolve_strategy(strategy, params)
            self.name = strat.name
            self.params = p.to_dict()

            def target_weights(bars, _s=strat, _p=p):
                return _s.target_weights(bars, _p)
        else:
            self.name = getattr(strategy, "name", None) or "deployed"
            self.params = params
        self._tw = target_weights

    def row(self, hist: History) -> np.ndarray:
        w = np.asarray(self._tw(hist.bars()), dtype=np.float64)
        if w.ndim == 1:
            w = w.reshape(-1, 1)
        return w[hist.n - 1]


class WeightsDecider:
    """Explicit target weights, one row per bar time of ``timestamps``."""

    name = "weights"
    params = None

    def __init__(self, weights: np.ndarray, timestamps: np.ndarray) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.timestamps = np.asarray(timestamps, dtype=np.int64)
        self._pos = {int(t): i for i, t in enumerate(self.timestamps)}

    def row(self, hist: History) -> np.ndarray:
        from harness.errors import InputError

        t = int(hist.ts[hist.n - 1])
        i = self._pos.get(t)
        if i is None:
            raise InputError(f"no explicit weights for bar time {t}")
        return self.weights[i]


class FixedSource:
    """A champion source that never changes: one version, one decider; or a schedule
    ``[(from_time, version, decider), ...]`` (a swap at each ``from_time``), for replays."""

    def __init__(self, version: str, decider, schedule: list[tuple[int, str, Any]] | None = None) -> None:
        self.schedule = sorted(schedule or [], key=lambda x: x[0])
        self.base = (str(version), decider)

    def current(self, bar_time: int):
        cur = self.base
        for t0, v, d in self.schedule:
            if bar_time >= t0:
                cur = (str(v), d)
        return cur
