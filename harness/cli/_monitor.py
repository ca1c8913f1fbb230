"""``harness monitor NAME [--json]``: every monitor's latest value, threshold and state, and recent alerts."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _when(ns) -> str:
    if ns is None:
        return "-"
    import datetime as dt

    return dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def monitor(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    last: Annotated[int, typer.Option("--alerts", help="How many recent alerts to show.")] = 10,
) -> None:
    """Show a deployment's monitors: each metric's latest value, threshold and state, and its recent alerts."""
    from harness.errors import InputError
    from harness.monitor import alerts, status, status_path

    st = status(name)
    if st is None:
        raise InputError(f"no monitor readings for deployment {name!r}: {status_path(name)} does not exist "
                         "(the paper runner's monitors write it at their first evaluation)")
    recent = alerts(name, last=last)
    if as_json:
        import json

        typer.echo(json.dumps({"deployment": name, "time": st.get("time"), "evaluations": st.get("evaluations"),
                               "readings": st.get("readings", []), "open": (st.get("book") or {}).get("open", {}),
                               "alerts": [a.to_dict() for a in recent], "sink_errors": st.get("sink_errors", [])},
                              indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    style = {"alert": "bold red", "warn": "yellow", "ok": "green", "insufficient data": "dim"}
    table = Table(title=f"{name}: monitors at {_when(st.get('time'))} ({st.get('evaluations', 0)} evaluations)",
                  show_header=True, header_style="bold")
    for col in ("monitor", "metric", "value", "threshold", "state"):
        table.add_column(col, overflow="fold")
    for r in st.get("readings", []):
        table.add_row(r["monitor"], r["metric"], _fmt(r.get("value")), _fmt(r.get("threshold")),
                      f"[{style.get(r['state'], '')}]{r['state']}[/]")
    console.print(table)
    if recent:
        at = Table(title=f"last {len(recent)} alerts", show_header=True, header_style="bold")
        for col in ("time", "monitor", "metric", "severity", "value", "threshold", "reminder"):
            at.add_column(col)
        for a in recent:
            at.add_row(_when(a.time), a.monitor, a.metric, a.severity, _fmt(a.value), _fmt(a.threshold),
                       "yes" if a.reminder else "")
        console.print(at)
    else:
        console.print("no alerts")
    for e in st.get("sink_errors", [])[-3:]:
        console.print(f"[yellow]sink {e['sink']} failed[/]: {e['error']}")
