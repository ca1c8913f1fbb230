"""``harness report``: one self-contained HTML page for a results folder (or a run, or a deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    run_id: Annotated[str | None, typer.Argument(help="A logged MLflow run id (backtest, optimize or run).")] = None,
    results: Annotated[Path | None, typer.Option("--results", help="A results folder written by `harness backtest` "
                                                 "or `harness run` (no MLflow needed).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the HTML page.")] = None,
) -> None:
    """Write an HTML report (plotly embedded, opens offline) and print its path."""
    from harness.errors import InputError
    from harness.report import results_report, run_report

    if (run_id is None) == (results is None):
        raise InputError("say what to report on: a RUN_ID or --results DIR (one of them)")
    path = run_report(run_id, out) if run_id is not None else results_report(results, out)
    typer.echo(f"report written to {path}")
