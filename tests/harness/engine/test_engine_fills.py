"""Hand-computed fills: timing, stops, costs, sizing, leverage, rebalancing."""

from __future__ import annotations

import numpy as np
import pytest

from harness.engine import BacktestConfig, backtest
from market_data.errors import InputError

from ._engine_data import make_bars


def test_decision_at_close_fills_at_next_open_by_default():
    bars = make_bars([10, 11, 12, 13], close=[10.5, 11.5, 12.5, 13.5])
    res = backtest(bars, weights=[1.0, np.nan, np.nan, 0.0])
    o = res.orders
    assert list(o["idx"]) == [1]  # the exit decided on the last bar has no bar to fill in
    assert o["price"].iloc[0] == 11.0
    assert res.positions.iloc[0, 0] == 0.0
    assert res.positions.iloc[1, 0] == pytest.approx(100_000 / 11)


def test_fill_close_executes_at_the_close_of_the_decision_bar():
    bars = make_bars([10, 11, 12, 13], close=[10.5, 11.5, 12.5, 13.5])
    res = backtest(bars, weights=[1.0, np.nan, 0.0, np.nan], config=BacktestConfig(fill="close"))
    assert list(res.orders["idx"]) == [0, 2]
    assert list(res.orders["price"]) == [10.5, 12.5]
    assert res.equity.iloc[-1] == pytest.approx(100_000 / 10.5 * 12.5)


def test_constant_target_does_not_churn():
    bars = make_bars(np.linspace(10, 20, 50))
    res = backtest(bars, weights=np.full(50, 0.5))
    assert len(res.orders) == 1


def test_rebalance_every_restores_the_target_weight():
    prices = np.linspace(10, 20, 30)
    bars = make_bars(prices)
    res = backtest(bars, weights=np.full(30, 0.5), config=BacktestConfig(rebalance_every=10))
    # orders at the open after decisions 0 (entry), 10 and 20 (rebalances)
    assert list(res.orders["idx"]) == [1, 11, 21]
    t = 21
    assert res.positions.iloc[t, 0] * prices[t] == pytest.approx(0.5 * res.equity.iloc[t])


def test_fees_slippage_and_fixed_fee_are_charged_against_the_trader():
    bars = make_bars([100.0, 100.0, 110.0, 110.0])
    cfg = BacktestConfig(fee_rate=0.001, fixed_fee=1.0, slippage_bps=10, init_cash=10_000)
    res = backtest(bars, weights=[0.5, np.nan, 0.0, np.nan], config=cfg)
    buy, sell = res.orders.iloc[0], res.orders.iloc[1]
    assert buy["price"] == pytest.approx(100.0 * 1.001)
    size = 0.5 * 10_000 / 100.0
    assert buy["size"] == pytest.approx(size)
    assert buy["fees"] == pytest.approx(size * 100.1 * 0.001 + 1.0)
    assert sell["price"] == pytest.approx(110.0 * 0.999)
    expected_cash = 10_000 - size * 100.1 * 1.001 - 1.0 + size * 109.89 * 0.999 - 1.0
    assert res.equity.iloc[-1] == pytest.approx(expected_cash, rel=1e-12)
    trade = res.trades.iloc[0]
    assert trade["pnl"] == pytest.approx(expected_cash - 10_000, rel=1e-12)
    assert trade["fees"] == pytest.approx(buy["fees"] + sell["fees"])


def test_whole_units_round_orders_down():
    bars = make_bars([30.0, 30.0, 30.0])
    res = backtest(bars, weights=[1.0, np.nan, np.nan],
                   config=BacktestConfig(size_granularity=1, init_cash=1_000))
    assert res.orders["size"].iloc[0] == 33.0
    assert res.cash.iloc[-1] == pytest.approx(10.0)


def test_buy_never_spends_cash_that_is_not_there():
    bars = make_bars([50.0, 50.0, 50.0])
    res = backtest(bars, weights=[1.0, np.nan, np.nan], config=BacktestConfig(fee_rate=0.01, init_cash=1_000))
    assert res.cash.min() >= 0.0
    assert res.orders["size"].iloc[0] * 50 * 1.01 == pytest.approx(1_000)


def test_sells_run_before_buys_so_a_rotation_funds_itself():
    o = np.array([[10.0, 20.0]] * 4)
    bars = make_bars(o)
    w = np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 1.0], [np.nan, np.nan]])
    res = backtest(bars, weights=w, config=BacktestConfig(fee_rate=0.001))
    rot = res.orders[res.orders["idx"] == 3]
    assert list(rot["side"]) == ["sell", "buy"]
    assert res.positions.iloc[3, 1] > 0.99 * res.equity.iloc[3] / 20


def test_leverage_caps_gross_exposure_by_scaling_targets():
    bars = make_bars(np.array([[10.0, 10.0]] * 3))
    w = np.array([[1.0, 1.0], [np.nan, np.nan], [np.nan, np.nan]])
    res = backtest(bars, weights=w)  # gross 2 > leverage 1: both scaled to 0.5
    assert res.positions.iloc[1].to_numpy() == pytest.approx([5_000.0, 5_000.0])
    lev = backtest(bars, weights=w, config=BacktestConfig(leverage=2.0))
    assert lev.positions.iloc[1].to_numpy() == pytest.approx([10_000.0, 10_000.0])
    assert lev.cash.iloc[1] == pytest.approx(-100_000.0)


