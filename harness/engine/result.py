"""``BacktestResult``: the outputs of one backtest, as pandas objects, plus plot and vectorbt export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.engine._stats import stats_from_arrays
from harness.engine.enums import EXIT_REASON_NAMES

if TYPE_CHECKING:
    from harness.engine.config import BacktestConfig
    from market_data import Bars

__all__ = ["BacktestResult"]

_SIDES = np.array(["buy", "sell"], dtype=object)
_REASONS = np.array(EXIT_REASON_NAMES, dtype=object)


def _utc(ns: np.int64) -> pd.Timestamp:
    """The element ``index[i]`` of :attr:`BacktestResult.index` for the time ``ns``."""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """What :func:`harness.backtest` returns.

    Attributes (all indexed by bar time, UTC): ``equity`` and ``cash`` (``pd.Series``),
    ``positions`` (units held at each close, one column per symbol), ``orders`` (one row
    per fill), ``trades`` (one row per round trip), ``stats`` (``pd.Series``, computed on
    first access), ``lineage`` (data snapshot id and digest, strategy, params, config,
    code version). The raw kernel outputs stay available as ``equity_values``,
    ``order_records`` and ``trade_records`` (``enums.order_dt``/``trade_dt``);
    ``cash_values`` and ``position_values`` (what ``cash`` and ``positions`` show) are
    produced on first access by running the same deterministic simulation again with
    those outputs kept, so a backtest that only needs its stats never writes or
    allocates the per-bar cash and ``(T x N)`` position arrays.
    """

    bars: Bars = field(repr=False)
    config: BacktestConfig
    weights: np.ndarray = field(repr=False)
    equity_values: np.ndarray = field(repr=False)
    order_records: np.ndarray = field(repr=False)
    trade_records: np.ndarray = field(repr=False)
    lineage_fields: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _cached(self, key: str, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        def make() -> tuple[np.ndarray, np.ndarray]:
            from harness.engine.api import _simulate

            again = _simulate(self.bars, self.weights, self.config, keep_state=True)
            # the kernel is deterministic: the rerun must reproduce this run exactly
            if not (np.array_equal(again["equity_values"], self.equity_values, equal_nan=True)
                    and np.array_equal(again["order_records"], self.order_records)):
                raise RuntimeError("re-running the simulation for cash/positions did not reproduce the "
                                   "backtest; please report this")
            cash, pos = again["cash_values"], again["position_values"]
            cash.flags.writeable = False
            pos.flags.writeable = False
            return cash, pos
        return self._cached("state", make)

    @property
    def cash_values(self) -> np.ndarray:
        """Cash at each close, ``(T,)`` (computed on first access)."""
        return self._state()[0]

    @property
    def position_values(self) -> np.ndarray:
        """Units held at each close, ``(T, N)`` (computed on first access)."""
        return self._state()[1]

    @property
    def lineage(self) -> dict[str, Any]:
        """Data snapshot id and content digest, strategy, params, config, code version,
        ``dirty`` (uncommitted source changes) and ``env_digest`` (see :mod:`harness._lineage`).

        The data digest (a hash of every bar) is computed on first access, not in the
        hot path of ``backtest()``; ``Bars`` caches it (and the process the other two).
        """
        def make() -> dict[str, Any]:
            from harness._lineage import env_digest, source_dirty

            lin = dict(self.lineage_fields)
            lin.setdefault("data_digest", self.bars.digest())
            lin.setdefault("dirty", source_dirty())
            lin.setdefault("env_digest", env_digest())
            return lin
        return self._cached("lineage", make)

    @property
    def run_id(self) -> str | None:
        """The MLflow run of this backtest (``backtest(..., track=True)``), else None."""
        return self._cache.get("run_id")

    @property
    def index(self) -> pd.DatetimeIndex:
        return self._cached("index", lambda: pd.DatetimeIndex(
            self.bars.timestamps.view("datetime64[ns]"), name="timestamp").tz_localize("UTC"))

    @property
    def equity(self) -> pd.Series:
        return self._cached("equity", lambda: pd.Series(self.equity_values, index=self.index, name="equity"))

    @property
    def cash(self) -> pd.Series:
        return self._cached("cash", lambda: pd.Series(self.cash_values, index=self.index, name="cash"))

    @property
    def positions(self) -> pd.DataFrame:
        return self._cached("positions", lambda: pd.DataFrame(
            self.position_values, index=self.index, columns=list(self.bars.symbols)))

    @property
    def orders(self) -> pd.DataFrame:
        def make() -> pd.DataFrame:
            r = self.order_records
            syms = np.asarray(self.bars.symbols, dtype=object)
            return pd.DataFrame({
                "time": self.index[r["idx"]],
                "symbol": syms[r["col"]] if r.size else np.empty(0, dtype=object),
                "side": _SIDES[r["side"]],
                "size": r["size"],
                "price": r["price"],
                "fees": r["fees"],
                "reason": _REASONS[r["reason"]],
                "idx": r["idx"],
            })
        return self._cached("orders", make)

    @property
    def trades(self) -> pd.DataFrame:
        def make() -> pd.DataFrame:
            r = self.trade_records
            syms = np.asarray(self.bars.symbols, dtype=object)
            idx = self.index
            return pd.DataFrame({
                "symbol": syms[r["col"]] if r.size else np.empty(0, dtype=object),
                "direction": np.where(r["direction"] == 0, "long", "short").astype(object),
                "size": r["size"],
                "entry_time": idx[r["entry_idx"]],
                "entry_price": r["entry_price"],
                "exit_time": idx[r["exit_idx"]],
                "exit_price": r["exit_price"],
                "pnl": r["pnl"],
                "return": r["return"],
                "fees": r["entry_fees"] + r["exit_fees"],
                "entry_fees": r["entry_fees"],
                "exit_fees": r["exit_fees"],
                "duration": idx[r["exit_idx"]] - idx[r["entry_idx"]],
                "exit_reason": _REASONS[r["exit_reason"]],
                "status": np.where(r["status"] == 1, "closed", "open").astype(object),
                "entry_idx": r["entry_idx"],
                "exit_idx": r["exit_idx"],
            })
        return self._cached("trades", make)

    @property
    def stats(self) -> pd.Series:
        def make() -> pd.Series:
            ts = self.bars.timestamps
            T = ts.shape[0]
            if "equity" in self._cache:  # already indexed: the same Timestamps
                start, end = (self.index[0], self.index[-1]) if T else (None, None)
            else:
                start, end = (_utc(ts[0]), _utc(ts[-1])) if T else (None, None)
            eq = np.ascontiguousarray(self.equity_values, dtype=np.float64)
            return stats_from_arrays(eq, start, end, self.trade_records, self.order_records, self.bars.frequency,
                                     init_cash=self.config.init_cash)
        return self._cached("stats", make)

    def __repr__(self) -> str:
        s = self.stats
        return (f"BacktestResult({self.bars.n_bars} bars x {self.bars.n_symbols} symbols, "
                f"total return {s['Total Return [%]']:.2f}%, sharpe {s['Sharpe Ratio']:.2f}, "
                f"{s['Number of Trades']} trades, strategy={self.lineage.get('strategy')!r})")

    # ----------------------------------------------------------------- export
    def plot(self):
        """A plotly figure: equity with trade entries/exits, and drawdown below it."""
        from plotly.subplots import make_subplots

        eq = self.equity
        dd = eq / np.maximum.accumulate(np.maximum(eq.to_numpy(), self.config.init_cash)) - 1
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.03)
        fig.add_scatter(x=eq.index, y=eq.to_numpy(), name="equity", row=1, col=1)
        tr = self.trades
        if len(tr):
            fig.add_scatter(x=tr["entry_time"], y=eq.reindex(tr["entry_time"]).to_numpy(), mode="markers",
                            name="entry", marker={"symbol": "triangle-up", "color": "green", "size": 8},
                            text=tr["symbol"] + " " + tr["direction"], row=1, col=1)
            closed = tr[tr["status"] == "closed"]
            fig.add_scatter(x=closed["exit_time"], y=eq.reindex(closed["exit_time"]).to_numpy(), mode="markers",
                            name="exit", marker={"symbol": "triangle-down", "color": "red", "size": 8},
                            text=closed["symbol"] + " " + closed["exit_reason"], row=1, col=1)
        fig.add_scatter(x=eq.index, y=np.asarray(dd) * 100, name="drawdown [%]", fill="tozeroy", row=2, col=1)
        fig.update_layout(title=f"backtest: {self.lineage.get('strategy') or 'weights'}", height=600)
        return fig

    def to_vectorbt(self):
        """The equivalent ``vectorbt.Portfolio``, built from our fills (one cash-sharing group).

        Its ``value()`` equals :attr:`equity` and its orders are ours (prices include
        slippage, fees are the fees paid), so vectorbt's analytics apply to this run.
        """
        import vectorbt as vbt
        from vectorbt.base.array_wrapper import ArrayWrapper
        from vectorbt.portfolio.enums import order_dt as vbt_order_dt

        from market_data.frequency import frequency_ns

        r = self.order_records
        rec = np.empty(r.size, dtype=vbt_order_dt)
        for name in ("id", "col", "idx", "size", "price", "fees", "side"):
            rec[name] = r[name]
        order = np.lexsort((rec["id"], rec["col"]))  # vectorbt wants records grouped by column
        rec = rec[order]
        index = self.index.tz_localize(None)
        wrapper = ArrayWrapper(index=index, columns=pd.Index(list(self.bars.symbols)), ndim=2,
                               freq=pd.Timedelta(frequency_ns(self.bars.frequency), unit="ns"), group_by=True)
        close = pd.DataFrame(self.bars.close, index=index, columns=list(self.bars.symbols))
        n = self.bars.n_symbols
        call_seq = np.tile(np.arange(n, dtype=np.int64), (self.bars.n_bars, 1))
        log = np.empty(0, dtype=vbt.portfolio.enums.log_dt)
        return vbt.Portfolio(wrapper, close, rec, log, init_cash=self.config.init_cash, cash_sharing=True,
                             call_seq=call_seq)
