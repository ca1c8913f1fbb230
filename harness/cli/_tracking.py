"""``harness reproduce RUN_ID`` and ``harness ui``: rerun a logged run; browse the runs in MLflow's UI."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce_cmd)
    app.command("ui")(ui_cmd)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return "-" if v is None else str(v)


def reproduce_cmd(
    run_id: Annotated[str, typer.Argument(help="The MLflow run id (printed as `MLflow run <id>`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Rerun a logged backtest, sweep, optimisation or fit from its lineage; exit 0 if every metric is identical."""
    import json

    from rich.console import Console
    from rich.table import Table

    from harness.registry._reproduce import reproduce

    console = Console(stderr=as_json, highlight=False, soft_wrap=True)
    out = reproduce(run_id)
    for w in out.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    if as_json:
        print(json.dumps(out.to_dict(), indent=2, default=str))
    elif out.identical:
        console.print(f"[green]identical[/]: {out.kind} run {out.run_id}, all {len(out.rows)} metrics reproduced "
                      "exactly")
    else:
        table = Table(title=f"{len(out.differences)} of {len(out.rows)} values differ ({out.kind} run {out.run_id})",
                      header_style="bold")
        for col in ("metric", "logged", "reproduced"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for r in out.differences:
            table.add_row(r["metric"], _fmt(r["logged"]), _fmt(r["reproduced"]))
        console.print(table)
    if not out.identical:
        raise typer.Exit(1)


def full_mlflow_installed() -> bool:
    """True when the full ``mlflow`` distribution (with the UI server), not only mlflow-skinny, is installed."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("mlflow")
    except PackageNotFoundError:
        return False
    return True


#: the ``ui`` extra of pyproject.toml (used when the installed metadata predates it)
UI_REQUIREMENT = "mlflow>=2.16"


def install_command() -> str:
    """The one command that installs the ``ui`` extra's requirement into this interpreter."""
    from importlib.metadata import PackageNotFoundError, requires

    spec = UI_REQUIREMENT
    try:
        for req in requires("regime-harness") or []:
            name, _, marker = req.partition(";")
            if "extra" in marker and "ui" in marker.split("==")[-1] and name.strip().lower().startswith("mlflow"):
                spec = name.strip().replace(" ", "")
                break
    except PackageNotFoundError:
        pass
    return f"{sys.executable} -m pip install '{spec}'"


def ui_command(host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line on the home store (its URI and artifact root)."""
    from harness.registry._mlflow import artifact_root, tracking_uri

    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri(),
            "--default-artifact-root", artifact_root(), "--host", host, "--port", str(port)]


def ui_cmd(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 5000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command instead of starting the UI.")]
    = False,
) -> None:
    """Start the MLflow UI on the home store (needs the full `mlflow` package: the `ui` extra)."""
    import os
    import shlex

    if not full_mlflow_installed():
        print("the MLflow UI needs the full mlflow package (the `ui` extra); install it with:\n"
              f"  {install_command()}\n"
              "or browse the same store from any machine with mlflow installed:\n"
              f"  {shlex.join(ui_command(host, port)[2:])}", file=sys.stderr)
        raise typer.Exit(1)
    cmd = ui_command(host, port)
    if dry_run:
        print(shlex.join(cmd))
        return
    print(f"MLflow UI on http://{host}:{port} (Ctrl-C stops it): {shlex.join(cmd)}", file=sys.stderr)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)
