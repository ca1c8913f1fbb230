"""``harness deploy SPEC --by WHO`` and ``harness retrain NAME``: deployments and their retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._options import Dask


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy_cmd)
    app.command("retrain")(retrain_cmd)


def _print(outcome) -> None:
    from rich.console import Console

    console = Console(soft_wrap=True, highlight=False)
    for line in outcome.messages:
        console.print(line, markup=False)


def deploy_cmd(
    spec: Annotated[Path, typer.Argument(help="Deployment spec (TOML), e.g. experiments/deployments/spx_sma.toml.")],
    by: Annotated[str, typer.Option("--by", help="Who deploys (audited; may not approve this deployment's "
                                                 "candidates in governed mode).")],
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the study's progress bar.")] = True,
) -> None:
    """Create or update a deployment, run its initial training, and hand the candidate to the gate.

    Running it again with an unchanged spec does nothing and says so; an edited spec
    becomes a new spec version (audited) and is retrained.
    """
    from harness.retrain._flow import deploy

    _print(deploy(spec, by=by, progress=progress))


def retrain_cmd(
    name: Annotated[str, typer.Argument(help="Deployment name (as in [deployment] name).")],
    if_regime_changed: Annotated[bool, typer.Option(
        "--if-regime-changed", help="Feed the detector the bars since its last state; retrain only when the "
                                    "trigger policy fires or [retrain] max_age has passed (cron-friendly).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (audited); default manual, "
                                               "regime_change or max_age.")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="Data snapshot id or tag to train on "
                                                 "(default: the latest).")] = None,
    reset_detector: Annotated[bool, typer.Option("--reset-detector", help="Rebuild the detector state from "
                                                 "[data] start (needs --by; audited).")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who resets the detector.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the study's progress bar.")] = False,
    dask: Dask = None,
    until: Annotated[str | None, typer.Option("--until", help="Ignore bars after this time (a replay's clock; "
                                              "harness watch --until uses it).")] = None,
    pending_only: Annotated[bool, typer.Option("--pending-only", help="Retrain only the trigger left pending in the "
                                               "detector state (harness watch's child); else do nothing.")] = False,
) -> None:
    """Retrain a deployment now, or (--if-regime-changed) only when its regime changed.

    A second invocation while one runs says so and exits 0. Crontab, every weekday at 22:30:
    30 22 * * 1-5  cd /srv/harness && harness retrain spx-sma --if-regime-changed >> retrain.log 2>&1
    """
    from harness.retrain import RetrainLocked
    from harness.retrain._flow import trigger

    try:
        outcome = trigger(name, if_regime_changed=if_regime_changed, reason=reason, snapshot=snapshot,
                          reset=reset_detector, by=by, progress=progress, dask=dask, until=until,
                          pending_only=pending_only)
    except RetrainLocked as exc:
        print(str(exc))
        raise typer.Exit(0) from None
    _print(outcome)
