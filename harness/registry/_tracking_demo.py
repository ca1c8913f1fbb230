"""``harness demo`` steps for tracking: the mlp fit as a run, the backtest reproduced, how to browse the runs."""

from __future__ import annotations


def fit_run_step(ctx: dict) -> str:
    """Log the demo's ``mlp`` fit (the saved model folder: weights and manifest) as an MLflow run."""
    from harness.registry._tracking import log_fit, track_or_warn
    from strategies.ml import load

    folder = ctx.get("mlp_model")
    if folder is None:
        return "no mlp model to log"
    run_id = track_or_warn(log_fit, load(folder), folder=folder)
    ctx.setdefault("runs", []).append(run_id)
    return f"MLflow run {run_id} (kind fit: params, training metrics, weights and manifest)" if run_id \
        else "tracking failed (see the warning); the model folder is kept"


def reproduce_step(ctx: dict) -> str:
    """Rerun the demo backtest from its MLflow run and compare every metric."""
    from harness.registry._reproduce import reproduce

    res = ctx.get("backtest")
    run_id = getattr(res, "run_id", None)
    if run_id is None:
        return "the backtest was not tracked; nothing to reproduce"
    out = reproduce(run_id)
    verdict = "identical" if out.identical else f"{len(out.differences)} DIFFERENCES"
    return f"harness reproduce {run_id}: {verdict} ({len(out.rows)} metrics compared)"


def browse_hint() -> list[str]:
    """The two ways to browse the runs of the home store."""
    import shlex

    from harness.cli._tracking import ui_command

    return [f"browse the runs: harness ui   (or: {shlex.join(ui_command('127.0.0.1', 5000)[2:])})"]
