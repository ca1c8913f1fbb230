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

__all__ = ["History", "StrategyDecider", "WindowedDecider", "WeightsDecider", "FixedSource"]


class History:
    """The bars a runner has seen, in growing arrays (amortised O(1) appends).

    :attr:`snapshot_id` is the bar store snapshot every row was read from (a replay of
    stored bars), None as soon as one row came from elsewhere or from another snapshot;
    the views :meth:`bars` returns carry it, so a decider can read the features
    materialised from that snapshot (:func:`strategies.features.use_store`).
    """

    def __init__(self, symbols, frequency: str, capacity: int = 1024) -> None:
        self.symbols = tuple(symbols)
        self.frequency = frequency
        N = len(self.symbols)
        self.n = 0
        self.snapshot_id: str | None = None
        self._proto: Bars | None = None
        self.ts = np.empty(capacity, np.int64)
        self.fields = {k: np.empty((capacity, N)) for k in ("open", "high", "low", "close", "volume")}

    def append(self, bar: Bar) -> None:
        if self.n and bar.time <= self.ts[self.n - 1]:
            raise ValueError("history must grow in time")
        snap = getattr(bar, "snapshot_id", None)
        if self.n == 0:
            self.snapshot_id = snap
        elif snap != self.snapshot_id:
            self.snapshot_id = None
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
        """``Bars`` of rows ``[start, n)`` (views of the buffers).

        The first call builds them through the validating constructor; later calls reuse
        its checked symbols and frequency and only slice (the rows were checked on append:
        increasing times, float64 fields of the universe's width).
        """
        n = self.n
        if self._proto is None:
            self._proto = Bars(timestamps=self.ts[start:n], symbols=self.symbols,
                               **{k: a[start:n] for k, a in self.fields.items()}, frequency=self.frequency)
            if self.snapshot_id is None:
                return self._proto
        ts = self.ts[start:n]
        ts.flags.writeable = False  # read-only views, as Bars' own fields are
        views = {}
        for k, a in self.fields.items():
            views[k] = v = a[start:n]
            v.flags.writeable = False
        return Bars._unchecked(ts, self._proto.symbols, self._proto.frequency, self.snapshot_id, views)


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


# --------------------------------------------------------------------------- bounded per-bar cost
def _lcm(*xs: int) -> int:
    import math

    out = 1
    for x in xs:
        out = out * int(x) // math.gcd(out, int(x))
    return out


def _alignment(name: str, p) -> tuple[int, int] | None:
    """``(period, memory)`` of a built-in strategy's kernel: a recomputation over the history
    rows ``[s, t]`` gives the batch run's row ``t`` when ``s`` is a multiple of ``period``
    (the rolling statistics re-anchor every ``window`` rows counted from the origin) and
    ``t - s >= memory`` (every statistic has re-anchored inside the window since ``s``).
    Path-dependent kernels (a position carried from bar to bar) are verified on top, see
    :class:`WindowedDecider`. None: no bounded form known (the full history is used).
    """
    if name == "sma_crossover" or name == "sma_reversal":
        return _lcm(p.fast, p.slow), 2 * p.slow + 2
    if name == "bollinger_reversion":
        return int(p.window), 2 * p.window + 2
    if name == "donchian_breakout":
        return 1, max(p.entry, p.exit) + 2
    if name == "vol_target_momentum":
        return int(p.vol_window), max(p.lookback, 2 * p.vol_window) + 2
    if name == "xs_momentum":
        return int(p.rebalance), p.lookback + p.rebalance + 2
    return None


def _same_row(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit (NaN equal to the same NaN)."""
    return a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


class WindowedDecider:
    """The strategy's own ``target_weights`` on a trailing window of history aligned to the
    batch run's origin, so that the per-bar cost is bounded and the row is the batch row.

    The window starts at the latest multiple of the kernel's re-anchoring period that
    leaves ``memory`` rows before the newest bar (:func:`_alignment`). Each bar the window's
    row for the previous bar is compared with the row this decider gave then (bit for
    bit); for a path-dependent kernel (donchian_breakout, sma_reversal,
    bollinger_reversion carry their position, which their weight shows) equal rows mean
    the window carries the batch state, and a difference (a position opened before the
    window) falls back to the full history for that bar. ``fallbacks`` counts them.
    ``mlp`` keeps its fitted model and scores the trailing feature window only
    (``FittedModel.latest_weights``). A strategy without a known alignment uses the full
    history every bar (exact, cost growing with it).
    """

    def __init__(self, strategy: Any = None, params: Any = None) -> None:
        from harness.engine.api import _resolve_strategy

        strat, p = _resolve_strategy(strategy, params)
        self.strategy, self.p = strat, p
        self.name = strat.name
        self.params = p.to_dict()
        self.align = _alignment(strat.name, p)
        self.prev: np.ndarray | None = None
        self.prev_t = -1
        self.fallbacks = 0
        self.window_rows = 0
        self._model = None

    def _full(self, hist: History) -> np.ndarray:
        return np.asarray(self.strategy.target_weights(hist.bars(), self.p), dtype=np.float64)

    def row(self, hist: History) -> np.ndarray:
        t = hist.n - 1
        if self.name == "mlp":
            return self._mlp_row(hist)
        row = None
        if self.align is not None and self.prev is not None and self.prev_t == t - 1:
            period, memory = self.align
            s = max(0, (t - memory) // period * period)
            if s > 0:
                w = np.asarray(self.strategy.target_weights(hist.bars(s), self.p), dtype=np.float64)
                self.window_rows = t + 1 - s
                if _same_row(w[t - 1 - s], self.prev):
                    row = w[t - s]
                else:
                    self.fallbacks += 1
        if row is None:
            row = self._full(hist)[t]
        self.prev = np.array(row, dtype=np.float64)
        self.prev_t = t
        return row

    def _mlp_row(self, hist: History) -> np.ndarray:
        from strategies.ml.strategy import _fitted_on

        w = self.p.train_bars
        t = hist.n - 1
        if t < w or hist.n <= w:
            return np.zeros(len(hist.symbols))
        if self._model is None:
            self._model = _fitted_on(hist.bars(0)[:w], self.p)
        m = self._model
        start = max(0, w - m.window + 1, hist.n - m.window)  # the batch run's feature origin, or later
        return m.target_weights(hist.bars(start))[-1]
