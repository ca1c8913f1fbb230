"""Restarts: applied bars are skipped, corrections and late bars halt, reconciliation fails closed,
bad ledgers are clear errors that change nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness import BacktestConfig, backtest
from harness.errors import LedgerError, LedgerMismatchError
from harness.paper import HALTED, Ledger, SimBroker, replay
from harness.paper.testing import _bar
from market_data import Bars

from ._paper_data import assert_parity, random_bars

PARAMS = {"fast": 3, "slow": 10}


def _first_half(tmp_path, bars, k=60, cfg=BacktestConfig()):
    pr = replay(bars[:k], "sma_crossover", PARAMS, config=cfg, ledger_dir=tmp_path)
    counts = {"orders": len(pr.all_orders), "fills": len(pr.orders), "path": pr.ledger_path}
    pr.ledger.close()
    return counts


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_a_restart_skips_applied_bars_and_continues_like_one_run(tmp_path, fill):
    bars = random_bars(11, T=120, N=2)
    cfg = BacktestConfig(fill=fill, stop_loss=0.05, fee_rate=0.001)
    _first_half(tmp_path, bars, cfg=cfg)
    pr = replay(bars, "sma_crossover", PARAMS, config=cfg, ledger_dir=tmp_path, resume=True)
    assert_parity(pr, backtest(bars, "sma_crossover", PARAMS, config=cfg))
    assert pr.ledger.state()["risk_state"] == "ACTIVE"


def _with_close(bars: Bars, row: int, factor: float) -> Bars:
    close = bars.close.copy()
    close[row] *= factor
    return dataclasses.replace(bars, close=close, high=np.fmax(bars.high, close), low=np.fmin(bars.low, close),
                               _digest=[])


def test_a_corrected_bar_at_or_before_the_last_processed_one_halts_with_an_alert(tmp_path):
    bars = random_bars(12, T=100, N=2, missing=0)
    first = _first_half(tmp_path, bars)
    n_orders = first["orders"]
    pr = replay(_with_close(bars, 30, 1.01), "sma_crossover", PARAMS, ledger_dir=tmp_path, resume=True)
    assert pr.ledger.state()["risk_state"] == HALTED
    alerts = pr.ledger.alerts()
    assert list(alerts["kind"]) == ["bar_correction"] and "corrected bar" in alerts["message"].iloc[0]
    assert len(pr.all_orders) == n_orders  # nothing traded after it
    assert pr.ledger.n_bars() == 100  # later bars are still booked (valued), never traded


def test_a_late_bar_halts(tmp_path):
    bars = random_bars(13, T=80, N=1, missing=0)
    _first_half(tmp_path, bars, k=40)
    ts = bars.timestamps.copy()
    late = Bars(timestamps=np.array([ts[20] + 3_600_000_000_000]), symbols=bars.symbols, open=bars.open[20:21],
                high=bars.high[20:21], low=bars.low[20:21], close=bars.close[20:21], volume=bars.volume[20:21],
                frequency="1d")
    from market_data.bars import Bars as B

    merged = B(timestamps=np.concatenate([ts[:21], late.timestamps, ts[21:]]), symbols=bars.symbols,
               **{f: np.concatenate([getattr(bars, f)[:21], getattr(late, f), getattr(bars, f)[21:]])
                  for f in ("open", "high", "low", "close", "volume")}, frequency="1d")
    pr = replay(merged, "sma_crossover", PARAMS, ledger_dir=tmp_path, resume=True)
    assert pr.ledger.state()["risk_state"] == HALTED
    assert "late bar" in pr.ledger.alerts()["message"].iloc[0]


def test_reconciliation_halts_with_a_written_report_when_the_broker_disagrees(tmp_path):
    bars = random_bars(14, T=100, N=2, missing=0)
    first = _first_half(tmp_path, bars)
    before = Ledger(first["path"]).digest()
    # someone trades on the broker's book behind the runner's back
    sim = SimBroker(bars.symbols, path=tmp_path / "replay.broker.db")
    from harness.paper import Order

    sim.submit(Order(client_order_id="manual-1", symbol="S0", leg="target", bar_time=0, target_weight=0.9))
    sim.on_bar(_bar(int(bars.timestamps[59]) + 1, bars.symbols, 100.0))
    sim.close()
    pr = replay(bars, "sma_crossover", PARAMS, ledger_dir=tmp_path, resume=True)
    led = pr.ledger
    assert led.state()["risk_state"] == HALTED
    reports = list(tmp_path.glob("replay.reconcile-*.txt"))
    assert len(reports) == 1
    text = reports[0].read_text()
    assert "manual-1" in text or "position S0" in text
    assert "position S0" in text
    ev = led.risk_events()
    assert "reconciliation" in ev.loc[ev["kind"] == "state", "reason"].iloc[0]
    # nothing was "fixed": the orders and fills before the restart are untouched, nothing new traded
    assert len(pr.all_orders[pr.all_orders["bar_time"] > bars.timestamps[59]]) == 0
    assert led.digest() != before  # later bars are booked (equity), but...
    assert len(led.fills()) == first["fills"]


def test_a_corrupt_ledger_is_a_clear_error_and_stays_as_it_was(tmp_path):
    path = tmp_path / "dep.db"
    path.write_bytes(b"this is not sqlite" * 100)
    raw = path.read_bytes()
    with pytest.raises(LedgerError, match="dep.db.*damaged or not a ledger"):
        Ledger(path)
    with pytest.raises(LedgerError):
        Ledger.create(path, deployment="dep", symbols=["A"], init_cash=1.0)
    assert path.read_bytes() == raw


def test_a_sqlite_file_that_is_not_a_ledger_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "dep.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE x (a)")
    with pytest.raises(LedgerError, match="not a paper ledger: table"):
        Ledger(path)


def test_a_ledger_of_another_deployment_is_refused_unchanged(tmp_path):
    bars = random_bars(15, T=40, N=1)
    pr = replay(bars, "sma_crossover", PARAMS, ledger_dir=tmp_path, deployment="alpha")
    pr.ledger.close()
    digest = Ledger(pr.ledger_path).digest()
    with pytest.raises(LedgerMismatchError, match="belongs to deployment 'alpha', not 'beta'"):
        Ledger(pr.ledger_path, deployment="beta")
    with pytest.raises(LedgerMismatchError, match="trades symbols"):
        Ledger.create(pr.ledger_path, deployment="alpha", symbols=["OTHER"], init_cash=1.0)
    assert Ledger(pr.ledger_path).digest() == digest


def test_missing_ledger_is_a_clear_error(tmp_path):
    with pytest.raises(LedgerError, match="no paper ledger at"):
        Ledger(tmp_path / "nothing.db")


def test_ledger_digest_is_audited_each_trading_day(tmp_path):
    records = []
    bars = random_bars(16, T=30, N=1)
    pr = replay(bars, "sma_crossover", PARAMS, ledger_dir=tmp_path, audit=lambda k, p: records.append((k, p)))
    digests = [p for k, p in records if k == "ledger_digest"]
    assert len(digests) == 30  # daily bars: one per day
    assert digests[-1]["digest"] == pr.ledger.digest()
    assert len({d["digest"] for d in digests}) == 30


def _reads(path) -> bool:
    """Whether a fresh connection (no waiting) can read the file."""
    import sqlite3

    con = sqlite3.connect(path, timeout=0)
    try:
        con.execute("SELECT COUNT(*) FROM bars").fetchone()
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        con.close()


def test_an_exclusive_ledger_holds_its_locks_for_the_block_only(tmp_path):
    led = Ledger.create(tmp_path / "dep.db", deployment="dep", symbols=["A"], init_cash=1.0)
    with led.exclusive() as held:
        assert held
        led.record(runner={"note": "inside"})
        assert not _reads(led.path), "no other connection while the locks are held"
    assert _reads(led.path), "shared again after the block"
    assert Ledger(led.path).state()["note"] == "inside"
    # another connection open: the block runs with per-transaction locks, at once, and writes
    other = Ledger(led.path)
    with led.exclusive() as held:
        assert not held
        led.record(runner={"note": "shared"})
        assert _reads(led.path)
    assert Ledger(led.path).state()["note"] == "shared"
    assert other.digest() == led.digest()


def test_sim_broker_exclusive_book_refuses_a_second_opener_clearly(tmp_path):
    from harness.errors import RunnerBusyError

    one = SimBroker(("AAA",), path=tmp_path / "b.db", exclusive=True)
    with pytest.raises(RunnerBusyError, match="b.db is open in another connection"):
        SimBroker(("AAA",), path=tmp_path / "b.db", exclusive=True)
    one.close()
    SimBroker(("AAA",), path=tmp_path / "b.db", exclusive=True).close()  # the lock went with close()
