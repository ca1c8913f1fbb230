"""The ledger survives SIGKILL at any moment; lost acknowledgements never duplicate an order."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import BacktestConfig, backtest
from harness.paper import Ledger, replay
from harness.paper.testing import DroppingBroker

from ._paper_data import assert_parity, random_bars

CHILD = Path(__file__).with_name("_crash_child.py")
ROOT = Path(__file__).resolve().parents[3]


def _run_child(folder: Path, seed: int, p: float, kill_after: float | None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(CHILD), str(folder), str(seed), str(p)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def _tables(path: Path) -> dict[str, list]:
    led = Ledger(path)
    try:
        return {t: sorted(led.table_rows(t)) for t in ("orders", "fills", "position_history", "bars", "positions")}
    finally:
        led.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_ends_with_the_uninterrupted_ledger(tmp_path):
    ref = tmp_path / "ref"
    rc, out, err = _run_child(ref, 0, 0.0, None)
    assert rc == 0, err
    want = _tables(ref / "crash.db")
    assert len(want["fills"]) > 10

    folder = tmp_path / "crashy"
    rng = random.Random(17)
    kills, runs, where = 0, 0, set()
    while True:
        runs += 1
        assert runs < 200, "the crash run never finished"
        # a self-kill at one of the protocol's points, or the parent's kill at a random moment
        parent_kill = rng.uniform(0.5, 4.0) if kills % 3 == 2 else None
        rc, out, err = _run_child(folder, runs, 0.02 if parent_kill is None else 0.0, parent_kill)
        if rc == 0:
            # done once there were >= 20 kills and one of them hit the hardest point (between the broker's
            # submit and the ledger's commit); the parent's kills land at random times, so keep going until then
            if kills >= 20 and "after-submit-before-commit" in where:
                break
            # finished before 20 kills: start over on a fresh ledger, counting on
            for f in folder.glob("*"):
                f.unlink()
            continue
        assert rc == -signal.SIGKILL, err
        if not (folder / "crash.db").exists():
            # the parent's kill landed in the child's start-up (slow under load), before the ledger was
            # created: nothing was written, nothing to check, and it is not counted as a kill
            continue
        kills += 1
        where.update(line.split()[1] for line in out.splitlines() if line.startswith("kill "))
        led = Ledger(folder / "crash.db")  # readable and consistent after every kill
        assert led.state().get("risk_state", "ACTIVE") == "ACTIVE", led.risk_events()
        led.close()
    assert kills >= 20
    assert "after-submit-before-commit" in where
    got = _tables(folder / "crash.db")
    for table in want:
        assert got[table] == want[table], table
    ids = [r[0] for r in got["orders"]]
    assert len(ids) == len(set(ids))
    with sqlite3.connect(folder / "crash.broker.db") as db:  # the broker saw each order once
        n_broker = db.execute("SELECT COUNT(*) FROM orders WHERE client_order_id LIKE '%:target'").fetchone()[0]
    assert n_broker == sum(1 for r in got["orders"] if r[4] == "target")


@pytest.mark.parametrize("seed", range(4))
def test_lost_acknowledgements_never_duplicate_an_order(seed, tmp_path):
    bars = random_bars(200 + seed, T=120, N=3)
    cfg = BacktestConfig(fee_rate=0.001, stop_loss=0.05, fill="next_open" if seed % 2 else "close")
    wrappers = []

    def wrap(sim):
        w = DroppingBroker(sim, p=0.4, before=0.3, seed=seed)
        wrappers.append(w)
        return w

    pr = replay(bars, "sma_crossover", {"fast": 3, "slow": 10}, config=cfg, ledger_dir=tmp_path, broker=wrap)
    assert wrappers[0].dropped > 5
    sub = wrappers[0].submits
    assert len(sub) > len(set(sub))  # some orders were sent again after a lost answer
    orders = pr.all_orders
    assert orders["client_order_id"].is_unique
    sim = wrappers[0].inner
    targets = [r for r in sim._orders.values() if r.leg == "target"]
    assert len(targets) == len({r.client_order_id for r in targets}) == int((orders["leg"] == "target").sum())
    assert_parity(pr, backtest(bars, "sma_crossover", {"fast": 3, "slow": 10}, config=cfg))
    np.testing.assert_allclose(pr.equity.to_numpy()[-1], sim.account().equity, rtol=1e-9)
