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

:meth:`LedgerMonitor.run` is called after every bar (``harness watch`` does), so its cost
per call does not grow with the ledger: it reads only the ledger rows after the last one
it read (:meth:`harness.paper.Ledger.equity_rows`), and only when the schedule can be due
at the ledger's newest bar; it maps only those rows to history rows, and an evaluation
slices the last ``[monitor] window`` bars. The backtest behind the
tracking error is run over a horizon that doubles as the ledger outgrows it (a backtest
of bars ``a..c`` starts with the backtest of ``a..b``: strategies are point-in-time, and
each extension checks that the overlap is unchanged, else the backtest is rerun over
exactly the ledger's bars at every evaluation, as before). The tracking-error monitor
itself still compares every common bar (one vectorised pass per evaluation).
"""

from __future__ import annotations

from collections.abc import Callable
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
    """A deployment's monitors over its paper ledger (see the module docstring).

    ``warm_start``: the runner decided each bar on the whole given history before it (what
    ``harness watch`` and ``harness paper run`` do), so the tracking backtest trades the
    weights computed on all of ``bars``; False (default): it started cold at the ledger's
    first bar (a :func:`harness.paper.replay` of a slice), so the backtest runs the strategy
    on the ledger's bars alone. ``weights_of(version) -> (T, N)`` (implies ``warm_start``):
    the weights of another version over ``bars``, for the ledger's bars that version traded
    before a swap to ``version`` (this monitor's strategy and params).
    """

    def __init__(self, deployment: str, *, bars, strategy: Any, params: Any = None, config=None,
                 train_start: Any = None, train_end: Any, holdout_returns: Any = None,
                 monitor_config: MonitorConfig | None = None, sinks=None, persist: bool = True,
                 store: Any = None, warm_start: bool = False, version: str | None = None,
                 weights_of: Callable[[str], np.ndarray] | None = None) -> None:
        import strategies
        from harness.engine import BacktestConfig

        self.strategy = strategies.get(strategy)
        self.params = params
        self.warm_start = bool(warm_start or weights_of is not None)
        self.version = None if version is None else str(version)
        self._weights_of = weights_of
        self._version_weights: dict[str, np.ndarray] = {}
        self.config = config if config is not None else BacktestConfig()
        self.monitor = DeploymentMonitor(deployment, monitor_config, sinks=sinks, persist=persist)
        self._train = (train_start, train_end)
        self._store = store
        self.holdout = None if holdout_returns is None else np.asarray(holdout_returns, dtype=np.float64)
        self._set_bars(bars)
        # the ledger rows read so far: times, equity and their history rows, in growable buffers
        self._n = 0
        self._times = np.zeros(0, dtype=np.int64)
        self._equity = np.zeros(0, dtype=np.float64)
        self._rows = np.zeros(0, dtype=np.int64)
        self._versions: list[str] = []  # the version that traded each row (read only with weights_of)
        self._consecutive = True
        self._done = 0

    def _set_bars(self, bars) -> None:
        from market_data import Bars
        from strategies.features import use_store
        from strategies.inputs import compute_inputs

        if not isinstance(bars, Bars):
            raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
        train_start, train_end = self._train
        ts = np.asarray(bars.timestamps, dtype=np.int64)
        lo = 0 if train_start is None else int(np.searchsorted(ts, _ns(train_start), side="left"))
        hi = int(np.searchsorted(ts, _ns(train_end), side="right"))
        if hi - lo < 2:
            raise InputError(f"the training window {train_start} .. {train_end} holds {hi - lo} bars of the "
                             f"given history ({bars.shape[0]} bars); expected the bars the model was trained on")
        self.bars = bars
        self._ts = ts
        self.ref_rows = slice(lo, hi)
        with use_store(self._store) as usage:
            self.inputs = compute_inputs(self.strategy, bars, self.params, store=self._store)
        self.feature_usage = usage
        self.weights = np.asarray(self.strategy.target_weights(bars, self.params), dtype=np.float64)
        # the reference arrays are built once: the monitors cache their prepared references by identity
        self._ref_inputs = self.inputs.values[self.ref_rows]
        self._ref_weights = self.weights[self.ref_rows]
        self._ref_times = ts[self.ref_rows]
        self._ref_close = np.asarray(bars.close)[self.ref_rows]
        self._bt_start: int | None = None
        self._bt_equity: np.ndarray | None = None
        self._bt_exact = False
        self._version_weights = {}  # other versions' weights, over this history

    def extend(self, bars) -> None:
        """Continue on a longer history (``harness watch`` reloads its bars each poll): ``bars``
        must start with the bars given so far, unchanged; the ledger rows read stay valid."""
        from market_data import Bars

        if bars is self.bars:
            return
        if not isinstance(bars, Bars):
            raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
        old = self._ts
        new = np.asarray(bars.timestamps, dtype=np.int64)
        if (new.size < old.size or not np.array_equal(new[:old.size], old)
                or tuple(bars.symbols) != tuple(self.bars.symbols)
                or not np.array_equal(np.asarray(bars.close)[:old.size], np.asarray(self.bars.close), equal_nan=True)):
            raise InputError("the new history does not start with the bars the monitors were given "
                             "(same symbols, times and closes); create a new LedgerMonitor for it")
        ref = self._ref_inputs
        self._set_bars(bars)
        if ref.shape == self._ref_inputs.shape and np.array_equal(ref, self._ref_inputs, equal_nan=True):
            self._ref_inputs = ref  # same values: keep the identity the monitors' prepared references use

    # ledger rows -------------------------------------------------------------
    def _read(self, ledger) -> None:
        after = int(self._times[self._n - 1]) if self._n else None
        times, equity = ledger.equity_rows(after=after)
        if not times.size:
            return
        ts = self._ts
        n = self._n
        if times.size == 1 and n and self._consecutive and n < self._rows.size:
            # the common case (one new bar, the next history row): no search, no new arrays
            r = int(self._rows[n - 1]) + 1
            if r < ts.size and ts[r] == times[0]:
                self._times[n], self._equity[n], self._rows[n] = times[0], equity[0], r
                self._n = n + 1
                self._read_versions(ledger)
                return
        rows = np.searchsorted(ts, times)
        if (rows >= ts.size).any() or not np.array_equal(ts[np.minimum(rows, ts.size - 1)], times):
            raise InputError("the ledger holds bars that are not in the given history; pass bars that cover them")
        prev = int(self._rows[self._n - 1]) if self._n else int(rows[0]) - 1
        if self._consecutive and (int(rows[0]) != prev + 1 or (rows.size > 1 and not (np.diff(rows) == 1).all())):
            self._consecutive = False
        self._times = _append(self._times, self._n, times)
        self._equity = _append(self._equity, self._n, equity)
        self._rows = _append(self._rows, self._n, rows)
        self._n += times.size
        self._read_versions(ledger)

    def _read_versions(self, ledger) -> None:
        if self._weights_of is None or len(self._versions) >= self._n:
            return
        after = int(self._times[len(self._versions) - 1]) if self._versions else None
        times, versions = ledger.version_rows(after=after)
        self._versions.extend(versions[: self._n - len(self._versions)])

    def _weights(self, first: int, size: int) -> np.ndarray:
        """The target weights the runner traded on history rows ``first .. first + size - 1``: each
        ledger bar's by the version that traded it (``weights_of``), later rows by this one's."""
        w = self.weights[first: first + size]
        if self._weights_of is None or not self._versions:
            return w
        vers = np.asarray(self._versions[: min(self._n, size)], dtype=object)
        others = sorted(set(vers.tolist()) - {self.version})
        if not others:
            return w
        w = w.copy()
        for v in others:
            if v not in self._version_weights:
                self._version_weights[v] = np.asarray(self._weights_of(v), dtype=np.float64)
            k = np.flatnonzero(vers == v)
            w[k] = self._version_weights[v][first + k]
        return w

    def _backtest_equity(self, first: int, need: int, consecutive: bool) -> np.ndarray:
        """The backtest's equity from history row ``first``, at least ``need`` bars of it."""
        from harness.engine import backtest

        if not consecutive:
            raise InputError("the ledger's bars are not consecutive bars of the given history")
        have = self._bt_equity
        if (have is not None and self._bt_start == first and have.size >= need
                and (not self._bt_exact or have.size == need)):
            return have
        avail = self._ts.size - first
        if self._bt_exact:
            size = need
        else:
            size = min(avail, max(need, 2 * (have.size if have is not None and self._bt_start == first else 0), 256))
        def run(n: int) -> np.ndarray:
            sub = self.bars[first: first + n]
            if self.warm_start:  # decided on the whole history before each bar, as the live runner decides
                return backtest(sub, weights=self._weights(first, n), config=self.config).equity.to_numpy()
            return backtest(sub, self.strategy, self.params, config=self.config).equity.to_numpy()

        eq = run(size)
        if (not self._bt_exact and have is not None and self._bt_start == first
                and not np.array_equal(eq[:have.size], have, equal_nan=True)):
            # the backtest of a longer span changed earlier bars: not point-in-time; rerun exactly
            self._bt_exact = True
            eq = run(need)
        self._bt_start, self._bt_equity = first, eq
        return eq

    # evaluation --------------------------------------------------------------
    def _build(self, rows: np.ndarray, equity: np.ndarray, i: int, now: int | None,
               consecutive: bool) -> MonitorData:
        ts = self._ts
        cfg = self.monitor.config
        end = int(rows[i]) + 1
        start = max(int(rows[0]), end - cfg.window)
        live = slice(start, end)
        eq = equity[: i + 1]
        n_ret = max(cfg.window, cfg.perf_window + 50)
        tail = eq[max(0, i - n_ret):]
        live_returns = np.diff(tail) / tail[:-1] if tail.size > 1 else np.zeros(0)
        bt = self._backtest_equity(int(rows[0]), i + 1, consecutive)[: i + 1]
        return MonitorData(
            time=int(ts[end - 1]), input_names=self.inputs.names, symbols=tuple(self.bars.symbols),
            reference_inputs=self._ref_inputs, live_inputs=self.inputs.values[live],
            reference_weights=self._ref_weights, live_weights=self.weights[live],
            holdout_returns=self.holdout, live_returns=live_returns,
            live_times=ts[live], bars=self.bars[start:end], reference_timestamps=self._ref_times,
            reference_close=self._ref_close, frequency=self.bars.frequency, now=now,
            paper_equity=eq, backtest_equity=bt)

    def data_at(self, ledger_times: np.ndarray, equity: np.ndarray, i: int, *, now: int | None = None) -> MonitorData:
        """The monitors' data at the ``i``-th of the given ledger bars (rows after it are not used)."""
        ts = self._ts
        ledger_times = np.asarray(ledger_times, dtype=np.int64)
        rows = np.searchsorted(ts, ledger_times)
        if (rows >= ts.size).any() or not np.array_equal(ts[np.minimum(rows, ts.size - 1)], ledger_times):
            raise InputError("the ledger holds bars that are not in the given history; pass bars that cover them")
        consecutive = bool(np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size))) if rows.size else True
        return self._build(rows, np.asarray(equity, dtype=np.float64), i, _ns(now), consecutive)

    def run(self, ledger, *, now: Any = None) -> list[Alert]:
        """Step the monitors over every ledger bar not seen yet (on the ``every`` schedule);
        returns the new alerts. Reads only the ledger rows it has not read before, and only
        when one of them can be due (:meth:`harness.paper.Ledger.latest_bar_time` tells, from
        memory for the runner's own ledger): between evaluations a call costs a comparison."""
        last = ledger.latest_bar_time()
        if last is None or (self._n and last <= self._times[self._n - 1]) or not self.monitor.schedule.may_be_due(last):
            return []
        self._read(ledger)
        n = self._n
        times, equity, rows = self._times[:n], self._equity[:n], self._rows[:n]
        if self._done == 0 and self.monitor.last_time is not None:
            # the deployment's monitors evaluated up to there already (a restart, a new champion)
            self._done = int(np.searchsorted(times, self.monitor.last_time, side="right"))
        out: list[Alert] = []
        now_ns = _ns(now)
        for i in range(self._done, n):
            new = self.monitor.step(bar_index=i, time=int(times[i]),
                                    data=lambda i=i: self._build(rows, equity, i, now_ns, self._consecutive))
            if new:
                out.extend(new)
        self._done = n
        if self.monitor._dirty:
            self.monitor.flush()
        return out


def _append(buf: np.ndarray, n: int, new: np.ndarray) -> np.ndarray:
    """``buf[:n]`` followed by ``new``, in ``buf`` when it has room, else in one twice as large."""
    need = n + new.size
    if need > buf.size:
        grown = np.empty(max(need, 2 * buf.size, 1024), dtype=buf.dtype)
        grown[:n] = buf[:n]
        buf = grown
    buf[n:need] = new
    return buf
