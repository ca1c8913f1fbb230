"""The promotion gate: statistical champion–challenger checks, risk limits, sign-off.

Array-only part::

    from harness.gate import Evidence, GatePolicy, evaluate
    ev = Evidence(challenger_returns=r_new, champion_returns=r_old, n_trials=200,
                  trial_returns=study_oos, frequency="1d", trades=48, exposure=1.0)
    d = evaluate(ev, GatePolicy(mode="auto", min_dsr=0.95))
    d.outcome, print(d.table())

``available()`` lists the checks (a plug-in family under ``harness.gate.checks``).

Against the registry: ``decide(deployment, version, evidence, policy)`` records the
decision and, in auto mode, promotes on pass; ``approve``/``reject`` (a named person)
and ``rollback`` complete governed mode.
"""

from __future__ import annotations

from harness.gate._decide import (
    ApprovalResult,
    approve,
    decide,
    latest_decision,
    pending,
    reject,
    rollback,
)
from harness.gate._decision import OUTCOMES, CheckResult, Decision
from harness.gate._evaluate import evaluate
from harness.gate._evidence import Evidence, Shadow
from harness.gate._policy import DEFAULT_CHECKS, EmptyGateWarning, GatePolicy
from harness.gate.checks import Check, available, register

__all__ = [
    "Evidence",
    "Shadow",
    "GatePolicy",
    "DEFAULT_CHECKS",
    "EmptyGateWarning",
    "CheckResult",
    "Decision",
    "OUTCOMES",
    "evaluate",
    "decide",
    "approve",
    "reject",
    "rollback",
    "pending",
    "latest_decision",
    "ApprovalResult",
    "available",
    "register",
    "Check",
]
