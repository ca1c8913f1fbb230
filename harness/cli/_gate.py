"""``harness gate NAME [VERSION]``, ``harness approve``, ``harness reject``, ``harness rollback``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("gate")(gate)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("rollback")(rollback)


def _by(by: str | None, what: str) -> str:
    from harness.errors import InputError

    if by is None or not by.strip():
        raise InputError(f"{what} needs --by NAME: the person responsible is recorded in the audit trail")
    return by.strip()


def _version(reg: Any, name: str, version: int | None) -> int:
    """VERSION, else the challenger, else the newest version of ``name``."""
    from harness.errors import InputError

    if version is not None:
        return reg.get(name, version).version
    info = reg.deployment(name)
    if info.challenger is not None:
        return int(info.challenger)
    versions = reg.versions(name)
    if not versions:
        raise InputError(f"deployment {name} has no versions yet (run `harness retrain {name}` or `harness deploy`)")
    return versions[-1].version


def find_evidence(name: str, version: int) -> Path | None:
    """The evidence folder a retrain stored for ``name`` ``version`` (newest first), or None."""
    from harness.config import paths

    root = paths().artifacts / "retrains" / name
    if not root.is_dir():
        return None
    hits = []
    for doc in root.glob("*/evidence/evidence.json"):
        try:
            meta = json.loads(doc.read_text()).get("meta") or {}
        except (OSError, ValueError):
            continue
        if meta.get("version") == version:
            hits.append(doc.parent)
    return max(hits, key=lambda p: p.stat().st_mtime) if hits else None


def _policy(name: str) -> Any:
    """The deployment's [gate] policy from its stored spec (default policy if it has none)."""
    from harness.gate import GatePolicy

    try:
        from harness.deploy import resolve
    except ImportError:
        return GatePolicy()
    spec = resolve(name)
    return spec.gate if spec.gate is not None else GatePolicy(mode=spec.mode)


def _print_decision(d: Any, reg: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    info = reg.deployment(d.deployment)
    console = Console(highlight=False)
    console.print(f"{escape(str(d.deployment))} v{d.version}: decision {d.id} at {d.time[:19].replace('T', ' ')} UTC "
                  f"({(d.policy or {}).get('mode', info.mode)} mode), evidence {d.evidence_digest[:16]}")
    table = Table(show_header=True, header_style="bold")
    for col in ("check", "value", "", "threshold", "result", "detail"):
        table.add_column(col, overflow="fold")
    for c in d.checks:
        verdict = "[yellow]PENDING[/]" if c.pending else ("[green]pass[/]" if c.passed else "[red]FAIL[/]")
        table.add_row(c.name, _fmt(c.value), c.op or "", _fmt(c.threshold), verdict, escape(c.detail))
    if d.checks:
        console.print(table)
    for r in d.reasons:
        console.print(f"  {escape(r)}")
    champion = f"v{info.champion}" if info.champion is not None else f"the baseline ({info.baseline})"
    console.print(f"outcome: [bold]{d.outcome}[/]" + (" (promoted)" if d.promoted else "") + f"; champion {champion}")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def gate(
    name: Annotated[str, typer.Argument(help="Deployment name (see `harness registry ls`).")],
    version: Annotated[int | None, typer.Argument(help="Version (default: the challenger, else the newest).")] = None,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Evaluate again and record a new decision, even if "
                                           "one exists.")] = False,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="Evidence folder (Evidence.save); default: "
                                                  "the one the retrain stored for this version.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Evaluate, or re-show, the gate decision of a version: value against threshold, pass/fail, outcome.

    Re-shows the newest decision recorded for the version; evaluates (and records, and in
    auto mode promotes on pass) when there is none, with --evaluate, or with --evidence.
    The policy is the deployment's [gate] table.
    """
    from harness.errors import InputError
    from harness.gate import Evidence, decide, latest_decision
    from harness.registry import Registry

    reg = Registry.open()
    v = _version(reg, name, version)
    d = None if (evaluate or evidence is not None) else latest_decision(name, v, registry=reg)
    if d is None:
        folder = evidence or find_evidence(name, v)
        if folder is None:
            raise InputError(f"{name} v{v} has no recorded decision and no stored evidence; pass --evidence FOLDER "
                             "(written by Evidence.save) or retrain")
        d = decide(name, v, Evidence.load(folder), _policy(name), registry=reg)
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2))
        return
    _print_decision(d, reg)


def approve(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    version: Annotated[int, typer.Argument(help="The version whose pending decision is approved.")],
    by: Annotated[str | None, typer.Option("--by", help="Who approves (required; the OS user is recorded too).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (kept in the audit trail).")] = None,
) -> None:
    """Approve a pending_approval decision (governed mode) and promote the version."""
    from harness.gate import approve as _approve

    res = _approve(name, version, by=_by(by, f"approve {name} v{version}"), note=note)
    extra = " (self-approval allowed by [gate] allow_self_approval, audited)" if res.self_approval else ""
    typer.echo(f"approved {name} v{res.version} by {res.by}{extra}: approval {res.id}; champion is now "
               f"v{res.champion}")


def reject(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    version: Annotated[int, typer.Argument(help="The version whose decision is rejected.")],
    by: Annotated[str | None, typer.Option("--by", help="Who rejects (required).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (required).")] = None,
) -> None:
    """Reject a version's pending decision; the champion stays."""
    from harness.errors import InputError
    from harness.gate import reject as _reject

    who = _by(by, f"reject {name} v{version}")
    if note is None or not note.strip():
        raise InputError(f"reject {name} v{version} needs --note TEXT: say why")
    res = _reject(name, version, by=who, note=note)
    champion = f"v{res.champion}" if res.champion is not None else "the baseline"
    typer.echo(f"rejected {name} v{res.version} by {res.by}: rejection {res.id}; champion stays {champion}")


def rollback(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    by: Annotated[str | None, typer.Option("--by", help="Who rolls back (required).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit trail).")] = None,
) -> None:
    """Restore the previous champion."""
    from harness.gate import rollback as _rollback

    v = _rollback(name, by=_by(by, f"rollback {name}"), reason=reason)
    typer.echo(f"rolled back {name}: champion is now v{v.version}")
