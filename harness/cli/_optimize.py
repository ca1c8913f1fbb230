"""``harness optimize`` and ``harness run SPEC``: Optuna searches scored out of sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._options import (
    Dask,
    End,
    FeeRate,
    FixedFee,
    Frequency,
    SlippageBps,
    Snapshot,
    Start,
    Symbols,
    name_values,
    parse_params,
    split_symbols,
)
from harness.cli._track import Track
from market_data.config import parse_value


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_cmd)
    app.command("run")(run_cmd)


def _space(items: list[str] | None) -> dict[str, Any]:
    """``--space fast=5:50`` (range), ``--space mode=a,b,c`` (choices)."""
    from harness.errors import InputError

    out: dict[str, Any] = {}
    for k, v in name_values(items, "--space").items():
        if ":" in v:
            parts = [parse_value(x) for x in v.split(":")]
            if len(parts) not in (2, 3) or any(isinstance(p, (str, bool)) for p in parts):
                raise InputError(f"--space {k}={v} must be LOW:HIGH or LOW:HIGH:STEP (numbers)")
            out[k] = {"low": parts[0], "high": parts[1], **({"step": parts[2]} if len(parts) == 3 else {})}
        else:
            out[k] = {"choices": [parse_value(x) for x in v.split(",")]}
    return out


def print_result(result: Any, console: Any) -> None:
    """Best params, out-of-sample metrics, DSR and PBO of an :class:`OptimizationResult`."""
    from rich.table import Table

    from harness.errors import InputError

    lin = result.lineage
    n_trials = len(result.trials)
    console.print(f"[bold]{lin['strategy']}[/] on {', '.join(lin['symbols'])} {lin['frequency']} "
                  f"{lin['start']} .. {lin['end']}  cv {lin['cv']} ({lin['n_folds']} folds)  "
                  f"study {lin['study_name']} ({n_trials} trials, {len(result.oos_returns)} complete)")
    if result.best_trial is None:
        console.print("[yellow]no complete trial yet[/]")
        return
    if result.pareto:
        table = Table(title="Pareto front", header_style="bold")
        table.add_column("trial")
        for o in result.objectives:
            table.add_column(o, justify="right")
        table.add_column("params")
        for p in result.pareto:
            table.add_row(str(p["number"]), *(f"{v:.4f}" for v in p["values"]),
                          ", ".join(f"{k}={_fmt(v)}" for k, v in p["params"].items()))
        console.print(table)
    table = Table(title=f"best trial #{result.best_trial}", header_style="bold")
    table.add_column("param")
    table.add_column("value", justify="right")
    for k, v in result.best_params.items():
        table.add_row(k, _fmt(v))
    console.print(table)
    metrics = Table(title="out-of-sample (all test folds, concatenated)", header_style="bold")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for k, v in result.oos_metrics().items():
        metrics.add_row(k, f"{v:.4f}")
    try:
        dsr = result.deflated_sharpe()
        metrics.add_row("deflated Sharpe (prob.)", f"{dsr:.4f}")
    except InputError as exc:
        metrics.add_row("deflated Sharpe (prob.)", f"n/a ({exc})")
    try:
        p = result.pbo()
        metrics.add_row("PBO (CSCV)", f"{p.pbo:.4f}  ({p.n_blocks} blocks, {p.n_combinations} combinations)")
        metrics.add_row("prob. of OOS loss", f"{p.prob_loss:.4f}")
    except InputError as exc:
        metrics.add_row("PBO (CSCV)", f"n/a ({exc})")
    console.print(metrics)


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def optimize_cmd(
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Registered strategy name.")],
    trials: Annotated[int, typer.Option("--trials", "-n", help="New trials to run (added to a resumed study).")] = 50,
    cv: Annotated[str, typer.Option("--cv", help="Validation scheme, e.g. walk-forward:train=2y,test=6m | "
                                    "purged-kfold:n_splits=5,embargo=10 | cpcv:n_groups=6,n_test_groups=2.")]
    = "walk-forward:train=2y,test=6m",
    symbols: Symbols = None,
    start: Start = None,
    end: End = None,
    frequency: Frequency = "1d",
    snapshot: Snapshot = None,
    objective: Annotated[list[str] | None, typer.Option("--objective", help="Metric to optimise: sharpe, sortino, "
                                                        "total_return, cagr, calmar, max_drawdown, ann_volatility; "
                                                        "repeat for multi-objective.")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name (resumes when it exists).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Fix a parameter NAME=VALUE.")] = None,
    space: Annotated[list[str] | None, typer.Option("--space", help="Search range NAME=LOW:HIGH[:STEP] or "
                                                    "NAME=a,b,c.")] = None,
    fee_rate: FeeRate = 0.0,
    slippage_bps: SlippageBps = 0.0,
    fixed_fee: FixedFee = 0.0,
    n_jobs: Annotated[int, typer.Option("--n-jobs", help="Parallel trials (threads).")] = 1,
    memory: Annotated[bool, typer.Option("--memory", help="Do not persist the study (in-memory storage).")] = False,
    dask: Dask = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="With --dask: trials asked per batch "
                                                   "(default: twice the workers).")] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna storage URL, e.g. "
                                                "postgresql+psycopg2://user:pw@host/db (default: the home SQLite).")]
    = None,
    track_run: Track = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary (best params, OOS metrics, DSR, PBO, "
                                          "lineage), folder and run_id as JSON.")] = False,
) -> None:
    """Search a strategy's parameters with Optuna, scored out of sample; prints best params, OOS metrics, DSR, PBO."""
    from rich.console import Console

    from harness._bars import load_bars
    from harness.cli._track import track
    from harness.config import paths
    from harness.engine import BacktestConfig
    from harness.optimize import optimize
    from harness.registry._tracking import log_optimization

    syms = split_symbols(symbols)
    bars = load_bars(syms, start=start, end=end, frequency=frequency, snapshot=snapshot)
    fixed = parse_params(param)
    objectives = tuple(objective or ["sharpe"])
    result = optimize(bars, strategy, n_trials=trials, objective=objectives[0] if len(objectives) == 1 else objectives,
                      cv=cv, storage=":memory:" if memory else storage, study_name=study, seed=seed, n_jobs=n_jobs,
                      dask=dask, batch_size=batch_size,
                      config=BacktestConfig(fee_rate=fee_rate, slippage_bps=slippage_bps, fixed_fee=fixed_fee),
                      search_space={**fixed, **_space(space)}, progress=True)
    console = Console(soft_wrap=True, stderr=as_json)
    if not as_json:
        print_result(result, console)
    folder = result.save(paths().ensure().results / "optimize" / result.lineage["study_name"])
    console.print(f"results written to {folder}")
    run_id = track(track_run, console, log_optimization, result, n_new_trials=trials, folder=folder)
    _summary_run_id(folder, run_id, as_json)