def test_allow_short_false_clips_negative_targets():
    bars = make_bars([10.0, 9.0, 8.0])
    res = backtest(bars, weights=[-1.0, np.nan, np.nan], config=BacktestConfig(allow_short=False))
    assert len(res.orders) == 0
    short = backtest(bars, weights=[-1.0, np.nan, np.nan])
    assert short.positions.iloc[-1, 0] == pytest.approx(-100_000 / 9.0)  # sold short at the open of bar 1


def test_order_waits_for_a_bar_with_a_price():
    bars = make_bars([10.0, np.nan, 12.0, 12.0], close=[10.0, np.nan, 12.0, 12.0])
    res = backtest(bars, weights=[1.0, np.nan, np.nan, np.nan])
    assert list(res.orders["idx"]) == [2]
    assert res.equity.iloc[1] == 100_000.0


# ------------------------------------------------------------------ stops
def test_stop_loss_fills_at_the_stop_level_intrabar():
    bars = make_bars([100, 100, 99, 99], high=[100, 101, 100, 99], low=[100, 99, 94, 99],
                     close=[100, 100, 96, 99])
    res = backtest(bars, weights=[1.0, np.nan, np.nan, np.nan], config=BacktestConfig(stop_loss=0.05))
    ex = res.orders.iloc[1]
    assert (ex["idx"], ex["price"], ex["reason"]) == (2, 95.0, "stop_loss")
    assert res.trades["exit_reason"].iloc[0] == "stop_loss"
    assert res.equity.iloc[-1] == pytest.approx(95_000.0)


def test_stop_loss_fills_at_open_when_bar_gaps_through_stop():
    bars = make_bars([100, 100, 90, 90], high=[100, 100, 91, 90], low=[100, 99, 88, 90],
                     close=[100, 100, 90, 90])
    res = backtest(bars, weights=[1.0, np.nan, np.nan, np.nan], config=BacktestConfig(stop_loss=0.05))
    ex = res.orders.iloc[1]
    assert (ex["idx"], ex["price"], ex["reason"]) == (2, 90.0, "stop_loss")


def test_stop_is_assumed_first_when_stop_and_target_touch_in_one_bar():
    bars = make_bars([100, 100, 100, 100], high=[100, 100, 111, 100], low=[100, 100, 94, 100])
    res = backtest(bars, weights=[1.0, np.nan, np.nan, np.nan],
                   config=BacktestConfig(stop_loss=0.05, take_profit=0.10))
    assert res.orders["reason"].iloc[1] == "stop_loss"
    assert res.orders["price"].iloc[1] == 95.0


def test_take_profit_fills_at_target_or_better_open():
    bars = make_bars([100, 100, 105, 115], high=[100, 100, 111, 116], low=[100, 100, 104, 114])
    res = backtest(bars, weights=[1.0, np.nan, np.nan, np.nan], config=BacktestConfig(take_profit=0.10))
    assert (res.orders["idx"].iloc[1], res.orders["price"].iloc[1]) == (2, pytest.approx(110.0))
    gap = make_bars([100, 100, 115, 115], high=[100, 100, 116, 116], low=[100, 100, 114, 114])
    res = backtest(gap, weights=[1.0, np.nan, np.nan, np.nan], config=BacktestConfig(take_profit=0.10))
    assert res.orders["price"].iloc[1] == 115.0
    assert res.orders["reason"].iloc[1] == "take_profit"


def test_trailing_stop_follows_the_highest_high_since_entry():
    bars = make_bars([100, 100, 110, 118, 112], high=[100, 100, 120, 119, 113], low=[100, 100, 109, 117, 107],
                     close=[100, 100, 115, 118, 110])
    res = backtest(bars, weights=[1.0] + [np.nan] * 4, config=BacktestConfig(trailing_stop=0.10))
    ex = res.orders.iloc[1]
    assert (ex["idx"], ex["price"], ex["reason"]) == (4, pytest.approx(108.0), "trailing_stop")


def test_short_stop_loss_triggers_on_the_high():
    bars = make_bars([100, 100, 101, 101], high=[100, 100, 106, 101], low=[100, 100, 100, 101])
    res = backtest(bars, weights=[-0.5, np.nan, np.nan, np.nan], config=BacktestConfig(stop_loss=0.05))
    ex = res.orders.iloc[1]
    assert (ex["side"], ex["price"], ex["reason"]) == ("buy", pytest.approx(105.0), "stop_loss")
    assert res.trades["pnl"].iloc[0] == pytest.approx(-500 * 5.0)


def test_stopped_out_symbol_stays_flat_until_its_target_changes():
    bars = make_bars([100, 100, 100, 100, 100, 100], low=[100, 100, 90, 100, 100, 100])
    w = [1.0, np.nan, np.nan, np.nan, 0.5, np.nan]
    res = backtest(bars, weights=w, config=BacktestConfig(stop_loss=0.05))
    assert list(res.orders["idx"]) == [1, 2, 5]
    assert res.positions.iloc[3, 0] == 0.0


# ------------------------------------------------------------------ inputs
def test_weights_of_the_wrong_shape_are_refused():
    bars = make_bars([1.0, 2.0])
    with pytest.raises(InputError, match=r"shape \(3,\).*\(2, 1\)"):
        backtest(bars, weights=[1.0, 1.0, 1.0])


def test_infinite_weight_is_refused_naming_symbol_and_row():
    bars = make_bars([1.0, 2.0])
    with pytest.raises(InputError, match=r"'S0' at row 1"):
        backtest(bars, weights=[0.0, np.inf])


def test_exactly_one_of_strategy_and_weights():
    bars = make_bars([1.0, 2.0])
    with pytest.raises(InputError, match="exactly one"):
        backtest(bars)
