"""``harness audit verify | head | log | repair``: the hash-chained audit trail."""

from __future__ import annotations

import json
from typing import Annotated

import typer

audit_app = typer.Typer(help="Verify, list and repair the hash-chained audit trail (<home>/audit.log).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


def _by(by: str | None, what: str) -> str:
    from harness.errors import InputError

    if by is None or not by.strip():
        raise InputError(f"{what} needs --by NAME: the person responsible is recorded in the audit trail")
    return by.strip()


@audit_app.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Check every record's hash, the chain and the head anchored in the MLflow store.

    Exits 0 with the record count and head hash; exits 1 naming the first record that was
    edited, removed, inserted or reordered, or the truncation. A torn last line (a process
    killed mid-append) is reported as torn, not tampered: `harness audit repair --by NAME`.
    """
    from harness.audit import trail

    t = trail()
    report = t.verify()
    if as_json:
        typer.echo(json.dumps({"path": str(t.path), **report.to_dict()}, indent=2))
    else:
        seq, head = report.head
        if report.ok:
            typer.echo(f"audit trail OK: {report.count} records, head seq {seq} {head} (anchor: {report.anchor_status})")
        else:
            typer.echo(f"audit trail TAMPERED: {report.problem}", err=True)
            typer.echo(f"first bad record: seq {report.bad_seq} (line {report.bad_line}) of {t.path}", err=True)
        for w in report.warnings:
            typer.echo(f"warning: {w}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("head")
def head(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the head (seq and hash) of the trail and the one anchored in the MLflow store.

    Publish it somewhere you trust (a ticket, a signed e-mail) to pin the trail's state.
    """
    from harness.audit import trail

    t = trail()
    seq, hash_ = t.head()
    try:
        anchored = t.anchored_head()
        anchor_error = None
    except Exception as exc:  # the file's head is still worth printing
        anchored, anchor_error = None, str(exc)
    if as_json:
        typer.echo(json.dumps({"path": str(t.path), "seq": seq, "hash": hash_,
                               "anchor": None if anchored is None else {"seq": anchored[0], "hash": anchored[1]},
                               "anchor_error": anchor_error}, indent=2))
        return
    typer.echo(f"{seq} {hash_}")
    if anchor_error:
        typer.echo(f"warning: the MLflow anchor could not be read: {anchor_error}", err=True)
    elif anchored is None:
        typer.echo("anchor: none in the MLflow store", err=True)
    elif anchored != (seq, hash_):
        typer.echo(f"anchor: {anchored[0]} {anchored[1]} (differs from the file; run `harness audit verify`)", err=True)


@audit_app.command("log")
def log(
    deployment: Annotated[str | None, typer.Option("--deployment", help="Only records of this deployment.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only records of this kind (e.g. promotion).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only records at or after this ISO time "
                                                              "(UTC unless it has an offset).")] = None,
    last: Annotated[int | None, typer.Option("--last", min=1, help="Only the last N matching records.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON (one list).")] = False,
) -> None:
    """List audit records, oldest first."""
    from harness.audit import trail

    rows = trail().records(deployment=deployment, kind=kind, since=since)
    if last is not None:
        rows = rows[-last:]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no audit records" + (" match" if (deployment or kind or since) else ""))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for col in ("seq", "time (UTC)", "kind", "actor", "user@host", "deployment", "payload"):
        table.add_column(col, overflow="fold")
    for r in rows:
        payload = json.dumps(r.get("payload") or {}, ensure_ascii=False, separators=(",", ":"))
        cells = (str(r["seq"]), str(r["time"])[:23].replace("T", " "), r["kind"], r["actor"],
                 f"{r.get('user')}@{r.get('host')}", r.get("deployment") or "",
                 payload if len(payload) <= 160 else payload[:157] + "...")
        table.add_row(*(escape(c) for c in cells))
    Console(highlight=False).print(table)


@audit_app.command("repair")
def repair(by: Annotated[str | None, typer.Option("--by", help="Who repairs (recorded in the trail).")] = None) -> None:
    """Drop a torn last line left by a killed process, and record the repair in the trail.

    A tampered trail is never repaired (it exits non-zero naming the problem).
    """
    from harness.audit import trail

    who = _by(by, "audit repair")
    rec = trail().repair(by=who)
    if rec is None:
        typer.echo("nothing to repair: the trail ends in a complete record")
        return
    p = rec["payload"]
    typer.echo(f"repaired: line {p['line']} {p['action']} ({p['bytes']} bytes); recorded as seq {rec['seq']}")