def run_cmd(
    spec: Annotated[Path, typer.Argument(help="Experiment TOML file, e.g. experiments/sma_spx_walkforward.toml.")],
    track_run: Track = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary, folder and run_id as JSON.")] = False,
) -> None:
    """Run an experiment file (data, strategy, search space, cv, objective, trials, costs) and save its results."""
    from rich.console import Console

    from harness.cli._track import track
    from harness.experiments import run_experiment
    from harness.registry._tracking import log_optimization

    run = run_experiment(spec, progress=True)
    console = Console(soft_wrap=True, stderr=as_json)
    if run.experiment.description:
        console.print(f"[bold]{run.experiment.name}[/]: {run.experiment.description}")
    if not as_json:
        print_result(run.result, console)
    console.print(f"results and lineage written to {run.folder}")
    run_id = track(track_run, console, log_optimization, run.result, kind="run", n_new_trials=run.n_new_trials,
                   folder=run.folder, tags={"harness.experiment": run.experiment.name,
                                            "harness.spec_sha256": run.experiment.spec_hash})
    _summary_run_id(run.folder, run_id, as_json)


def _summary_run_id(folder: Path, run_id: str | None, as_json: bool) -> None:
    """Record the run id in ``summary.json`` (results -> run); with ``--json`` print the summary."""
    import json

    path = Path(folder) / "summary.json"
    summary = json.loads(path.read_text())
    if run_id is not None:
        summary["run_id"] = run_id
        path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    if as_json:
        print(json.dumps({"run_id": run_id, "folder": str(folder), **{k: v for k, v in summary.items()
                                                                       if k != "run_id"}}, indent=2, default=str))
