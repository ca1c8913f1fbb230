"""evaluate(): outcomes, reasons, determinism, serialisation, user checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import EvidenceError
from harness.gate import Check, Decision, EmptyGateWarning, Evidence, GatePolicy, evaluate, register
from harness.gate.checks import unregister

RISK = ["max_drawdown", "min_trades"]


def test_passing_checks_promote_in_auto_and_wait_in_governed(full_evidence):
    assert evaluate(full_evidence, GatePolicy(checks=RISK)).outcome == "promote"
    d = evaluate(full_evidence, GatePolicy(checks=RISK, mode="governed"))
    assert d.outcome == "pending_approval" and d.passed and any("harness approve" in r for r in d.reasons)


def test_shadow_without_bars_is_pending_shadow_unless_another_check_fails(full_evidence):
    no_shadow = full_evidence.replace(shadow=None)
    d = evaluate(no_shadow, GatePolicy(checks=RISK + ["shadow"]))
    assert d.outcome == "pending_shadow" and not d.passed and d.reasons[0].startswith("shadow: pending")
    d = evaluate(no_shadow.replace(trades=1), GatePolicy(checks=RISK + ["shadow"]))
    assert d.outcome == "reject"
    assert evaluate(full_evidence, GatePolicy(checks=RISK + ["shadow"], mode="governed")).outcome == "pending_approval"


def test_missing_evidence_rejects_and_names_the_input(full_evidence):
    d = evaluate(full_evidence.replace(trades=None), GatePolicy(checks=RISK))
    assert d.outcome == "reject" and len(d.reasons) == 1
    assert d.reasons[0].startswith("min_trades: missing evidence: trades")


def test_a_check_the_policy_leaves_out_is_not_run(full_evidence):
    d = evaluate(full_evidence.replace(trades=None), GatePolicy(checks=["max_drawdown"]))
    assert d.outcome == "promote" and [c.name for c in d.checks] == ["max_drawdown"]


def test_the_default_policy_decides_on_full_evidence(full_evidence):
    d = evaluate(full_evidence)
    assert [c.name for c in d.checks] == list(GatePolicy().checks)
    assert d.evidence_digest == full_evidence.digest() and d.time.endswith("+00:00")


def test_same_inputs_same_decision_and_p_values(full_evidence):
    a, b = evaluate(full_evidence).to_dict(), evaluate(full_evidence).to_dict()
    a.pop("time"), b.pop("time")
    assert a == b


def test_decision_round_trips_through_json(full_evidence):
    d = evaluate(full_evidence)
    back = Decision.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back.to_dict() == d.to_dict()
    assert "oos_improvement" in d.table() and "threshold" in d.table()


def test_empty_policy_always_passes_and_warns_loudly(full_evidence):
    with pytest.warns(EmptyGateWarning):
        policy = GatePolicy(checks=[])
    with pytest.warns(EmptyGateWarning):
        d = evaluate(full_evidence.replace(trades=None), policy)
    assert d.outcome == "promote" and "WITHOUT" in d.reasons[0]


def test_evaluate_refuses_what_is_not_evidence():
    with pytest.raises(EvidenceError, match="Evidence"):
        evaluate({"challenger_returns": [0.0]})


def test_a_user_check_plugs_in(full_evidence):
    class PositiveMean(Check):
        name = "positive_mean_test"
        op = ">="
        protects = "a challenger that loses money on average"

        def compute(self, evidence, policy, rng):
            m = float(np.mean(evidence.challenger_returns))
            return self.result(policy, m > 0, m, f"mean {m:.5f}")

    register(PositiveMean)
    try:
        d = evaluate(full_evidence, GatePolicy(checks=["positive_mean_test"]))
        assert d.outcome == "promote"
        flat = Evidence(challenger_returns=-np.ones(10) * 1e-3, champion_returns=np.zeros(10))
        assert evaluate(flat, GatePolicy(checks=["positive_mean_test"])).outcome == "reject"
    finally:
        unregister("positive_mean_test")
