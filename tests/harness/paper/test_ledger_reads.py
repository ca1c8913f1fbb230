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
