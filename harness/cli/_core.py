"""``harness version``, ``harness doctor`` and ``harness demo``."""

from __future__ import annotations

from typing import Annotated

import typer

_VERSION_PACKAGES = ("regime-harness", "numpy", "pandas", "numba", "zarr", "icechunk", "optuna", "torch")


def register(app: typer.Typer) -> None:
    app.command("version")(version)
    app.command("doctor")(doctor)
    app.command("demo")(demo)


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v(name)
    except PackageNotFoundError:
        return None


def version() -> None:
    """Print the versions of the harness and its core libraries."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("package")
    table.add_column("version")
    for name in _VERSION_PACKAGES:
        table.add_row("harness" if name == "regime-harness" else name, _dist_version(name) or "not installed")
    Console().print(table)


def doctor() -> None:
    """Check the environment: versions, home folder, Numba cache, data store."""
    from rich.console import Console
    from rich.table import Table

    from harness._doctor import run_checks

    checks = run_checks()
    table = Table(show_header=True, header_style="bold")
    for col in ("check", "status", "detail"):
        table.add_column(col)
    style = {"ok": "green", "warn": "yellow", "FAIL": "red"}
    for c in checks:
        table.add_row(c.name, f"[{style[c.status]}]{c.status}[/]", c.detail)
    console = Console()
    console.print(table)
    failed = [c for c in checks if c.status == "FAIL"]
    if failed:
        console.print(f"[red]{len(failed)} problem(s):[/] " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
        raise typer.Exit(1)
    console.print("[green]environment OK[/]")


def demo(
    fast: Annotated[bool, typer.Option("--fast/--full", help="Smaller searches for a quick run.")] = True,
    governed: Annotated[bool, typer.Option("--governed", help="Run the loop in governed mode: it stops at "
                                           "pending_approval and prints the `harness approve` command.")] = False,
) -> None:
    """Run the end-to-end job on the embedded default home: data, backtest, search, regimes, then the closed loop."""
    from harness._demo import run_demo

    run_demo(fast=fast, governed=governed)
