"""Backtest statistics as one pure function of (equity, trades, orders, frequency).

The path-based numbers (returns, volatility, Sharpe, drawdown...) come from the same
Numba reductions that sweeps and validation call (:mod:`harness.engine.nb`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.engine import nb
from market_data.frequency import periods_per_year

__all__ = ["compute_stats"]


def compute_stats(equity: pd.Series, trades: pd.DataFrame, orders: pd.DataFrame, frequency: str,
                  *, init_cash: float) -> pd.Series:
    """The statistics of one backtest as a ``pd.Series`` (percent fields are in percent).

    ``trades`` is a DataFrame with the columns ``entry_idx``, ``exit_idx``, ``pnl``,
    ``return`` and ``status`` (``"closed"``/``"open"``) or ``trade_dt`` records;
    ``orders`` a DataFrame or ``order_dt`` records with ``size``, ``price`` and ``fees``.
    Trade statistics count closed trades; ``Exposure Time`` counts the bars at
    whose close any position was held. Annualisation uses
    :func:`market_data.frequency.periods_per_year` of ``frequency``.
    """
    eq = np.ascontiguousarray(equity.to_numpy(dtype=np.float64))
    T = eq.size
    return stats_from_arrays(eq, equity.index[0] if T else None, equity.index[-1] if T else None, trades, orders,
                             frequency, init_cash=init_cash)


def stats_from_arrays(eq: np.ndarray, start: Any, end: Any, trades: Any, orders: Any, frequency: str,
                      *, init_cash: float) -> pd.Series:
    """:func:`compute_stats` on the equity values ``eq`` (1-D float64, C-contiguous), with
    ``start``/``end`` the first and last bar times (None when there are no bars): builds no
    pandas objects but the result, so ``BacktestResult.stats`` need not index the equity."""
    ppy = periods_per_year(frequency)
    T = eq.size
    m = np.full(len(_METRICS), np.nan)
    if T:
        nb.metrics_nb(eq, float(init_cash), ppy, m)
    n_trades = len(trades)
    if isinstance(trades, np.ndarray):  # trade_dt records
        is_open = trades["status"] == 0
    else:
        is_open = trades["status"].to_numpy() == "open" if n_trades else np.zeros(0, dtype=bool)
    closed = ~is_open
    pnl = _col(trades, "pnl")[closed] if n_trades else np.empty(0)
    ret = _col(trades, "return")[closed] if n_trades else np.empty(0)
    exposed_bars = 0
    if n_trades and T:
        # a position is held at the close of bars entry_idx .. exit_idx - 1 (to the end if open)
        exit_idx = np.where(is_open, T, _col(trades, "exit_idx")).astype(np.int64)
        entry_idx = _col(trades, "entry_idx").astype(np.int64)
        if n_trades > 1 and (entry_idx[1:] < entry_idx[:-1]).any():  # several symbols: sort by entry
            order = np.argsort(entry_idx, kind="stable")
            entry_idx, exit_idx = entry_idx[order], exit_idx[order]
        exposed_bars = int(nb.exposure_bars_sorted_nb(entry_idx, exit_idx))
    gains = pnl[pnl > 0].sum()
    losses = -pnl[pnl < 0].sum()
    notional = float((_col(orders, "size") * _col(orders, "price")).sum()) if len(orders) else 0.0
    mean_eq = float(eq.mean()) if T else math.nan
    out = {
        "Start": start if T else None,
        "End": end if T else None,
        "Bars": T,
        "Start Value": float(init_cash),
        "End Value": float(eq[-1]) if T else float(init_cash),
        "Total Return [%]": m[0] * 100,
        "CAGR [%]": m[1] * 100,
        "Annual Volatility [%]": m[2] * 100,
        "Sharpe Ratio": m[3],
        "Sortino Ratio": m[4],
        "Calmar Ratio": m[5],
        "Max Drawdown [%]": m[6] * 100,
        "Max Drawdown Duration [bars]": int(m[7]) if T else 0,
        "Exposure Time [%]": exposed_bars / T * 100 if T else 0.0,
        "Number of Trades": int(closed.sum()),
        "Open Trades": int(is_open.sum()),
        "Win Rate [%]": float((pnl > 0).mean() * 100) if pnl.size else math.nan,
        "Best Trade [%]": float(ret.max() * 100) if ret.size else math.nan,
        "Worst Trade [%]": float(ret.min() * 100) if ret.size else math.nan,
        "Avg Trade [%]": float(ret.mean() * 100) if ret.size else math.nan,
        "Profit Factor": float(gains / losses) if losses > 0 else (math.inf if gains > 0 else math.nan),
        "Expectancy": float(pnl.mean()) if pnl.size else math.nan,
        "SQN": float(math.sqrt(pnl.size) * pnl.mean() / pnl.std(ddof=1)) if pnl.size > 1 and pnl.std(ddof=1) > 0 else math.nan,
        "Turnover [x]": notional / mean_eq if T and mean_eq else math.nan,
        "Total Fees": float(_col(orders, "fees").sum()) if len(orders) else 0.0,
    }
    global _INDEX
    keys = tuple(out)
    if _INDEX is None or _INDEX[0] != keys:
        _INDEX = (keys, pd.Index(list(keys)))  # as pd.Series(dict) builds it; immutable, so shared
    return pd.Series(list(out.values()), index=_INDEX[1], name="stats", dtype=object)


_INDEX: tuple[tuple[str, ...], pd.Index] | None = None


def _col(table, name: str) -> np.ndarray:
    return table[name] if isinstance(table, np.ndarray) else table[name].to_numpy()


_METRICS = ("total_return", "cagr", "ann_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
            "max_drawdown_duration")
