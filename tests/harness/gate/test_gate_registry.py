"""decide / approve / reject / rollback against the registry: the champion rule on every path."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.audit import AuditTrail
from harness.engine import BacktestConfig
from harness.errors import (
    ApprovalExpiredError,
    ApprovalRefused,
    InputError,
    PromotionRefused,
    SelfApprovalError,
    StaleDecisionError,
)
from harness.gate import GatePolicy, approve, decide, latest_decision, reject, rollback
from harness.gate.testing import example_evidence
from harness.registry import Registry

REPO = Path(__file__).resolve().parents[3]
PASS = GatePolicy(checks=["max_drawdown", "min_trades"])
FAIL = GatePolicy(checks=["max_drawdown", "min_trades"], min_trades=1000)


@pytest.fixture
def reg(stored_bars):
    return Registry.open()


@pytest.fixture
def snapshot(stored_bars):
    from harness._bars import home_store

    return home_store().resolve()


def _deploy(reg, mode="auto", name="spx-gate"):
    return reg.create_deployment(name, mode=mode, baseline="cash", spec=f"[deployment]\nname = '{name}'\n",
                                 spec_hash=f"h-{mode}", by="alice")


def _register(reg, snapshot, bars, name="spx-gate", fast=5):
    return reg.register(name, strategy="sma_crossover", params={"fast": fast, "slow": 20}, config=BacktestConfig(),
                        symbols=list(bars.symbols), frequency="1d", snapshot_id=snapshot, data_digest=bars.digest())


def assert_champion_rule(reg, name):
    """Every champion move by promotion names a passing decision for that version (and, for a
    governed decision, an approved approval of that very decision)."""
    for row in reg.alias_history(name, "champion"):
        if row["action"] != "promote":
            assert row["action"] == "rollback" and row["by"] and not row["by"].startswith("harness.")
            continue
        dec = reg.decision(row["decision"])
        assert int(dec["version"]) == row["version"]
        if dec["outcome"] == "promote":
            assert (dec.get("policy") or {}).get("mode") != "governed"
        else:
            assert dec["outcome"] == "pending_approval"
            appr = reg.approval(row["approval"])
            assert appr["approved"] and appr["decision_id"] == row["decision"]


def _kinds(name):
    return [r["kind"] for r in AuditTrail().records(deployment=name)]


def test_auto_mode_promotes_a_passing_decision_at_once(reg, snapshot, stored_bars):
    _deploy(reg)
    v = _register(reg, snapshot, stored_bars)
    ev = example_evidence()
    d = decide("spx-gate", v.version, ev, PASS, registry=reg)
    assert d.outcome == "promote" and d.promoted and d.id and d.version == v.version
    assert reg.deployment("spx-gate").champion == v.version
    stored = reg.decision(d.id)
    assert stored["evidence_digest"] == ev.digest() and [c["name"] for c in stored["checks"]] == list(PASS.checks)
    assert stored["context"]["champion"] is None and stored["context"]["newest_version"] == v.version
    assert reg.get("spx-gate", v.version).tags["harness.decision"] == d.id  # the MLflow tag
    rec = [r for r in AuditTrail().records(deployment="spx-gate") if r["kind"] == "gate_decision"][-1]
    assert rec["payload"]["evidence_digest"] == ev.digest() and len(rec["payload"]["checks"]) == 2
    assert _kinds("spx-gate")[-1] == "promotion"
    assert_champion_rule(reg, "spx-gate")


def test_a_failing_decision_is_recorded_and_the_champion_stays(reg, snapshot, stored_bars):
    _deploy(reg)
    v1 = _register(reg, snapshot, stored_bars)
    decide("spx-gate", v1.version, example_evidence(), PASS, registry=reg)
    v2 = _register(reg, snapshot, stored_bars, fast=6)
    d = decide("spx-gate", v2.version, example_evidence(), FAIL, registry=reg)
    assert d.outcome == "reject" and not d.promoted and "min_trades" in d.reasons[0]
    assert reg.deployment("spx-gate").champion == v1.version
    assert latest_decision("spx-gate", v2.version, registry=reg).outcome == "reject"
    with pytest.raises(ApprovalRefused, match="not pending_approval"):
        approve("spx-gate", v2.version, by="bob", registry=reg)


def test_governed_mode_waits_for_a_named_approval(reg, snapshot, stored_bars):
    _deploy(reg, mode="governed")
    v = _register(reg, snapshot, stored_bars)
    d = decide("spx-gate", v.version, example_evidence(), PASS, registry=reg)  # the deployment's mode wins
    assert d.outcome == "pending_approval" and not d.promoted
    assert reg.deployment("spx-gate").champion is None
    with pytest.raises(PromotionRefused):
        reg.promote("spx-gate", v.version, decision=d.id)  # the registry refuses it without an approval too
    with pytest.raises(InputError, match="--by"):
        approve("spx-gate", v.version, by="  ", registry=reg)
    res = approve("spx-gate", v.version, by="bob", note="reviewed the table", registry=reg)
    assert res.approved and res.champion == v.version and not res.self_approval
    appr = reg.approval(res.id)
    assert appr["by"] == "bob" and appr["user"] and appr["note"] == "reviewed the table"
    assert _kinds("spx-gate")[-2:] == ["approval", "promotion"]
    again = approve("spx-gate", v.version, by="bob", registry=reg)  # a retry is a no-op
    assert again.id == res.id and _kinds("spx-gate")[-1] == "promotion"
    assert_champion_rule(reg, "spx-gate")


def test_separation_of_duties(reg, snapshot, stored_bars):
    _deploy(reg, mode="governed")
    v = _register(reg, snapshot, stored_bars)
    decide("spx-gate", v.version, example_evidence(), PASS, registry=reg)
    with pytest.raises(SelfApprovalError, match="alice deployed spx-gate"):
        approve("spx-gate", v.version, by="alice", registry=reg)
    assert reg.deployment("spx-gate").champion is None
    v2 = _register(reg, snapshot, stored_bars, fast=6)
    decide("spx-gate", v2.version, example_evidence(), PASS.replace(allow_self_approval=True), registry=reg)
    res = approve("spx-gate", v2.version, by="alice", registry=reg)
    assert res.self_approval and res.champion == v2.version
    rec = [r for r in AuditTrail().records(deployment="spx-gate") if r["kind"] == "self_approval"]
    assert len(rec) == 1 and rec[0]["payload"]["approval_id"] == res.id and rec[0]["actor"] == "alice"


def test_approval_expires_after_the_ttl(reg, snapshot, stored_bars):
    _deploy(reg, mode="governed")
    v = _register(reg, snapshot, stored_bars)
    d = decide("spx-gate", v.version, example_evidence(), PASS.replace(approval_ttl="2h"), registry=reg)
    made = dt.datetime.fromisoformat(d.time)
    with pytest.raises(ApprovalExpiredError, match="approval_ttl is 2h"):
        approve("spx-gate", v.version, by="bob", registry=reg, now=made + dt.timedelta(hours=2, seconds=1))
    res = approve("spx-gate", v.version, by="bob", registry=reg, now=made + dt.timedelta(hours=1))
    assert res.champion == v.version


def test_a_pending_decision_is_void_after_a_newer_version_or_a_champion_change(reg, snapshot, stored_bars):
    _deploy(reg, mode="governed")
    v1 = _register(reg, snapshot, stored_bars)
    decide("spx-gate", v1.version, example_evidence(), PASS, registry=reg)
    v2 = _register(reg, snapshot, stored_bars, fast=6)
    with pytest.raises(StaleDecisionError, match=f"newer version v{v2.version}"):
        approve("spx-gate", v1.version, by="bob", registry=reg)
    decide("spx-gate", v1.version, example_evidence(), PASS, registry=reg)  # a fresh decision for v1
    decide("spx-gate", v2.version, example_evidence(), PASS, registry=reg)
    approve("spx-gate", v2.version, by="bob", registry=reg)
    with pytest.raises(StaleDecisionError, match="champion changed"):
        approve("spx-gate", v1.version, by="bob", registry=reg)
    assert reg.deployment("spx-gate").champion == v2.version
    assert_champion_rule(reg, "spx-gate")


def test_reject_keeps_the_champion_needs_a_note_and_blocks_approval(reg, snapshot, stored_bars):
    _deploy(reg, mode="governed")
    v = _register(reg, snapshot, stored_bars)
    decide("spx-gate", v.version, example_evidence(), PASS, registry=reg)
    with pytest.raises(InputError, match="--note"):
        reject("spx-gate", v.version, by="bob", note="", registry=reg)
    res = reject("spx-gate", v.version, by="bob", note="turnover too high for the mandate", registry=reg)
    assert not res.approved and res.champion is None and _kinds("spx-gate")[-1] == "rejection"
    with pytest.raises(ApprovalRefused, match="rejected by bob"):
        approve("spx-gate", v.version, by="carol", registry=reg)


def test_rollback_restores_previous_by_a_named_person(reg, snapshot, stored_bars):
    _deploy(reg)
    v1 = _register(reg, snapshot, stored_bars)
    decide("spx-gate", v1.version, example_evidence(), PASS, registry=reg)
    v2 = _register(reg, snapshot, stored_bars, fast=6)
    decide("spx-gate", v2.version, example_evidence(), PASS, registry=reg)
    with pytest.raises(InputError, match="person"):
        rollback("spx-gate", by="harness.gate", registry=reg)
    back = rollback("spx-gate", by="carol", reason="live slippage", registry=reg)
    assert back.version == v1.version and reg.deployment("spx-gate").champion == v1.version
    assert _kinds("spx-gate")[-1] == "rollback"
    assert_champion_rule(reg, "spx-gate")


_CRASH = textwrap.dedent("""
    import os, signal, sys
    from harness.registry import Registry
    from harness.gate import GatePolicy, decide, approve
    from harness.gate.testing import example_evidence

    where, step, version = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reg = Registry.open()
    real = getattr(reg, where)

    def crash(*a, **k):
        if where == "record_approval":
            real(*a, **k)      # the approval is stored, then the process dies before promoting
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(reg, where, crash)
    policy = GatePolicy(checks=["max_drawdown", "min_trades"])
    if step == "decide":
        decide("spx-gate", version, example_evidence(), policy, registry=reg)
    else:
        approve("spx-gate", version, by="bob", registry=reg)
