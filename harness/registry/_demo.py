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
    return (f"{len(deployments)} deployment(s){': ' + champions if champions else ''}; audit trail verified: "
            f"{report.count} records, head seq {seq} {head[:16]}..., anchor {report.anchor_status}; "
            "`harness registry ls`, `harness audit log`")
