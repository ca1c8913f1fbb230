"""``Ledger.equity_rows`` and ``Ledger.latest_bar_time``: the reads a monitor polls with."""

from __future__ import annotations

import numpy as np

from harness.paper import Ledger, replay
from market_data.synthetic import Regime, regime_switching


def test_equity_rows_after_a_time_returns_only_the_later_bars(tmp_path, harness_home):
    bars, _ = regime_switching(300, regimes=(Regime(vol=0.01),), schedule=[(0, 0)], seed=1)
    res = replay(bars, "sma_crossover", {"fast": 5, "slow": 20}, ledger_dir=tmp_path)
    led = Ledger(res.ledger_path)
    eq = led.equity()
    times, equity = led.equity_rows()
    assert times.dtype == np.int64 and np.array_equal(times, eq.index.asi8)
    assert np.array_equal(equity, eq.to_numpy())
    t, e = led.equity_rows(after=int(times[99]))
    assert np.array_equal(t, times[100:]) and np.array_equal(e, equity[100:])
    t, e = led.equity_rows(after=int(times[99]) + 1)  # between two bars
    assert np.array_equal(t, times[100:])
    t, e = led.equity_rows(after=int(times[-1]))
    assert t.size == e.size == 0 and t.dtype == np.int64
    assert led.latest_bar_time() == int(times[-1])


def test_the_sole_writer_knows_its_latest_bar_without_a_query(tmp_path, harness_home):
    bars, _ = regime_switching(120, regimes=(Regime(vol=0.01),), schedule=[(0, 0)], seed=2)
    empty = Ledger.create(tmp_path / "e.db", deployment="e", symbols=bars.symbols, init_cash=1.0)
    assert empty.latest_bar_time() is None
    empty.sole_writer = True
    assert empty.latest_bar_time() is None
    res = replay(bars, "sma_crossover", {"fast": 5, "slow": 20}, ledger_dir=tmp_path)
    writer = res.ledger  # the object that committed every bar
    reader = Ledger(res.ledger_path)
    writer.sole_writer = True
    assert writer.latest_bar_time() == reader.latest_bar_time() == int(bars.timestamps[-1])
    reopened = Ledger(res.ledger_path)  # what a restarted runner loads
    reopened.sole_writer = True
    assert reopened.latest_bar_time() == int(bars.timestamps[-1])


def test_an_all_in_buy_with_fees_leaves_the_ledger_equal_to_the_backtest_bit_for_bit(tmp_path, harness_home):
    """The engine books a buy capped by the cash as exactly that cash; size * price + fees misses
    it by an ulp, which the tracking-error monitor (tolerance 0) would report."""
    from harness import BacktestConfig, backtest

    bars, _ = regime_switching(600, regimes=(Regime(vol=0.01),), schedule=[(0, 0)], seed=3)
    cfg = BacktestConfig(fee_rate=0.0005)
    p = {"fast": 5, "slow": 20, "long_short": False}
    res = replay(bars, "sma_crossover", p, config=cfg, ledger_dir=tmp_path)
    bt = backtest(bars, "sma_crossover", p, config=cfg)
    assert (bt.cash.to_numpy() == 0.0).any()  # the case: all the cash spent
    np.testing.assert_array_equal(res.ledger.equity().to_numpy(), bt.equity.to_numpy())
    np.testing.assert_array_equal(res.ledger.cash().to_numpy(), bt.cash.to_numpy())


def test_settle_cash_takes_the_venues_cash_only_within_rounding(tmp_path, harness_home):
    led = Ledger.create(tmp_path / "s.db", deployment="s", symbols=("A",), init_cash=100_000.0)
    led.book_cash = -1.4551915228366852e-11
    led.settle_cash(0.0, notional=100_000.0)
    assert led.book_cash == 0.0
    led.book_cash = 5.0
    led.settle_cash(0.0, notional=100_000.0)  # five units of cash are not rounding
    assert led.book_cash == 5.0