""")


def _crash(harness_home, where, step, version):
    env = {**os.environ, "HARNESS_HOME": str(harness_home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CRASH, where, step, str(version)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_crash_before_promotion_leaves_the_champion_and_a_retry_promotes(reg, snapshot, stored_bars,
                                                                           harness_home):
    _deploy(reg)
    v = _register(reg, snapshot, stored_bars)
    _crash(harness_home, "promote", "decide", v.version)  # killed after the decision was recorded
    assert reg.deployment("spx-gate").champion is None
    assert latest_decision("spx-gate", v.version, registry=reg).outcome == "promote"
    d = decide("spx-gate", v.version, example_evidence(), PASS, registry=reg)  # the retry
    assert d.promoted and reg.deployment("spx-gate").champion == v.version
    assert AuditTrail().verify().ok
    assert_champion_rule(reg, "spx-gate")


def test_a_crash_between_approval_and_promotion_is_completed_by_a_retry(reg, snapshot, stored_bars, harness_home):
    _deploy(reg, mode="governed")
    v = _register(reg, snapshot, stored_bars)
    decide("spx-gate", v.version, example_evidence(), PASS, registry=reg)
    _crash(harness_home, "record_approval", "approve", v.version)
    assert reg.deployment("spx-gate").champion is None  # approved but not promoted: nothing moved
    assert _kinds("spx-gate").count("approval") == 1
    res = approve("spx-gate", v.version, by="bob", registry=reg)
    assert res.champion == v.version and _kinds("spx-gate").count("approval") == 1  # the approval was reused
    assert AuditTrail().verify().ok
    assert_champion_rule(reg, "spx-gate")
