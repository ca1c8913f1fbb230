"""`harness paper run --feed replay` on the S&P 500 sample survives SIGKILL at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from harness import BacktestConfig


def _deploy_spx():
    from datetime import UTC, datetime

    from harness._bars import home_store
    from harness.registry import Registry
    from market_data import samples

    bars = samples.load("SPX")
    home_store(create=True).write(bars, message="SPX sample")
    reg = Registry.open()
    reg.create_deployment("spx", mode="auto", baseline="cash", spec="[deployment]\nname = 'spx'\n", spec_hash="h",
                          by="alice")
    v = reg.register("spx", strategy="sma_crossover", params={"fast": 10, "slow": 40},
                     config=BacktestConfig(fee_rate=0.0005, size_granularity=1.0, stop_loss=0.03),
                     symbols=list(bars.symbols), frequency=bars.frequency, snapshot_id=home_store().resolve(),
                     data_digest=bars.digest())
    d = {"outcome": "promote", "checks": [], "reasons": [], "evidence_digest": "e" * 32,
         "time": datetime.now(UTC).isoformat(), "policy": {"mode": "auto", "checks": []}}
    reg.promote("spx", v.version, decision=reg.record_decision("spx", v.version, d))


def _tables(path):
    from harness.paper import Ledger

    led = Ledger(path)
    try:
        return {t: sorted(led.table_rows(t)) for t in ("orders", "fills", "position_history", "bars", "positions")}
    finally:
        led.close()


@pytest.mark.slow
def test_sigkill_paper_run_replay_twenty_times_ends_with_the_uninterrupted_ledger(harness_home):
    from harness.paper import ledger_path

    _deploy_spx()
    args = [sys.executable, "-m", "harness", "paper", "run", "spx", "--feed", "replay", "--start", "2017-07-01",
            "--end", "2018-12-31", "--quiet"]
    env = {**os.environ, "HARNESS_HOME": str(harness_home)}
    ref = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)  # also compiles the caches
    assert ref.returncode == 0, ref.stderr
    led = ledger_path("spx")
    ref_dir = harness_home / "reference"
    ref_dir.mkdir()
    for f in led.parent.glob("spx*"):
        f.rename(ref_dir / f.name)
    want = _tables(ref_dir / "spx.db")
    assert len(want["fills"]) >= 8 and len(want["bars"]) > 350

    # the kills must land while bars are being applied, not in the start-up: time a whole run
    # (warm caches) and a run that finds every bar already applied (start-up and recovery only)
    t0 = time.monotonic()
    assert subprocess.run(args, env=env, capture_output=True, timeout=900).returncode == 0
    whole = time.monotonic() - t0
    t0 = time.monotonic()
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    startup = time.monotonic() - t0
    assert again.returncode == 0, again.stderr
    assert _tables(led) == want  # a rerun over a finished ledger changes nothing
    for f in led.parent.glob("spx*"):
        f.unlink()
    busy = max(whole - startup, 0.2)

    rng = random.Random(5)
    kills = runs = 0
    while True:
        runs += 1
        assert runs < 250, f"{kills} kill(s) in {runs} runs (start-up {startup:.1f} s, whole run {whole:.1f} s)"
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(timeout=startup * rng.uniform(0.8, 1.0) + busy * rng.uniform(0.0, 1.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            continue
        assert proc.returncode == 0, err
        if kills >= 20:
            break
        for f in led.parent.glob("spx*"):  # finished before 20 kills: start over, counting on
            f.unlink()
    got = _tables(led)
    for table in want:
        assert got[table] == want[table], table
    ids = [r[0] for r in got["orders"]]
    assert len(ids) == len(set(ids))
