"""PaperRunner: a deployed champion from the registry, hot swaps keeping positions, shadow runs,
the store feed, locks and the bad-input errors."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from harness import BacktestConfig, backtest
from harness.audit import AuditTrail
from harness.errors import NoChampionError, RunnerBusyError, UnknownDeploymentError
from harness.paper import Ledger, PaperRunner, ReplayFeed, StoreFeed, ledger_path, shadow_record
from harness.registry import Registry

A = ("sma_crossover", {"fast": 5, "slow": 20})
B = ("donchian_breakout", {"entry": 15, "exit": 7})
CFG = BacktestConfig(fee_rate=0.001, size_granularity=1.0)


def _decision():
    return {"outcome": "promote", "checks": [], "reasons": [], "evidence_digest": "e" * 32,
            "time": datetime.now(UTC).isoformat(), "policy": {"mode": "auto", "checks": []}}


def deploy(reg, bars, name="dep", strategy=A, promote=True):
    from harness._bars import home_store

    try:
        reg.deployment(name)
    except UnknownDeploymentError:
        reg.create_deployment(name, mode="auto", baseline="cash", spec=f"[deployment]\nname = '{name}'\n",
                              spec_hash=f"h-{name}", by="alice")
    v = reg.register(name, strategy=strategy[0], params=strategy[1], config=CFG, symbols=list(bars.symbols),
                     frequency="1d", snapshot_id=home_store().resolve(), data_digest=bars.digest(), seed=1)
    if promote:
        reg.promote(name, v.version, decision=reg.record_decision(name, v.version, _decision()))
    return v


@pytest.fixture
def reg(stored_bars):
    return Registry.open()


def test_a_deployed_champion_paper_trades_like_its_backtest(reg, stored_bars):
    deploy(reg, stored_bars)
    k = 200
    runner = PaperRunner("dep", feed=ReplayFeed(stored_bars[k:], history=stored_bars[:k]), registry=reg)
    assert runner.run() == stored_bars.n_bars - k
    w = backtest(stored_bars, *A).weights
    bt = backtest(stored_bars[k:], weights=w[k:], config=CFG)
    led = runner.ledger
    fills = led.fills()
    assert len(fills) == len(bt.orders) > 3
    np.testing.assert_allclose(fills["size"], bt.orders["size"], rtol=1e-9)
    np.testing.assert_allclose(led.equity().to_numpy(), bt.equity.to_numpy(), rtol=1e-9)
    assert led.path == ledger_path("dep")
    kinds = [r["kind"] for r in AuditTrail().records(deployment="dep")]
    assert "paper_started" in kinds and "paper_stopped" in kinds and "ledger_digest" in kinds


def test_champion_swap_at_the_next_bar_keeps_positions_and_equals_spliced_weights(reg, stored_bars):
    deploy(reg, stored_bars)
    k, swap_at = 150, 280
    runner = PaperRunner("dep", feed=ReplayFeed(stored_bars[k:], history=stored_bars[:k]), registry=reg,
                         swap_check_every=0.0)
    seen = []

    def on_bar(res):
        seen.append(res.time)
        if len(seen) == swap_at - k:  # promoted after this bar: the next bar trades v2
            deploy(reg, stored_bars, strategy=B)

    runner.run(on_bar=on_bar)
    wa = backtest(stored_bars, *A).weights
    wb = backtest(stored_bars, *B).weights
    spliced = np.vstack([wa[:swap_at], wb[swap_at:]])
    bt = backtest(stored_bars[k:], weights=spliced[k:], config=CFG)
    led = runner.ledger
    np.testing.assert_allclose(led.equity().to_numpy(), bt.equity.to_numpy(), rtol=1e-9)
    assert len(led.fills()) == len(bt.orders)
    swaps = AuditTrail().records(deployment="dep", kind="paper_swap")
    assert len(swaps) == 1
    p = swaps[0]["payload"]
    assert (p["from_version"], p["to_version"]) == ("1", "2")
    assert p["bar_time"] == int(stored_bars.timestamps[swap_at])
    pos_before = led.positions().iloc[swap_at - k - 1]
    assert p["positions"] == {s: float(u) for s, u in pos_before.items() if u != 0}
    versions = led.orders().groupby("version")["bar_time"].agg(["min", "max"])
    assert versions.loc["1", "max"] < stored_bars.timestamps[swap_at] <= versions.loc["2", "min"]


def test_shadow_runs_the_challenger_into_its_own_ledger_without_broker_orders(reg, stored_bars):
    deploy(reg, stored_bars)
    v2 = deploy(reg, stored_bars, strategy=B, promote=False)
    reg.set_challenger("dep", v2.version)
    k = 200
    runner = PaperRunner("dep", feed=ReplayFeed(stored_bars[k:], history=stored_bars[:k]), registry=reg,
                         shadow=True)
    runner.run()
    broker_ids = {r.client_order_id for r in runner.broker._orders.values()}
    assert all(":v1:" in c for c in broker_ids)  # the challenger never reached the broker
    sh = shadow_record("dep", registry=reg)
    assert sh.n_bars == stored_bars.n_bars - k  # every bar the challenger was challenger
    np.testing.assert_allclose(sh.returns, sh.expected_returns, rtol=1e-9, atol=1e-12)
    assert sh.ledger_digest and (sh.returns != 0).any()


def test_unknown_deployment_and_no_champion_are_clear_errors_that_create_no_ledger(reg, stored_bars):
    with pytest.raises(UnknownDeploymentError):
        PaperRunner("nope", registry=reg)
    deploy(reg, stored_bars, name="fresh", promote=False)
    with pytest.raises(NoChampionError, match="harness deploy"):
        PaperRunner("fresh", registry=reg)
    assert not ledger_path("nope").exists() and not ledger_path("fresh").exists()


def test_a_second_runner_of_the_same_deployment_is_refused(reg, stored_bars):
    deploy(reg, stored_bars)
    one = PaperRunner("dep", feed=ReplayFeed(stored_bars[390:], history=stored_bars[:390]), registry=reg)
    one._acquire()
    try:
        two = PaperRunner("dep", feed=ReplayFeed(stored_bars[390:], history=stored_bars[:390]), registry=reg)
        with pytest.raises(RunnerBusyError, match="already running"):
            two.run()
    finally:
        one._release()


def test_store_feed_yields_each_new_commit_once_in_order_and_reports_gaps(reg, stored_bars, harness_home):
    from harness._bars import home_store
    from market_data import Bars

    # a store holding the first 300 bars; the rest arrive one commit per bar
    store = home_store()
    events = []
    feed = StoreFeed(stored_bars.symbols, frequency="1d", poll_interval=0.01, idle_timeout=5.0, store=store,
                     on_event=lambda *e: events.append(e))
    assert feed.history.n_bars == 400  # everything stored is history: only new bars are traded
    got = []

    def consume():
        for bar in feed:
            got.append(bar.time)
            if len(got) == 3:
                feed.stop()

    th = threading.Thread(target=consume)
    th.start()
    day = 86_400_000_000_000
    last = int(stored_bars.timestamps[-1])
    for i, gap in enumerate((1, 1, 5)):  # the third bar comes after a gap of 4 missing days
        last += gap * day
        one = Bars(timestamps=np.array([last]), symbols=stored_bars.symbols, open=stored_bars.open[-1:],
                   high=stored_bars.high[-1:], low=stored_bars.low[-1:], close=stored_bars.close[-1:],
                   volume=stored_bars.volume[-1:], frequency="1d")
        store.write(one, message=f"bar {i}")
        time.sleep(0.3)
    th.join(timeout=30)
    assert got == sorted(got) and len(got) == len(set(got)) == 3
    assert [e[0] for e in events] == ["gap"]


def test_corrupt_ledger_refuses_to_start_and_stays_unchanged(reg, stored_bars):
    from harness.errors import LedgerError

    deploy(reg, stored_bars)
    p = ledger_path("dep")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"garbage" * 50)
    with pytest.raises(LedgerError, match="damaged"):
        PaperRunner("dep", registry=reg, feed=ReplayFeed(stored_bars[390:]))
    assert p.read_bytes() == b"garbage" * 50


def test_a_ledger_of_another_deployment_is_refused(reg, stored_bars):
    from harness.errors import LedgerMismatchError

    deploy(reg, stored_bars)
    deploy(reg, stored_bars, name="other")
    r = PaperRunner("other", registry=reg, feed=ReplayFeed(stored_bars[395:], history=stored_bars[:395]))
    r.run()
    r.close()
    with pytest.raises(LedgerMismatchError, match="belongs to deployment 'other'"):
        PaperRunner("dep", registry=reg, ledger=ledger_path("other"), feed=ReplayFeed(stored_bars[395:]))
    assert Ledger(ledger_path("other")).n_bars() == 5


def test_store_feed_yields_a_corrected_bar_again_and_the_runner_halts_on_it(reg, stored_bars):
    from harness._bars import home_store
    from harness.paper import HALTED

    deploy(reg, stored_bars)
    store = home_store()
    feed = StoreFeed(stored_bars.symbols, frequency="1d", poll_interval=0.01, idle_timeout=3.0, store=store)
    runner = PaperRunner("dep", feed=feed, registry=reg, swap_check_every=3600)
    day = 86_400_000_000_000
    last = int(stored_bars.timestamps[-1])

    def one(t, close):
        from market_data import Bars

        c = np.full((1, 2), close)
        return Bars(timestamps=np.array([t]), symbols=stored_bars.symbols, open=c, high=c * 1.01, low=c * 0.99,
                    close=c, volume=np.ones((1, 2)), frequency="1d")

    def writer():
        time.sleep(1.0)
        store.write(one(last + day, 100.0), message="new bar")
        time.sleep(1.0)
        store.write(one(last + day, 101.0), message="correction", on_conflict="replace")

    th = threading.Thread(target=writer)
    th.start()
    runner.run()
    th.join()
    assert runner.state == HALTED
    alerts = runner.ledger.alerts()
    assert "corrected bar" in alerts.loc[alerts["kind"] == "bar_correction", "message"].iloc[0]
    assert runner.ledger.n_bars() == 1


def test_requests_queued_before_the_runner_looks_are_all_carried_out_in_order(reg, stored_bars):
    # halt, resume, halt again: each request is kept (none overwrites another) and they act in order
    deploy(reg, stored_bars)
    k = 300
    runner = PaperRunner("dep", feed=ReplayFeed(stored_bars[k:k + 3], history=stored_bars[:k]), registry=reg)
    try:
        led = Ledger(ledger_path("dep"), deployment="dep")  # another process' view of the ledger
        led.push_control({"action": "halt", "by": "dora", "flatten": False})
        led.push_control({"action": "resume", "by": "erin", "flatten": False})
        led.push_control({"action": "halt", "by": "fay", "flatten": False})
        assert [r["by"] for r in led.control()] == ["dora", "erin", "fay"]
        led.close()
        runner.run()
        assert runner.state == "HALTED"
        assert runner.ledger.control() == []
        import json

        ev = runner.ledger.risk_events()
        ev = ev[ev["kind"] == "state"]
        got = [(s, json.loads(d)["by"]) for s, d in zip(ev["state"], ev["detail"], strict=True)]
        assert got == [("HALTED", "dora"), ("ACTIVE", "erin"), ("HALTED", "fay")]
    finally:
        runner.close()


def test_a_halt_requested_just_before_a_stop_is_carried_out(reg, stored_bars):
    # the runner is stopped (SIGTERM, `harness paper stop`) before it polled: the halt still acts at the stop
    deploy(reg, stored_bars)
    k = 300
    runner = PaperRunner("dep", feed=ReplayFeed(stored_bars[k:k + 3], history=stored_bars[:k]), registry=reg)
    try:
        def on_bar(_res):
            led = Ledger(ledger_path("dep"), deployment="dep")
            led.push_control({"action": "halt", "by": "dora", "flatten": False})
            led.close()
            runner.stop()

        assert runner.run(on_bar=on_bar) == 1
        assert runner.state == "HALTED" and runner.ledger.control() == []
    finally:
        runner.close()
