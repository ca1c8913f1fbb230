"""``harness demo`` step: the registry's deployments and a verification of the audit trail."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """List the deployments, then verify the hash chain and its MLflow anchor (records the earlier steps wrote)."""
    from harness.audit import trail
    from harness.registry import Registry

    reg = Registry.open()
    deployments = reg.deployments()
    champions = ", ".join(f"{d.name}@{d.champion if d.champion is not None else d.baseline}" for d in deployments)
    report = trail().verify()
    if not report.ok:
        from harness.errors import AuditTamperedError

        raise AuditTamperedError(f"audit trail {trail().path}: {report.problem}")
    seq, head = report.head
    explained = "; ".join(filter(None, (_challenger_attributions(reg, d) for d in deployments)))
    return (f"{len(deployments)} deployment(s){': ' + champions if champions else ''}; audit trail verified: "
            f"{report.count} records, head seq {seq} {head[:16]}..., anchor {report.anchor_status}"
            + (f"; {explained}" if explained else "")
            + "; `harness registry ls`, `harness registry show NAME` (attributions), `harness audit log`")


def attributions_line(version: object, top: int = 3) -> str | None:
    """``"v3 attributions: close +0.12; 0 for open, high, low, volume (permutation, d sharpe)"``: a
    version's largest permutation importances (by size) and the inputs it never reads."""
    att = getattr(version, "attributions", None)
    if att is None:
        return None
    perm = att.permutation.as_mapping()
    moved = sorted((f for f, v in perm.items() if v != 0.0 and v == v), key=lambda f: -abs(perm[f]))[:top]
    zero = [f for f, v in perm.items() if v == 0.0]
    parts = [", ".join(f"{f} {perm[f]:+.3g}" for f in moved)] if moved else []
    if zero:
        parts.append(f"0 for {', '.join(zero)}")
    return f"v{version.version} attributions: {'; '.join(parts) or 'undefined'} (permutation, d {att.metric})"


def _challenger_attributions(reg: object, d: object) -> str | None:
    number = d.challenger if d.challenger is not None else d.champion
    if number is None:
        return None
    line = attributions_line(reg.get(d.name, number))
    return None if line is None else f"{d.name} {line}"
