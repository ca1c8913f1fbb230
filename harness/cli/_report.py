"""``harness report``: one self-contained HTML page for a results folder (or a run, or a deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    run_id: Annotated[str | None, typer.Argument(help="A logged MLflow run id (backtest, sweep, optimize, run or retrain).")] = None,
    results: Annotated[Path | None, typer.Option("--results", help="A results folder written by `harness backtest` "
                                                 "or `harness run` (no MLflow needed).")] = None,
    deployment: Annotated[str | None, typer.Option("--deployment", "-d", help="A deployment's story so far: "
                                                   "retrains, gate decisions, promotions, paper vs backtest, "
                                                   "alerts, regimes, lineage.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the HTML page.")] = None,
) -> None:
    """Write an HTML report (plotly embedded, opens offline) and print its path."""
    from harness.errors import InputError
    from harness.report import deployment_report, results_report, run_report

    given = [what for what, value in (("RUN_ID", run_id), ("--results DIR", results),
                                      ("--deployment NAME", deployment)) if value is not None]
    if len(given) != 1:
        found = f"; got {' and '.join(given)}" if given else ""
        raise InputError("say what to report on: exactly one of RUN_ID, --results DIR or --deployment NAME"
                         + found)
    if run_id is not None:
        path = run_report(run_id, out)
    elif results is not None:
        path = results_report(results, out)
    else:
        path = deployment_report(deployment, out)
    typer.echo(f"report written to {path}")
