"""Monitors over a paper ledger: ``LedgerMonitor`` evaluates a deployment bar by bar.

It needs the bars (a history that covers the training window and every bar the ledger
processed), the strategy and params the ledger traded, the backtest config, the
training window and, for the performance band, the champion's holdout returns. All
inputs, weights and the backtest are computed once (each is point-in-time, so the
rows up to bar ``t`` are exactly what an evaluation at ``t`` could have seen) and every
evaluation slices them:

- feature drift: :func:`strategies.inputs.compute_inputs` over the training window
  against the live window (the last ``[monitor] window`` ledger bars); with ``store``
  (the bar store the history was read from) both windows are the features materialised
  from the history's snapshot when they exist (``feature_usage`` says so), else computed
  (the same values);
- decision drift: the strategy's target weights over the same two windows;
- performance: the ledger's equity returns against the holdout band;
- data quality: the live window's bars against the training window's calendar and
  volatility (``now`` = the wall clock for staleness; None in a replay);
- tracking error: the ledger's equity against ``backtest`` over the bars the ledger
  processed (what :func:`harness.paper.replay` runs), bar for bar.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import InputError
from harness.monitor._alerts import Alert
from harness.monitor._base import MonitorData
from harness.monitor._config import MonitorConfig
from harness.monitor._deployment import DeploymentMonitor

__all__ = ["LedgerMonitor"]


def _ns(value: Any) -> int | None:
    if value is None:
        return None
    import pandas as pd

    if isinstance(value, (int, np.integer)):
        return int(value)
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value)


class LedgerMonitor:
    """A deployment's monitors over its paper ledger (see the module docstring)."""

    def __init__(self, deployment: str, *, bars, strategy: Any, params: Any = None, config=None,
                 train_start: Any = None, train_end: Any, holdout_returns: Any = None,
                 monitor_config: MonitorConfig | None = None, sinks=None, persist: bool = True,
                 store: Any = None) -> None:
        import strategies
        from harness.engine import BacktestConfig
        from market_data import Bars
        from strategies.inputs import compute_inputs

        if not isinstance(bars, Bars):
            raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
        self.bars = bars
        self.strategy = strategies.get(strategy)
        self.params = params
        self.config = config if config is not None else BacktestConfig()
        self.monitor = DeploymentMonitor(deployment, monitor_config, sinks=sinks, persist=persist)
        ts = np.asarray(bars.timestamps, dtype=np.int64)
        lo = 0 if train_start is None else int(np.searchsorted(ts, _ns(train_start), side="left"))
        hi = int(np.searchsorted(ts, _ns(train_end), side="right"))
        if hi - lo < 2:
            raise InputError(f"the training window {train_start} .. {train_end} holds {hi - lo} bars of the "
                             f"given history ({bars.shape[0]} bars); expected the bars the model was trained on")
        self.ref_rows = slice(lo, hi)
        from strategies.features import use_store

        with use_store(store) as usage:
            self.inputs = compute_inputs(self.strategy, bars, params, store=store)
        self.feature_usage = usage
        self.weights = np.asarray(self.strategy.target_weights(bars, params), dtype=np.float64)
        # the reference arrays are built once: the monitors cache their prepared references by identity
        self._ref_inputs = self.inputs.values[self.ref_rows]
        self._ref_weights = self.weights[self.ref_rows]
        self._ref_times = ts[self.ref_rows]
        self._ref_close = np.asarray(bars.close)[self.ref_rows]
        self.holdout = None if holdout_returns is None else np.asarray(holdout_returns, dtype=np.float64)
        self._bt_key: tuple | None = None
        self._bt_equity: np.ndarray | None = None
        self._done = 0

    def _backtest_equity(self, live_rows: np.ndarray) -> np.ndarray:
        from harness.engine import backtest

        key = (int(live_rows[0]), int(live_rows[-1]), live_rows.size)
        if self._bt_key != key:
            if not np.array_equal(live_rows, np.arange(live_rows[0], live_rows[-1] + 1)):
                raise InputError("the ledger's bars are not consecutive bars of the given history")
            sub = self.bars[int(live_rows[0]): int(live_rows[-1]) + 1]
            self._bt_equity = backtest(sub, self.strategy, self.params, config=self.config).equity.to_numpy()
            self._bt_key = key
        return self._bt_equity

    def data_at(self, ledger_times: np.ndarray, equity: np.ndarray, i: int, *, now: int | None = None) -> MonitorData:
        """The monitors' data at the ``i``-th ledger bar (rows after it are not used)."""
        ts = np.asarray(self.bars.timestamps, dtype=np.int64)
        rows = np.searchsorted(ts, ledger_times)
        if (rows >= ts.size).any() or not np.array_equal(ts[np.minimum(rows, ts.size - 1)], ledger_times):
            raise InputError("the ledger holds bars that are not in the given history; pass bars that cover them")
        cfg = self.monitor.config
        end = int(rows[i]) + 1
        start = max(int(rows[0]), end - cfg.window)
        live = slice(start, end)
        eq = equity[: i + 1]
        live_returns = np.diff(eq) / eq[:-1] if eq.size > 1 else np.zeros(0)
        bt = self._backtest_equity(rows)[: i + 1]
        return MonitorData(
            time=int(ts[end - 1]), input_names=self.inputs.names, symbols=tuple(self.bars.symbols),
            reference_inputs=self._ref_inputs, live_inputs=self.inputs.values[live],
            reference_weights=self._ref_weights, live_weights=self.weights[live],
            holdout_returns=self.holdout, live_returns=live_returns[-max(cfg.window, cfg.perf_window + 50):],
            live_times=ts[live], bars=self.bars[start:end], reference_timestamps=self._ref_times,
            reference_close=self._ref_close, frequency=self.bars.frequency, now=now,
            paper_equity=eq, backtest_equity=bt)

    def run(self, ledger, *, now: Any = None) -> list[Alert]:
        """Step the monitors over every ledger bar not seen yet (on the ``every`` schedule);
        returns the new alerts."""
        eq_series = ledger.equity()
        times = np.asarray(eq_series.index.asi8, dtype=np.int64)
        equity = eq_series.to_numpy(dtype=np.float64)
        out: list[Alert] = []
        now_ns = _ns(now)
        for i in range(self._done, times.size):
            new = self.monitor.step(bar_index=i, time=int(times[i]),
                                    data=lambda i=i: self.data_at(times, equity, i, now=now_ns))
            if new:
                out.extend(new)
        self._done = times.size
        if self.monitor._dirty:
            self.monitor.flush()
        return out
