"""``harness watch`` (the closed loop of one deployment) and ``harness status`` (every deployment)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_cmd)
    app.command("status")(status_cmd)


def watch_cmd(
    target: Annotated[str, typer.Argument(help="A deployment spec (deployed first when new or changed; needs --by) "
                                               "or a deployment name.")],
    once: Annotated[bool, typer.Option("--once", help="Process what is new and exit (cron, tests).")] = False,
    until: Annotated[str | None, typer.Option("--until", help="Replay up to this bar time, then stop; the replay "
                                              "clock waits for each retrain.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who deploys the spec (when it is new or changed).")] = None,
    monitors: Annotated[bool, typer.Option("--monitors/--no-monitors", help="Run the [monitor] monitors.")] = True,
) -> None:
    """Run the live loop: feed -> detector -> trigger -> retrain (child process) -> gate -> promotion -> paper
    hot swap -> monitors, every step audited. SIGTERM stops after the current bar."""
    from rich.console import Console

    from harness.watch import watch

    console = Console(highlight=False, soft_wrap=True)
    res = watch(target, once=once, until=until, by=by, echo=console.print, monitors=monitors)
    for s in res.swaps:
        from harness.watch import _fmt

        console.print(f"swap v{s['from_version']} -> v{s['to_version']} at {_fmt(s['bar_time'])}")
    console.print(res.summary())


def status_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every deployment on one screen: champion, challenger, last retrain, pending approvals, paper state, alerts."""
    import json

    from rich.console import Console
    from rich.table import Table

    from harness.watch import status_rows

    rows = status_rows()
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    console = Console(soft_wrap=True)
    if not rows:
        console.print("no deployments yet: harness deploy SPEC --by WHO")
        return
    table = Table(show_header=True, header_style="bold")
    cols = ["deployment", "mode", "champion", "challenger", "last_retrain", "pending_approvals", "paper", "equity",
            "alerts"]
    for c in cols:
        table.add_column(c.replace("_", " "))
    for r in rows:
        eq = r.get("equity")
        table.add_row(*[(f"{eq:,.2f}" if c == "equity" and eq is not None else str(r.get(c, "-") or "-"))
                        for c in cols])
    console.print(table)
