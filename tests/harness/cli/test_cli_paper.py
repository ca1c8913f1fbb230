"""harness paper run|status|orders|halt|resume|parity|stop and harness feed replay, end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness import BacktestConfig


@pytest.fixture
def deployed(stored_bars):
    from datetime import UTC, datetime

    from harness._bars import home_store
    from harness.registry import Registry

    reg = Registry.open()
    reg.create_deployment("dep", mode="auto", baseline="cash", spec="[deployment]\nname = 'dep'\n", spec_hash="h",
                          by="alice")
    v = reg.register("dep", strategy="sma_crossover", params={"fast": 5, "slow": 20},
                     config=BacktestConfig(fee_rate=0.001), symbols=list(stored_bars.symbols), frequency="1d",
                     snapshot_id=home_store().resolve(), data_digest=stored_bars.digest())
    d = {"outcome": "promote", "checks": [], "reasons": [], "evidence_digest": "e" * 32,
         "time": datetime.now(UTC).isoformat(), "policy": {"mode": "auto", "checks": []}}
    reg.promote("dep", v.version, decision=reg.record_decision("dep", v.version, d))
    return stored_bars


def _day(bars, i):
    return str(pd.Timestamp(int(bars.timestamps[i]), unit="ns").date())


def test_paper_run_replay_status_orders_and_parity(run_cli, deployed):
    bars = deployed
    r = run_cli("paper", "run", "dep", "--feed", "replay", "--start", _day(bars, 300), "--end", _day(bars, 399),
                "--quiet")
    assert r.returncode == 0, r.stderr
    assert "100 bar(s) applied" in r.stdout and "state ACTIVE" in r.stdout
    s = json.loads(run_cli("paper", "status", "dep", "--json", check=True).stdout)
    assert s["state"] == "ACTIVE" and s["bars"] == 100 and s["version"] == "1" and s["running_pid"] is None
    assert s["last_bar"].startswith(_day(bars, 399))
    assert s["monitor"] == {"evaluations": 0, "last_evaluated": None, "open": {}, "alerts": 0, "last_alerts": []}
    assert "monitor      never evaluated" in run_cli("paper", "status", "dep", check=True).stdout
    # the monitors' alerts show in paper status: a tracking error between the ledger and its backtest
    from harness.monitor import DeploymentMonitor, MonitorConfig, MonitorData

    eq = np.linspace(1e5, 1.1e5, 50)
    times = np.asarray(bars.timestamps[350:400], dtype=np.int64)
    mon = DeploymentMonitor("dep", MonitorConfig(monitors=["tracking_error"], audit=False, mlflow=False, log=False))
    mon.evaluate(MonitorData(time=int(times[-1]), paper_equity=eq * (1 + 1e-6), backtest_equity=eq,
                             live_times=times), bar_index=99)
    s = json.loads(run_cli("paper", "status", "dep", "--json", check=True).stdout)["monitor"]
    assert s["evaluations"] == 1 and s["alerts"] == 1 and s["last_evaluated"].startswith(_day(bars, 399))
    assert s["last_alerts"][0]["monitor"] == "tracking_error" and s["last_alerts"][0]["severity"] == "alert"
    assert list(s["open"]) == ["tracking_error.equity"] and s["open"]["tracking_error.equity"]["since_bar"] == 99
    text = run_cli("paper", "status", "dep", check=True).stdout
    assert "1 evaluation(s)" in text and "1 alert(s)" in text and "open       tracking_error.equity alert" in text
    assert "alert      " + _day(bars, 399) in text
    orders = json.loads(run_cli("paper", "orders", "dep", "--json", check=True).stdout)
    assert orders and all(o["client_order_id"].startswith("dep:v1:") and o["state"] for o in orders)
    again = run_cli("paper", "run", "dep", "--feed", "replay", "--start", _day(bars, 300), "--end",
                    _day(bars, 399), "--quiet")
    assert again.returncode == 0 and "0 bar(s) applied" in again.stdout  # a restart skips applied bars
    p = run_cli("paper", "parity", "dep", "--start", _day(bars, 250), "--end", _day(bars, 399))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PARITY: equal" in p.stdout


def test_halt_needs_by_and_resume_re_enables(run_cli, deployed):
    bars = deployed
    run_cli("paper", "run", "dep", "--feed", "replay", "--start", _day(bars, 380), "--end", _day(bars, 399),
            "--quiet", check=True)
    bad = run_cli("paper", "halt", "dep")
    assert bad.returncode == 2 and "--by" in bad.stderr
    h = run_cli("paper", "halt", "dep", "--by", "carol", "--flatten")
    assert h.returncode == 0, h.stderr
    assert "HALTED by carol" in h.stdout
    assert json.loads(run_cli("paper", "status", "dep", "--json").stdout)["state"] == "HALTED"
    r = run_cli("paper", "resume", "dep", "--by", "carol", check=True)
    assert "ACTIVE" in r.stdout
    from harness.audit import AuditTrail

    states = [x["payload"]["state"] for x in AuditTrail().records(deployment="dep", kind="risk_state")]
    assert states[-2:] == ["HALTED", "ACTIVE"]


def test_paper_commands_on_unknown_deployments_fail_in_one_line(run_cli, stored_bars):
    r = run_cli("paper", "status", "nope")
    assert r.returncode != 0 and "no paper ledger" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("paper", "run", "nope", "--feed", "replay", "--start", "2020-01-01", "--end", "2020-02-01")
    assert r.returncode == 2 and "UnknownDeploymentError" in r.stderr


def test_feed_replay_appends_one_commit_per_bar_from_a_csv(run_cli, stored_bars, tmp_path):
    from harness._bars import home_store

    day = 86_400_000_000_000
    ts = pd.to_datetime(int(stored_bars.timestamps[-1]) + day * np.arange(1, 6), unit="ns")
    rows = []
    for sym in ("AAA", "BBB"):
        for t in ts:
            rows.append({"timestamp": t, "symbol": sym, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5,
                         "volume": 100.0})
    csv = tmp_path / "new.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    before = len(home_store().history())
    r = run_cli("feed", "replay", "--symbols", "AAA,BBB", "--start", str(ts[0].date()), "--end", str(ts[-1].date()),
                "--csv", str(csv))
    assert r.returncode == 0, r.stderr
    assert "appended 5 bar(s)" in r.stdout
    assert len(home_store().history()) == before + 5
    bad = run_cli("feed", "replay", "--symbols", "AAA", "--start", "2020-01-01", "--end", "2020-01-02")
    assert bad.returncode == 2 and "exactly one of --source-snapshot or --csv" in bad.stderr


def test_store_feed_run_is_locked_and_stops_cleanly_on_paper_stop(run_cli, deployed, harness_home):
    import os
    import subprocess
    import sys
    import time

    from harness.paper._runner import runner_pid

    env = {**os.environ, "HARNESS_HOME": str(harness_home)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "paper", "run", "dep", "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while runner_pid("dep") is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert runner_pid("dep") == proc.pid
        second = run_cli("paper", "run", "dep", "--quiet")
        assert second.returncode == 1 and "already running" in second.stderr
        halt = run_cli("paper", "halt", "dep", "--by", "dora")
        assert halt.returncode == 0 and "requested from the running runner" in halt.stdout
        stop = run_cli("paper", "stop", "dep")
        assert stop.returncode == 0, stop.stderr
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "0 bar(s) applied" in out and "state HALTED" in out  # the halt request was carried out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert runner_pid("dep") is None
    assert run_cli("paper", "stop", "dep").returncode == 2


def test_feed_replay_from_a_snapshot_of_another_store(run_cli, tmp_path, harness_home):
    from harness._bars import home_store
    from market_data import BarStore, samples

    src = BarStore.open(tmp_path / "src", create=True)
    snap = src.write(samples.load("SPX").between("2018-01-01", "2018-01-31"), message="source")
    r = run_cli("feed", "replay", "--symbols", "SPX", "--start", "2018-01-02", "--end", "2018-01-12",
                "--source-snapshot", snap, "--source-store", str(tmp_path / "src"))
    assert r.returncode == 0, r.stderr
    n = int(r.stdout.split("appended ")[1].split(" ")[0])
    want = samples.load("SPX").between("2018-01-02", "2018-01-12")
    assert n == want.n_bars == 9 and len(home_store().history()) >= n
    got = home_store().read("SPX")
    assert got.n_bars == n and np.array_equal(got.close, want.close)
