"""``CheckResult`` and ``Decision``: what the gate concluded, as plain, JSON-able records."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "Decision", "OUTCOMES"]

#: The outcomes a decision can have.
OUTCOMES: tuple[str, ...] = ("promote", "reject", "pending_shadow", "pending_approval")


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "item") and not isinstance(v, (list, tuple, dict)):
        return _jsonable(v.item())
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``value`` compared (``op``) with ``threshold``.

    ``pending``: the check cannot decide yet (``shadow`` before its bars exist); a
    pending check is not passed. ``stats``: the numbers behind the verdict (p-values,
    block length, counts).
    """

    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str
    op: str | None = None
    pending: bool = False
    stats: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"name": self.name, "passed": bool(self.passed), "value": self.value,
                          "threshold": self.threshold, "op": self.op, "pending": bool(self.pending),
                          "detail": self.detail, "stats": dict(self.stats)})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CheckResult:
        return cls(name=d["name"], passed=bool(d["passed"]), value=d.get("value"), threshold=d.get("threshold"),
                   detail=d.get("detail", ""), op=d.get("op"), pending=bool(d.get("pending", False)),
                   stats=dict(d.get("stats") or {}))


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The gate's decision on one challenger.

    ``outcome``: ``promote``, ``reject``, ``pending_shadow`` or ``pending_approval``;
    ``checks``: every :class:`CheckResult`; ``reasons``: one line per failing or
    pending check (or why it passed); ``evidence_digest``; ``time`` (ISO 8601, UTC);
    ``policy``: the :class:`GatePolicy` as a dict. ``id``, ``deployment`` and ``version``
    are set once the decision is recorded in the registry (:func:`harness.gate.decide`);
    ``context`` then holds what the decision was made against (champion, newest version,
    spec hash), which voids a pending decision once it changes.
    """

    outcome: str
    checks: tuple[CheckResult, ...]
    reasons: tuple[str, ...]
    evidence_digest: str
    time: str
    policy: Mapping[str, Any]
    id: str | None = None
    deployment: str | None = None
    version: int | None = None
    promoted: bool = False
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check passed (``promote`` or ``pending_approval``)."""
        return self.outcome in ("promote", "pending_approval")

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"decision has no check {name!r} (it ran: {', '.join(c.name for c in self.checks)})")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"outcome": self.outcome, "checks": [c.to_dict() for c in self.checks],
                          "reasons": list(self.reasons), "evidence_digest": self.evidence_digest,
                          "time": self.time, "policy": dict(self.policy), "id": self.id,
                          "deployment": self.deployment, "version": self.version, "promoted": self.promoted,
                          "context": dict(self.context)})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        return cls(outcome=d["outcome"], checks=tuple(CheckResult.from_dict(c) for c in d.get("checks", ())),
                   reasons=tuple(d.get("reasons", ())), evidence_digest=d.get("evidence_digest", ""),
                   time=d.get("time", ""), policy=dict(d.get("policy") or {}), id=d.get("id"),
                   deployment=d.get("deployment"), version=d.get("version"), promoted=bool(d.get("promoted", False)),
                   context=dict(d.get("context") or {}))

    def table(self) -> str:
        """The check table as text: name, value, op, threshold, verdict, detail."""
        rows = [("check", "value", "", "threshold", "result", "detail")]
        for c in self.checks:
            verdict = "PENDING" if c.pending else ("pass" if c.passed else "FAIL")
            rows.append((c.name, _fmt(c.value), c.op or "", _fmt(c.threshold), verdict, c.detail))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in rows]
        return "\n".join(line.rstrip() for line in lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
