"""harness watch end to end on synthetic data with planted volatility regime changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from harness.errors import InputError

SPEC = """
[deployment]
name = "loop"
mode = "{mode}"
baseline = "cash"
[data]
symbols = ["SYN0"]
[strategy]
name = "sma_crossover"
params = {{ long_short = false }}
search_space = {{ fast = [3, 30], slow = [35, 120] }}
[cv]
scheme = "walk-forward"
train = 200
test = 100
[optimize]
trials = 4
seed = 5
[costs]
fee_rate = 0.0005
[regime]
detector = "bocpd"
[regime.trigger]
min_duration = 5
cooldown = 300
[gate]
checks = []
[retrain]
window = "trailing:500"
holdout = 100
top_k = 1
warm_start_champion = false
"""

CHANGES = (900, 1300, 1700)  # planted regime changes (bars)
N_BARS = 2000
DEPLOY_AT = 800  # bars in the store when the deployment is made


def _market():
    from market_data.synthetic import Regime, regime_switching

    regimes = [Regime(vol=0.004, name="calm"), Regime(vol=0.012, name="normal"), Regime(vol=0.03, name="stressed")]
    return regime_switching(N_BARS, 1, regimes=regimes, schedule=[(0, 0), (900, 2), (1300, 0), (1700, 2)],
                            seed=7, symbols=["SYN0"])


def _setup(tmp_path, mode="auto", extra_retrain="", rest=True):
    from harness._bars import home_store
    from harness.retrain._flow import deploy

    bars, truth = _market()
    assert list(truth.change_points) == list(CHANGES)
    store = home_store(create=True)
    store.write(bars[:DEPLOY_AT], message="history")
    spec = tmp_path / "loop.toml"
    spec.write_text(SPEC.format(mode=mode) + extra_retrain)
    with pytest.warns(Warning):  # the empty gate policy warns loudly
        deploy(spec, by="alice")
    if rest:
        store.write(bars[DEPLOY_AT:], message="the rest, as a feed would append it")
    return bars, spec


def _records(kind=None):
    from harness import audit

    return [r for r in audit.trail().records(deployment="loop") if kind is None or r["kind"] == kind]


def _watch_cli(until, *args, env=None):
    return subprocess.run([sys.executable, "-m", "harness", "watch", "loop", "--until", until, *args],
                          capture_output=True, text=True, timeout=1200, env={**os.environ, **(env or {})})


def _ledger_tables():
    from harness.paper import Ledger
    from harness.paper._ledger import ledger_path

    led = Ledger(ledger_path("loop"))
    try:
        return {t: sorted(led.table_rows(t)) for t in ("orders", "fills", "position_history", "bars", "positions")}
    finally:
        led.close()


def _story():
    """The loop's audit story without the per-process records (starts, stops, resumed children)."""
    out = []
    for r in _records():
        p = r["payload"]
        if r["kind"] == "retrain_completed":
            out.append(("retrain", p["trigger_ns"], p["outcome"], p.get("challenger")))
        elif r["kind"] == "gate_decision":
            out.append(("decision", p.get("version"), p.get("outcome")))
        elif r["kind"] == "promotion":
            out.append(("promotion", p.get("version")))
        elif r["kind"] == "paper_swap":
            out.append(("swap", p.get("bar_time"), p.get("to_version")))
    return out


