"""The gate against the registry: decide, approve, reject, rollback.

The champion alias moves only through :meth:`harness.registry.Registry.promote`, which
itself refuses anything but a passing decision (and, in governed mode, an approval of
that very decision). This module adds the gate's policy on top:

* :func:`decide` evaluates, records the decision (with the context it was made in:
  the champion, the newest version, the spec hash) and, in ``auto`` mode, promotes at
  once when it passed;
* :func:`approve` checks that the pending decision is still valid (not expired after
  ``approval_ttl``, no newer version registered, champion unchanged), enforces
  separation of duties (the person who deployed or last changed the spec may not
  approve unless ``allow_self_approval = true``, audited ``self_approval``), records
  the approval with the OS user, and promotes;
* :func:`reject` records a person's rejection (a note is required); the champion stays;
* :func:`rollback` restores ``previous`` (a named person, audited by the registry).

Every step is safe to retry after a crash: a decision that was recorded but not yet
acted on is found again, an approval that was recorded but did not promote is reused,
and a promotion that went through is a no-op the second time.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass
from typing import Any

from harness.errors import (
    ApprovalExpiredError,
    ApprovalRefused,
    InputError,
    SelfApprovalError,
    StaleDecisionError,
)
from harness.gate._decision import Decision
from harness.gate._evaluate import evaluate
from harness.gate._evidence import Evidence
from harness.gate._policy import GatePolicy

__all__ = ["decide", "approve", "reject", "rollback", "pending", "latest_decision", "ApprovalResult"]

SYSTEM_ACTOR = "harness.gate"


@dataclass(frozen=True, kw_only=True)
class ApprovalResult:
    """What :func:`approve` or :func:`reject` recorded (and, for an approval, promoted)."""

    id: str
    decision_id: str
    deployment: str
    version: int
    by: str
    approved: bool
    self_approval: bool = False
    champion: int | None = None  # the champion after the call


def _registry(registry: Any) -> Any:
    if registry is not None:
        return registry
    from harness.registry import Registry

    return Registry.open()


def _person(by: Any, what: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise InputError(f"{what}: --by must name the person responsible")
    by = by.strip()
    if by.startswith("harness."):
        raise InputError(f"{what}: --by must name a person, not the system actor {by!r}")
    return by


def _champion(reg: Any, deployment: str) -> int | None:
    return reg.deployment(deployment).champion


def _newest(reg: Any, deployment: str) -> int | None:
    vs = reg.versions(deployment)
    return max((v.version for v in vs), default=None)


def decide(deployment: str, version: int, evidence: Evidence, policy: GatePolicy | None = None, *,
           registry: Any = None, actor: str = SYSTEM_ACTOR) -> Decision:
    """Evaluate ``evidence`` for ``deployment`` ``version``, record the decision, act on it.

    The deployment's mode wins over the policy's (a governed deployment is never
    auto-promoted). ``auto`` mode promotes at once on a passing decision; ``governed``
    records ``pending_approval``. Returns the recorded :class:`Decision` (``id`` set,
    ``promoted`` true when the champion moved).
    """
    reg = _registry(registry)
    policy = GatePolicy() if policy is None else policy
    if not isinstance(policy, GatePolicy):
        raise InputError(f"decide(): policy must be a harness.gate.GatePolicy, got {type(policy).__name__}")
    info = reg.deployment(deployment)
    v = reg.get(deployment, version)
    if info.mode == "governed" and policy.mode != "governed":
        policy = policy.replace(mode="governed")
    context = {"champion": info.champion, "newest_version": _newest(reg, deployment),
               "spec_hash": info.spec_hash, "spec_version": info.spec_version, "baseline": info.baseline,
               "mode": info.mode}
    d = evaluate(evidence, policy)
    d = dataclasses.replace(d, deployment=deployment, version=v.version, context=context)
    did = reg.record_decision(deployment, v.version, d.to_dict(), actor=actor)
    d = dataclasses.replace(d, id=did)
    if d.outcome == "promote":
        reg.promote(deployment, v.version, decision=did, by=actor)
        d = dataclasses.replace(d, promoted=True)
    return d


def latest_decision(deployment: str, version: int | None = None, *, registry: Any = None) -> Decision | None:
    """The newest recorded decision for ``deployment`` (for ``version`` if given), or None."""
    reg = _registry(registry)
    rows = [r for r in reg.decisions(deployment) if version is None or int(r.get("version", -1)) == int(version)]
    if not rows:
        return None
    row = rows[-1]
    d = Decision.from_dict(row)
    return dataclasses.replace(d, id=row["id"], deployment=deployment, version=int(row["version"]),
                               promoted=bool(row.get("consumed_by")))


def _decision_row(reg: Any, deployment: str, version: int) -> dict:
    rows = [r for r in reg.decisions(deployment) if int(r.get("version", -1)) == int(version)]
    if not rows:
        raise ApprovalRefused(f"{deployment} v{version} has no gate decision to approve or reject "
                              f"(run `harness gate {deployment} {version}` or a retrain first)")
    return rows[-1]


def _parse_time(text: str) -> _dt.datetime:
    t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def pending(deployment: str, version: int, *, registry: Any = None, now: _dt.datetime | None = None) -> dict:
    """The pending decision of ``deployment`` ``version`` that a person may act on now.

    Raises :class:`ApprovalRefused` (no pending decision, or it did not pass),
    :class:`ApprovalExpiredError` (older than ``approval_ttl``) or
    :class:`StaleDecisionError` (a newer version was registered, or the champion
    changed, since the decision).
    """
    reg = _registry(registry)
    row = _decision_row(reg, deployment, version)
    where = f"{deployment} v{version}: decision {row['id']}"
    outcome = row.get("outcome")
    if row.get("consumed_by"):
        raise ApprovalRefused(f"{where} already promoted this version")
    if outcome != "pending_approval":
        raise ApprovalRefused(f"{where} is {outcome!r}, not pending_approval; only a passing governed decision "
                              "can be approved" + (" (the shadow run is still going)" if outcome == "pending_shadow"
                                                   else ""))
    for a in reg.approvals(deployment):
        if a.get("decision_id") == row["id"] and not a.get("approved"):
            raise ApprovalRefused(f"{where} was rejected by {a.get('by')} ({a.get('note')}); run the gate again "
                                  "for a new decision")
    policy = GatePolicy.from_dict(row.get("policy") or {})
    now = now or _dt.datetime.now(_dt.UTC)
    age = (now - _parse_time(row["time"])).total_seconds()
    if age > policy.approval_ttl_seconds:
        raise ApprovalExpiredError(f"{where} expired: made {age / 3600:.1f} h ago, approval_ttl is "
                                   f"{policy.approval_ttl}; run the gate again for a fresh decision")
    ctx = row.get("context") or {}
    champion = _champion(reg, deployment)
    if "champion" in ctx and ctx["champion"] != champion:
        raise StaleDecisionError(f"{where} is void: the champion changed since (was "
                                 f"{_name(ctx['champion'])}, now {_name(champion)}); run the gate again")
    newest = _newest(reg, deployment)
    if ctx.get("newest_version") is not None and newest is not None and newest > int(ctx["newest_version"]):
        raise StaleDecisionError(f"{where} is void: a newer version v{newest} was registered since "
                                 f"(the decision saw up to v{ctx['newest_version']})")
    return row


def _name(v: Any) -> str:
    return "the baseline" if v is None else f"v{v}"


def _existing_approval(reg: Any, deployment: str, decision_id: str, approved: bool) -> dict | None:
    for a in reversed(reg.approvals(deployment)):
        if a.get("decision_id") == decision_id and bool(a.get("approved")) == approved:
            return a
    return None


def approve(deployment: str, version: int, *, by: str, note: str | None = None, registry: Any = None,
            now: _dt.datetime | None = None) -> ApprovalResult:
    """Approve the pending decision of ``deployment`` ``version`` and promote it.

    Refused with a named error when the decision is not pending, expired, void
    (:func:`pending`), or when ``by`` deployed or last changed the spec and the policy
    does not set ``allow_self_approval`` (:class:`SelfApprovalError`). A retry after a
    crash between recording the approval and promoting reuses the approval.
    """
    reg = _registry(registry)
    by = _person(by, f"approve {deployment} v{version}")
    v = reg.get(deployment, version)
    rows = [r for r in reg.decisions(deployment) if int(r.get("version", -1)) == v.version]
    if rows and rows[-1].get("consumed_by") and _champion(reg, deployment) == v.version:
        prior = _existing_approval(reg, deployment, rows[-1]["id"], True)
        if prior is not None:  # a retry of an approval that went through
            return ApprovalResult(id=prior["id"], decision_id=rows[-1]["id"], deployment=deployment,
                                  version=v.version, by=prior.get("by", by), approved=True, champion=v.version)
    row = pending(deployment, v.version, registry=reg, now=now)
    policy = GatePolicy.from_dict(row.get("policy") or {})
    info = reg.deployment(deployment)
    authors = {info.created_by, info.changed_by}
    self_approval = by in authors
    if self_approval and not policy.allow_self_approval:
        role = "deployed" if by == info.created_by else "last changed the spec of"
        raise SelfApprovalError(f"approve {deployment} v{v.version}: {by} {role} {deployment}; separation of "
                                "duties needs another person (or [gate] allow_self_approval = true, audited)")
    prior = _existing_approval(reg, deployment, row["id"], True)
    if prior is not None and prior.get("by") == by:
        aid = prior["id"]
    else:
        aid = reg.record_approval(deployment, v.version, decision_id=row["id"], by=by, note=note, approved=True)
        if self_approval:
            from harness import audit

            audit.append("self_approval", actor=by, deployment=deployment,
                         payload={"version": v.version, "decision_id": row["id"], "approval_id": aid,
                                  "reason": "[gate] allow_self_approval = true",
                                  "created_by": info.created_by, "changed_by": info.changed_by})
    reg.promote(deployment, v.version, decision=row["id"], approval=aid, by=by)
    return ApprovalResult(id=aid, decision_id=row["id"], deployment=deployment, version=v.version, by=by,
                          approved=True, self_approval=self_approval, champion=_champion(reg, deployment))


def reject(deployment: str, version: int, *, by: str, note: str, registry: Any = None) -> ApprovalResult:
    """Record a person's rejection of the newest decision of ``deployment`` ``version``;
    the champion stays. ``note`` (why) is required."""
    reg = _registry(registry)
    by = _person(by, f"reject {deployment} v{version}")
    if not isinstance(note, str) or not note.strip():
        raise InputError(f"reject {deployment} v{version}: --note must say why")
    v = reg.get(deployment, version)
    row = _decision_row(reg, deployment, v.version)
    if row.get("consumed_by"):
        raise ApprovalRefused(f"reject {deployment} v{v.version}: decision {row['id']} already promoted it; "
                              f"use `harness rollback {deployment} --by NAME` instead")
    rid = reg.record_approval(deployment, v.version, decision_id=row["id"], by=by, note=note.strip(), approved=False)
    return ApprovalResult(id=rid, decision_id=row["id"], deployment=deployment, version=v.version, by=by,
                          approved=False, champion=_champion(reg, deployment))


def rollback(deployment: str, *, by: str, reason: str | None = None, registry: Any = None) -> Any:
    """Restore the ``previous`` champion (a named person; audited ``rollback``). Returns its ModelVersion."""
    reg = _registry(registry)
    by = _person(by, f"rollback {deployment}")
    return reg.rollback(deployment, by=by, reason=reason)
