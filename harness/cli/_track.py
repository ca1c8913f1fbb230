"""The ``--track/--no-track`` option and the one-line report of a tracked run, shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

Track = Annotated[bool, typer.Option("--track/--no-track", help="Log an MLflow run in the home store "
                                     "(default on; see `harness ui`).")]


def track(enabled: bool, console: Any, fn: Callable[..., str], *args: Any, **kwargs: Any) -> str | None:
    """Call ``fn`` (a ``harness.registry`` ``log_*`` function) after the result is written;
    print ``MLflow run <id>``, or the tracking failure in one line. Never raises a
    tracking failure: the result is already on disk."""
    if not enabled:
        return None
    from harness.errors import TrackingError

    try:
        run_id = fn(*args, **kwargs)
    except TrackingError as exc:
        console.print(f"[yellow]tracking failed:[/] {exc}", highlight=False, soft_wrap=True)
        return None
    console.print(f"MLflow run {run_id}", highlight=False)
    return run_id


def add_run_id(folder: Any, run_id: str | None, name: str = "lineage.json") -> None:
    """Record ``run_id`` in the results folder's lineage file (results -> run)."""
    import json
    from pathlib import Path

    if run_id is None:
        return
    path = Path(folder) / name
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        data["run_id"] = run_id
        path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))