@pytest.mark.slow
def test_watch_replays_the_loop_one_retrain_per_planted_change_and_swaps_at_the_next_bar(tmp_path, monkeypatch):
    # then the same loop, killed at random moments, ends with the same ledger and audit story
    import random

    import pandas as pd

    from harness import backtest
    from harness.paper import Ledger
    from harness.paper._ledger import ledger_path
    from harness.registry import Registry
    from harness.watch import watch

    bars, _ = _setup(tmp_path)
    res = watch("loop", until=int(bars.timestamps[-1]))
    ts = bars.timestamps
    regime = [r for r in res.retrains if r["reason"] == "regime_change"]
    assert len(regime) == len(CHANGES), [r["time"] for r in res.retrains]
    for r, change in zip(regime, CHANGES, strict=True):  # within the detector's tolerance
        row = int(np.searchsorted(ts, r["bar_time"]))
        assert change <= row <= change + 150, (change, row)
    assert len(res.retrains) == len(regime)  # no max_age: no other retrain

    # every trigger has a decision; every promotion swaps at the first bar after its trigger bar
    done = _records("retrain_completed")
    assert len(done) == 1 + len(CHANGES)  # the initial training, then one per change
    decisions = _records("gate_decision")
    promotions = _records("promotion")
    assert len(decisions) >= sum(1 for d in done if d["payload"]["outcome"] == "candidates")
    swaps = {s["to_version"]: s for s in res.swaps}
    for p in promotions[1:]:  # the first promotion happened at deploy time, before the paper runner started
        v = str(p["payload"]["version"])
        trig = next(d["payload"]["trigger_ns"] for d in done if str(d["payload"].get("challenger")) == v)
        nxt = int(ts[int(np.searchsorted(ts, trig, "right"))])
        assert swaps[v]["bar_time"] == nxt
    assert len(res.swaps) == len(promotions) - 1

    # the ledger equals a backtest of the champions' weights spliced at the swap bars
    reg = Registry.open()
    led = Ledger(ledger_path("loop"))
    eq = led.equity()
    led.close()
    start = int(np.searchsorted(ts, int(eq.index.asi8[0])))
    live = bars[start:]
    versions = [(int(ts[start]), int(promotions[0]["payload"]["version"]))]
    versions += [(s["bar_time"], int(s["to_version"])) for s in res.swaps]
    w = np.full((live.n_bars, 1), np.nan)
    for k, (t0, ver) in enumerate(versions):
        t1 = versions[k + 1][0] if k + 1 < len(versions) else None
        full = reg.load("loop", ver).target_weights(bars)[start:]
        lo = int(np.searchsorted(live.timestamps, t0))
        hi = live.n_bars if t1 is None else int(np.searchsorted(live.timestamps, t1))
        w[lo:hi] = full[lo:hi]
    ref = backtest(live, weights=w, config=reg.get("loop", versions[0][1]).config)
    np.testing.assert_array_equal(eq.to_numpy(), ref.equity.to_numpy())  # bit for bit (Ledger.settle_cash)
    # and the monitors, run after every bar, saw the same: no tracking error across the swaps
    from harness.monitor import alerts, status

    st = status("loop")
    assert st is not None and st["evaluations"] >= live.n_bars - 5
    te = next(r for r in st["readings"] if r["monitor"] == "tracking_error")
    assert (te["state"], te["value"]) == ("ok", 0.0)
    assert not [a for a in alerts("loop") if a.monitor == "tracking_error"]

    # the audit trail verifies and tells the chain for each change
    from harness import audit

    assert audit.trail().verify().ok
    kinds = [r["kind"] for r in _records()]
    for k in ("watch_started", "retrain_triggered", "candidate_registered", "gate_decision", "promotion",
              "paper_swap", "watch_stopped"):
        assert k in kinds, k

    want, want_story = _ledger_tables(), _story()
    assert len(want["fills"]) > 5 and any(x[0] == "swap" for x in want_story)

    # the same loop, SIGKILLed: first while the first retrain child runs, then at random moments
    (tmp_path / "killed").mkdir()
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "killed-home"))
    _setup(tmp_path / "killed")
    until = pd.Timestamp(int(bars.timestamps[-1]), unit="ns", tz="UTC").isoformat()
    args = [sys.executable, "-m", "harness", "watch", "loop", "--until", until]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "retraining loop in a child process" in line:
            time.sleep(1.0)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(60)
    kills, rng = 1, random.Random(7)
    while kills < 4:  # kills at random moments; a run that ends before its kill ends the loop too
        time.sleep(0.5)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=rng.uniform(4.0, 15.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            kills += 1
            continue
        assert proc.returncode == 0, err
        break
    assert kills >= 2
    time.sleep(0.5)
    # a retrain child that outlived its watcher may still be finishing: the next run waits for it
    final = _watch_cli(until)
    assert final.returncode == 0, final.stdout + final.stderr
    got = _ledger_tables()
    for table in want:
        assert got[table] == want[table], table
    assert _story() == want_story
    assert got["orders"] and len({r[0] for r in got["orders"]}) == len(got["orders"])  # no duplicate order
    triggers = [d["payload"]["trigger_ns"] for d in _records("retrain_completed")]
    assert len(triggers) == len(set(triggers)) == 1 + len(CHANGES)  # no trigger retrained twice


@pytest.mark.slow
def test_retrain_on_drift_retrains_on_a_drift_alert_under_the_cooldown(tmp_path, monkeypatch):
    # the monitors are replaced by a scripted sequence of alerts (a test double), with a 30-bar cooldown:
    # a drift alert at bar 815 falls in the cooldown after the initial training (bar 799); one at 835
    # retrains; another at 845 falls in the cooldown again; tracking error and a warning never retrain
    from harness.monitor import Alert
    from harness.watch import Watcher, watch

    monkeypatch.setattr(sys.modules[__name__], "SPEC", SPEC.replace("cooldown = 300", "cooldown = 30"))
    bars, _ = _setup(tmp_path, extra_retrain='retrain_on = ["drift"]\n')
    ts = bars.timestamps
    script = {815: ("feature_drift", "alert"), 835: ("feature_drift", "alert"), 845: ("decision_drift", "alert"),
              855: ("tracking_error", "alert"), 860: ("feature_drift", "warn")}
    seen = []

    def scripted(self):
        i = int(np.searchsorted(ts, self._state.last_time))
        seen.append(i)
        if i not in script:
            return []
        monitor, severity = script[i]
        return [Alert("loop", monitor, severity, "x", 0.9, 0.25, (None, None), int(ts[i]))]

    monkeypatch.setattr(Watcher, "_step_monitors", scripted)
    lines = []
    res = watch("loop", until=int(ts[870]), echo=lines.append)
    assert set(script) <= set(seen)
    got = [(r["reason"], int(np.searchsorted(ts, r["bar_time"]))) for r in res.retrains]
    assert got == [("drift", 835)], "\n".join(lines)
    assert res.retrains[0]["trigger"]["monitor"] == "feature_drift"
    assert sum("alert: no retrain" in x for x in lines) == 2, "\n".join(lines)
    assert any("feature_drift.x alert: no retrain, 16 bar(s) since the last one (cooldown 30)" in x for x in lines)
    assert any("decision_drift.x alert: no retrain, 10 bar(s) since the last one (cooldown 30)" in x for x in lines)
    done = _records("retrain_completed")
    assert len(done) == 2 and done[-1]["payload"]["trigger_ns"] == int(ts[835])


def _pending(name="loop"):
    from harness.registry import Registry

    return [int(d["version"]) for d in Registry.open().decisions(name)
            if d.get("outcome") == "pending_approval" and not d.get("consumed_by")]


def _champion(name="loop"):
    from harness.errors import InputError as _InputError
    from harness.registry import Registry

    try:
        return Registry.open().get(name, "champion").version
    except _InputError:
        return None


def _wait(what, cond, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_live_watch_keeps_its_monitors_across_polls_and_stops_between_them(tmp_path):
    """Live (no --until): each poll reloads the bars; the monitors continue on the longer
    history, and stop() or SIGTERM while it waits for the next commit ends the watch cleanly."""
    import threading

    from harness._bars import home_store
    from harness.monitor import status
    from harness.watch import Watcher

    bars, _ = _setup(tmp_path, rest=False)
    store = home_store()
    lines: list[str] = []
    w = Watcher("loop", echo=lines.append)
    t = threading.Thread(target=w.run, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    for end in (DEPLOY_AT + 20, DEPLOY_AT + 40, DEPLOY_AT + 60):  # three commits, each seen by its own poll
        store.write(bars[end - 20:end], message=f"feed up to bar {end}")
        _wait(f"bar {end}", lambda end=end: w.result.bars >= end - DEPLOY_AT)
    assert not any("monitors failed" in x for x in lines), "\n".join(lines)
    st = status("loop")
    assert st is not None, "\n".join(lines)
    assert st["evaluations"] == 60 and st["time"] == int(bars.timestamps[DEPLOY_AT + 59])  # one a (daily) bar
    states = {(r["monitor"], r["metric"]): (r["state"], r["value"]) for r in st["readings"]}
    assert states[("tracking_error", "equity")] == ("ok", 0.0)  # the runner decided on the whole history
    assert states[("feature_drift", "vol_20")][0] in ("ok", "warn", "alert")  # the champion's inputs are watched
    w.stop()  # the watch is waiting for the next commit
    t.join(timeout=30)
    assert not t.is_alive(), "stop() between polls did not end the watch"
    assert _records()[-1]["kind"] == "watch_stopped"

    # the command: SIGTERM while it waits for a commit is a clean stop, audited
    proc = subprocess.Popen([sys.executable, "-m", "harness", "watch", "loop"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    n = len(_records("watch_started"))
    _wait("the command's watch_started", lambda: len(_records("watch_started")) > n)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert _records()[-1]["kind"] == "watch_stopped"


@pytest.mark.slow
def test_governed_watch_promotes_nothing_until_approve_and_reject_keeps_the_champion(tmp_path):
    from harness.gate import approve, reject
    from harness.watch import watch

    bars, _ = _setup(tmp_path, mode="governed")
    ts = bars.timestamps
    # 1. up to bar 1100: the deployment's decision and the retrain after the first change wait for a person
    res = watch("loop", until=int(ts[1100]))
    assert res.state == "NO_CHAMPION" and res.bars == 0 and res.swaps == []
    assert [r["reason"] for r in res.retrains] == ["regime_change"]
    waiting = _pending()
    assert len(waiting) >= 2 and _champion() is None and not _records("promotion")
    # 2. bob rejects the oldest: the champion (the baseline) stays, and the watch goes on without one
    reject("loop", waiting[0], by="bob", note="the holdout is too short")
    res = watch("loop", until=int(ts[1200]))
    assert res.state == "NO_CHAMPION" and res.bars == 0 and _champion() is None
    # 3. bob approves the newest: it becomes the champion and the runner trades it from the next bar
    approved = waiting[-1]
    approve("loop", approved, by="bob", note="looked at the table")
    assert _champion() == approved
    res = watch("loop", until=int(ts[-1]))
    assert res.bars > 0 and res.swaps == []  # later retrains never promote without a person
    assert _champion() == approved
    promotions = _records("promotion")
    assert [int(p["payload"]["version"]) for p in promotions] == [approved]
    kinds = [r["kind"] for r in _records()]
    assert kinds.count("approval") == 1 and kinds.count("rejection") == 1
    from harness import audit

    assert audit.trail().verify().ok


def test_watch_of_an_unknown_deployment_is_a_clear_error(run_cli):
    proc = run_cli("watch", "nosuch", "--once")
    assert proc.returncode != 0 and "nosuch" in proc.stderr and "Traceback" not in proc.stderr


def test_watch_of_a_new_spec_needs_by(tmp_path):
    from harness.watch import watch

    spec = tmp_path / "loop.toml"
    spec.write_text(SPEC.format(mode="auto"))
    with pytest.warns(Warning), pytest.raises(InputError, match="--by"):
        watch(spec, once=True)


def test_status_lists_no_deployment_on_a_fresh_home(run_cli):
    proc = run_cli("status", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
