"""``harness gate / approve / reject / rollback``: the table, one-line errors, the champion rule."""

from __future__ import annotations

import hashlib
import json

import pytest

from harness.audit import AuditTrail
from harness.engine import BacktestConfig
from harness.gate.testing import example_evidence
from harness.registry import Registry

SPEC = """
[deployment]
name = "spx-gate"
mode = "{mode}"
baseline = "cash"

[data]
symbols = ["AAA"]
frequency = "1d"

[strategy]
name = "sma_crossover"
search_space = {{ fast = [5, 20], slow = [30, 60] }}

[cv]
scheme = "walk-forward"
train = 100
test = 50

[optimize]
trials = 4

[gate]
checks = ["max_drawdown", "min_trades"]
min_trades = {min_trades}
"""


def _setup(stored_bars, tmp_path, *, mode="auto", min_trades=10, versions=1):
    from harness._bars import home_store

    text = SPEC.format(mode=mode, min_trades=min_trades)
    reg = Registry.open()
    reg.create_deployment("spx-gate", mode=mode, baseline="cash", spec=text,
                          spec_hash=hashlib.sha256(text.encode()).hexdigest(), by="alice")
    snap = home_store().resolve()
    for i in range(versions):
        reg.register("spx-gate", strategy="sma_crossover", params={"fast": 5 + i, "slow": 40},
                     config=BacktestConfig(), symbols=["AAA"], frequency="1d", snapshot_id=snap,
                     data_digest=stored_bars.digest())
    folder = example_evidence().save(tmp_path / "evidence")
    return reg, folder


def test_gate_evaluates_then_reshows_and_promotes_in_auto_mode(run_cli, stored_bars, tmp_path):
    reg, folder = _setup(stored_bars, tmp_path)
    out = run_cli("gate", "spx-gate", "1", "--evidence", str(folder), check=True).stdout
    assert "max_drawdown" in out and "min_trades" in out and "threshold" in out and "pass" in out
    assert "outcome: promote (promoted); champion v1" in out
    assert reg.deployment("spx-gate").champion == 1
    shown = json.loads(run_cli("gate", "spx-gate", "1", "--json", check=True).stdout)  # re-shows, no new decision
    assert shown["outcome"] == "promote" and shown["promoted"] and len(reg.decisions("spx-gate")) == 1
    assert [c["name"] for c in shown["checks"]] == ["max_drawdown", "min_trades"]
    assert shown["checks"][1]["threshold"] == 10 and shown["checks"][1]["value"] == 40


def test_a_failing_gate_shows_the_failing_check_and_keeps_the_champion(run_cli, stored_bars, tmp_path):
    reg, folder = _setup(stored_bars, tmp_path, min_trades=500)
    out = run_cli("gate", "spx-gate", "--evidence", str(folder), check=True).stdout  # the newest version
    assert "FAIL" in out and "outcome: reject" in out and "the baseline (cash)" in out
    assert reg.deployment("spx-gate").champion is None


@pytest.mark.slow  # a dozen CLI processes, each opening the MLflow store
def test_governed_approve_reject_and_rollback_through_the_cli(run_cli, stored_bars, tmp_path):
    reg, folder = _setup(stored_bars, tmp_path, mode="governed", versions=2)
    out = run_cli("gate", "spx-gate", "1", "--evidence", str(folder), check=True).stdout
    assert "outcome: pending_approval" in out and reg.deployment("spx-gate").champion is None
    missing = run_cli("approve", "spx-gate", "1")
    assert missing.returncode == 2 and "--by" in missing.stderr and "Traceback" not in missing.stderr
    self_ = run_cli("approve", "spx-gate", "1", "--by", "alice")
    assert self_.returncode == 1 and "separation of duties" in self_.stderr and len(self_.stderr.splitlines()) == 1
    ok = run_cli("approve", "spx-gate", "1", "--by", "bob", "--note", "looked at the table", check=True).stdout
    assert "champion is now v1" in ok and reg.deployment("spx-gate").champion == 1
    run_cli("gate", "spx-gate", "2", "--evidence", str(folder), check=True)
    no_note = run_cli("reject", "spx-gate", "2", "--by", "carol")
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    rej = run_cli("reject", "spx-gate", "2", "--by", "carol", "--note", "too much turnover", check=True).stdout
    assert "champion stays v1" in rej and reg.deployment("spx-gate").champion == 1
    refused = run_cli("approve", "spx-gate", "2", "--by", "bob")
    assert refused.returncode == 1 and "rejected by carol" in refused.stderr
    run_cli("gate", "spx-gate", "2", "--evaluate", "--evidence", str(folder), check=True)
    run_cli("approve", "spx-gate", "2", "--by", "bob", check=True)
    assert reg.deployment("spx-gate").champion == 2
    nobody = run_cli("rollback", "spx-gate")
    assert nobody.returncode == 2 and "--by" in nobody.stderr
    back = run_cli("rollback", "spx-gate", "--by", "dave", "--reason", "live slippage", check=True).stdout
    assert "champion is now v1" in back and reg.deployment("spx-gate").champion == 1
    kinds = [r["kind"] for r in AuditTrail().records(deployment="spx-gate")]
    assert kinds.count("approval") == 2 and kinds.count("rejection") == 1 and kinds[-1] == "rollback"


@pytest.mark.parametrize("args, words", [
    (("gate", "nope"), ["nope"]),
    (("gate", "spx-gate", "7"), ["7"]),
])
def test_gate_errors_are_one_line(run_cli, stored_bars, tmp_path, args, words):
    _setup(stored_bars, tmp_path)
    proc = run_cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for w in words:
        assert w in proc.stderr


def test_gate_without_evidence_or_decision_says_what_to_do(run_cli, stored_bars, tmp_path):
    _setup(stored_bars, tmp_path)
    proc = run_cli("gate", "spx-gate", "1")
    assert proc.returncode == 2 and "--evidence" in proc.stderr
