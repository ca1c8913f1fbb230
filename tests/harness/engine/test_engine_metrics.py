"""Metric kernels against independent references (NumPy formulas and vectorbt's returns accessor)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.engine import BacktestConfig, backtest, compute_stats, nb
from harness.engine.enums import METRIC_NAMES

from ._engine_data import random_bars, random_weights

returns_arrays = arrays(np.float64, st.integers(3, 60), elements=st.floats(-0.2, 0.2, allow_nan=False))


def _reference(eq, init, ppy):
    r = np.diff(np.concatenate([[init], eq])) / np.concatenate([[init], eq[:-1]])
    peak = np.maximum.accumulate(np.concatenate([[init], eq]))[1:]
    dd = eq / peak - 1
    with np.errstate(over="ignore"):
        cagr = (eq[-1] / init) ** (ppy / eq.size) - 1
    sd = r.std(ddof=1)
    down = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    return {
        "total_return": eq[-1] / init - 1,
        "cagr": cagr,
        "ann_volatility": sd * np.sqrt(ppy),
        "sharpe": r.mean() / sd * np.sqrt(ppy) if sd > 1e-12 else np.nan,  # else ill-conditioned
        "sortino": r.mean() / down * np.sqrt(ppy) if down > 1e-12 else np.nan,
        "max_drawdown": min(dd.min(), 0.0),
        "calmar": cagr / abs(dd.min()) if dd.min() < 0 else np.nan,
    }


@settings(max_examples=60, deadline=None)
@given(r=returns_arrays, ppy=st.sampled_from([252.0, 52.0, 98_280.0]))
def test_metrics_nb_match_numpy_formulas(r, ppy):
    init = 1_000.0
    eq = init * np.cumprod(1 + r)
    out = np.empty(len(METRIC_NAMES))
    nb.metrics_nb(eq, init, ppy, out)
    got = dict(zip(METRIC_NAMES, out, strict=True))
    ref = _reference(eq, init, ppy)
    for k, v in ref.items():
        if not np.isnan(v):
            assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_max_drawdown_duration_counts_bars_under_water():
    eq = np.array([100, 110, 100, 90, 95, 111, 105, 104.0])
    mdd, dur = nb.max_drawdown_nb(eq, 100.0)
    assert mdd == pytest.approx(90 / 110 - 1)
    assert dur == 3  # bars 2, 3, 4 below the peak of 110


def test_metrics_agree_with_vectorbt_returns_accessor():
    import vectorbt  # noqa: F401  (a declared dependency; registers the .vbt accessor)
    rng = np.random.default_rng(5)
    r = pd.Series(rng.normal(0.0005, 0.01, 500), index=pd.date_range("2020-01-01", periods=500, freq="D"))
    init = 10_000.0
    eq = init * np.cumprod(1 + r.to_numpy())
    acc = r.vbt.returns(freq="1D", year_freq="252D")
    out = np.empty(len(METRIC_NAMES))
    nb.metrics_nb(eq, init, 252.0, out)
    got = dict(zip(METRIC_NAMES, out, strict=True))
    assert got["sharpe"] == pytest.approx(acc.sharpe_ratio(), rel=1e-9)
    assert got["sortino"] == pytest.approx(acc.sortino_ratio(), rel=1e-9)
    assert got["ann_volatility"] == pytest.approx(acc.annualized_volatility(), rel=1e-9)
    assert got["max_drawdown"] == pytest.approx(acc.max_drawdown(), rel=1e-9)
    assert got["cagr"] == pytest.approx(acc.annualized(), rel=1e-9)
    assert got["calmar"] == pytest.approx(acc.calmar_ratio(), rel=1e-9)


def test_stats_table_has_the_promised_fields_and_consistent_trade_numbers():
    bars = random_bars(11, T=200, N=2)
    res = backtest(bars, weights=random_weights(11, *bars.shape),
                   config=BacktestConfig(fee_rate=0.001, stop_loss=0.02))
    s = res.stats
    for key in ("Total Return [%]", "CAGR [%]", "Annual Volatility [%]", "Sharpe Ratio", "Sortino Ratio",
                "Calmar Ratio", "Max Drawdown [%]", "Max Drawdown Duration [bars]", "Exposure Time [%]",
                "Number of Trades", "Win Rate [%]", "Best Trade [%]", "Worst Trade [%]", "Avg Trade [%]",
                "Profit Factor", "Expectancy", "SQN", "Turnover [x]", "Total Fees"):
        assert key in s.index, key
    closed = res.trades[res.trades["status"] == "closed"]
    assert s["Number of Trades"] == len(closed)
    assert s["Total Fees"] == pytest.approx(res.orders["fees"].sum())
    assert s["Expectancy"] == pytest.approx(closed["pnl"].mean())
    # realised + open pnl adds up to the change in equity
    assert res.trades["pnl"].sum() == pytest.approx(res.equity.iloc[-1] - 100_000, rel=1e-9)
    held = (res.positions.to_numpy() != 0).any(axis=1).mean() * 100
    assert s["Exposure Time [%]"] == pytest.approx(held)
    again = compute_stats(res.equity, res.trades, res.orders, "1d", init_cash=100_000)
    pd.testing.assert_series_equal(again, s)


def test_annualisation_follows_the_bar_frequency():
    daily = random_bars(1, T=100, N=1, frequency="1d")
    hourly = random_bars(1, T=100, N=1, frequency="1h")
    w = np.full((100, 1), 0.5)
    a = backtest(daily, weights=w).stats
    b = backtest(hourly, weights=w).stats
    assert b["Sharpe Ratio"] / a["Sharpe Ratio"] == pytest.approx(np.sqrt(1638 / 252))
