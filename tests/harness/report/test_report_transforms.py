"""Display transforms: checked against the engine's own statistics and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.report._transforms import (
    buy_and_hold,
    downsample,
    drawdown,
    grid_pivot,
    growth,
    monthly_returns,
    relative_gap,
    returns_of,
    rolling_sharpe,
    rolling_volatility,
    top_rows,
    varying_columns,
)
from market_data.frequency import periods_per_year


def _equity(values, start="2020-01-01"):
    idx = pd.date_range(start, periods=len(values), freq="D", tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=idx, name="equity")


def test_drawdown_minimum_is_the_engines_max_drawdown(spx_result):
    dd = drawdown(spx_result.equity, spx_result.config.init_cash)
    assert dd.min() * 100 == pytest.approx(spx_result.stats["Max Drawdown [%]"], rel=1e-12)
    assert (dd <= 0).all()


def test_full_window_rolling_sharpe_and_volatility_equal_the_engines(spx_result):
    ppy = periods_per_year("1d")
    r = returns_of(spx_result.equity, spx_result.config.init_cash)
    n = len(r)
    assert rolling_sharpe(r, n, ppy).iloc[-1] == pytest.approx(spx_result.stats["Sharpe Ratio"], rel=1e-9)
    assert rolling_volatility(r, n, ppy).iloc[-1] * 100 == pytest.approx(
        spx_result.stats["Annual Volatility [%]"], rel=1e-9)


def test_rolling_sharpe_matches_a_hand_computation_on_every_window():
    rng = np.random.default_rng(3)
    r = pd.Series(rng.normal(0.001, 0.01, 300))
    r.iloc[50] = np.nan  # a missing bar is skipped, as the engine skips it
    w = 40
    got = rolling_sharpe(r, w, 252.0)
    assert got.iloc[: w - 1].isna().all()
    for t in range(w - 1, len(r)):
        win = r.iloc[t - w + 1: t + 1].dropna().to_numpy()
        want = win.mean() / win.std(ddof=1) * np.sqrt(252.0)
        assert got.iloc[t] == pytest.approx(want, rel=1e-9), t


def test_monthly_returns_compound_to_the_total_return():
    rng = np.random.default_rng(5)
    eq = _equity(100_000 * np.cumprod(1 + rng.normal(0.0005, 0.01, 800)))
    table = monthly_returns(eq, 100_000.0)
    values = table.to_numpy().ravel()
    values = values[np.isfinite(values)]
    assert np.prod(1 + values) - 1 == pytest.approx(eq.iloc[-1] / 100_000.0 - 1, rel=1e-10)
    jan_2020 = eq[(eq.index.year == 2020) & (eq.index.month == 1)]
    assert table.loc[2020, 1] == pytest.approx(jan_2020.iloc[-1] / 100_000.0 - 1)
    feb_2020 = eq[(eq.index.year == 2020) & (eq.index.month == 2)]
    assert table.loc[2020, 2] == pytest.approx(feb_2020.iloc[-1] / jan_2020.iloc[-1] - 1)


def test_monthly_returns_need_a_time_index():
    with pytest.raises(InputError, match="indexed by time"):
        monthly_returns(pd.Series([1.0, 2.0]), 1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=3000),
       st.integers(4, 500))
def test_downsample_keeps_order_extremes_and_the_ends(values, max_points):
    s = pd.Series(values, index=pd.RangeIndex(len(values)))
    shown, cut = downsample(s, max_points)
    if len(values) <= max_points:
        assert not cut and shown is s
        return
    assert cut
    assert len(shown) <= max_points + 2
    assert shown.index.is_monotonic_increasing and shown.index.is_unique
    assert shown.max() == s.max() and shown.min() == s.min()
    assert shown.index[0] == 0 and shown.index[-1] == len(values) - 1
    assert (shown.to_numpy() == s.loc[shown.index].to_numpy()).all()


def test_downsample_rejects_too_few_points():
    with pytest.raises(InputError, match="max_points"):
        downsample(pd.Series([1.0] * 10), 3)


def test_buy_and_hold_holds_equal_shares_bought_at_each_first_price():
    idx = pd.date_range("2021-01-01", periods=4, freq="D", tz="UTC")
    close = pd.DataFrame({"A": [10.0, 11.0, 12.0, np.nan], "B": [np.nan, 20.0, 10.0, 30.0]}, index=idx)
    eq = buy_and_hold(close, 1000.0)
    # A: 50 units from day 0 (last price carried over the gap); B: 25 units bought at 20 on day 1
    assert eq.tolist() == [500.0 + 500.0, 550.0 + 500.0, 600.0 + 250.0, 600.0 + 750.0]


def test_rolling_window_must_be_an_integer_of_two_or_more():
    with pytest.raises(InputError, match="rolling window"):
        rolling_sharpe(pd.Series([0.1, 0.2, 0.3]), 1, 252.0)


def test_relative_gap_is_paper_over_backtest_minus_one_on_the_shared_bars():
    paper = _equity([100.0, 103.0, 99.0, 110.0])
    backtest = _equity([100.0, 100.0, 0.0, 100.0, 120.0], start="2020-01-02")  # one bar later, one more
    gap = relative_gap(paper, backtest)
    assert list(gap.index) == list(paper.index[1:])
    np.testing.assert_allclose(gap.to_numpy(), [0.03, -0.01, np.nan], equal_nan=True)
    assert relative_gap(paper, paper).abs().max() == 0.0


# ----------------------------------------------------------------------------- sweep and retrain pages
def _table():
    return pd.DataFrame({"fast": [5, 5, 10, 10, 15], "slow": [20, 40, 20, 40, 40], "long_short": [True] * 5,
                         "sharpe": [0.5, np.nan, 1.2, 1.2, -0.3]})


def test_top_rows_sorts_by_the_metric_with_nan_last_and_ties_in_table_order():
    top = top_rows(_table(), "sharpe", 4)
    assert top.index.tolist() == [2, 3, 0, 4]
    assert top_rows(_table(), "sharpe", 5, ascending=True).index.tolist() == [4, 0, 2, 3, 1]
    assert len(top_rows(_table(), "sharpe", 100)) == 5


def test_top_rows_refuses_an_unknown_column_or_a_bad_count():
    with pytest.raises(InputError, match="'calmar' is not in the table"):
        top_rows(_table(), "calmar", 3)
    with pytest.raises(InputError, match="positive integer"):
        top_rows(_table(), "sharpe", 0)


def test_varying_columns_are_the_grid_axes():
    assert varying_columns(_table(), ["fast", "slow", "long_short", "missing"]) == ["fast", "slow"]


def test_grid_pivot_places_each_value_at_its_pair_and_leaves_missing_pairs_nan():
    z = grid_pivot(_table(), "fast", "slow", "sharpe")
    assert z.index.tolist() == [20, 40] and z.columns.tolist() == [5, 10, 15]
    assert z.loc[20, 5] == 0.5 and z.loc[40, 10] == 1.2 and z.loc[40, 15] == -0.3
    assert np.isnan(z.loc[20, 15]) and np.isnan(z.loc[40, 5])  # absent, and a NaN metric


def test_grid_pivot_refuses_a_grid_with_more_than_two_varying_columns():
    t = pd.concat([_table(), _table().assign(long_short=False)], ignore_index=True)
    with pytest.raises(InputError, match="more than once"):
        grid_pivot(t, "fast", "slow", "sharpe")


def test_growth_compounds_returns_and_treats_nan_as_flat():
    g = growth(np.array([0.1, np.nan, -0.5, 1.0]))
    assert g == pytest.approx([1.1, 1.1, 0.55, 1.1])
    assert growth(np.array([])).size == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=60))
def test_growth_is_the_inverse_of_returns_of(rs):
    eq = 100.0 * growth(np.array(rs))
    assert eq[-1] / 100.0 - 1.0 == pytest.approx(float(np.prod(1.0 + np.array(rs)) - 1.0), rel=1e-9, abs=1e-12)
    assert returns_of(pd.Series(eq), 100.0).to_numpy() == pytest.approx(rs, abs=1e-9)
