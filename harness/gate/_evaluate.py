"""``evaluate(evidence, policy) -> Decision``: run the policy's checks, decide the outcome."""

from __future__ import annotations

import datetime as _dt
import logging

from harness.errors import EvidenceError
from harness.gate._decision import Decision
from harness.gate._evidence import Evidence
from harness.gate._policy import GatePolicy, warn_empty
from harness.gate.checks import check_class

__all__ = ["evaluate"]

log = logging.getLogger("harness.gate")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def evaluate(evidence: Evidence, policy: GatePolicy | None = None) -> Decision:
    """Run every check the policy names on the evidence and decide.

    Outcome: ``reject`` if any check failed (missing evidence fails closed); else
    ``pending_shadow`` if the ``shadow`` check is still waiting for paper bars; else
    ``pending_approval`` in ``governed`` mode; else ``promote``. The same evidence and
    policy (seed included) always give the same checks, p-values and outcome.
    """
    if not isinstance(evidence, Evidence):
        raise EvidenceError(f"evaluate() needs harness.gate.Evidence, got {type(evidence).__name__}")
    policy = GatePolicy() if policy is None else policy
    if not isinstance(policy, GatePolicy):
        raise EvidenceError(f"evaluate() needs a harness.gate.GatePolicy, got {type(policy).__name__}")
    results = tuple(check_class(name)().evaluate(evidence, policy) for name in policy.checks)
    failed = [c for c in results if not c.passed and not c.pending]
    pending = [c for c in results if c.pending]
    if failed:
        outcome = "reject"
        reasons = tuple(f"{c.name}: {c.detail}" for c in failed)
    elif pending:
        outcome = "pending_shadow"
        reasons = tuple(f"{c.name}: {c.detail}" for c in pending)
    else:
        outcome = "pending_approval" if policy.mode == "governed" else "promote"
        if not results:
            warn_empty()
            log.warning("gate policy has no checks: decision %s passes unchecked", outcome)
            reasons = ("the policy has no checks: passed WITHOUT any evidence being checked",)
        else:
            reasons = (f"all {len(results)} checks passed",)
        if policy.mode == "governed":
            reasons += ("governed mode: waiting for `harness approve NAME VERSION --by WHO`",)
    return Decision(outcome=outcome, checks=results, reasons=reasons, evidence_digest=evidence.digest(),
                    time=_now(), policy=policy.to_dict())
