"""``harness sweep``: a parameter grid on stored bars; prints the top rows, saves the full table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._options import (
    Dask,
    End,
    FeeRate,
    Fill,
    FixedFee,
    Frequency,
    InitCash,
    Leverage,
    LongOnly,
    RebalanceEvery,
    SlippageBps,
    Snapshot,
    Start,
    StopLoss,
    Symbols,
    TakeProfit,
    TrailingStop,
    WholeUnits,
    backtest_config,
    split_symbols,
)
from harness.cli._track import Track


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_cmd)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}"
    return str(v)


def sweep_cmd(
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Registered strategy name.")],
    grid: Annotated[list[str], typer.Option("--grid", "-g", help="Axis NAME=START:STOP:STEP (inclusive), "
                                            "NAME=a,b,c or NAME=value (repeatable).")],
    symbols: Symbols = None,
    start: Start = None,
    end: End = None,
    frequency: Frequency = "1d",
    snapshot: Snapshot = None,
    top: Annotated[int, typer.Option("--top", help="Rows to print.")] = 10,
    sort: Annotated[str, typer.Option("--sort", help="Metric to rank by.")] = "sharpe",
    ascending: Annotated[bool, typer.Option("--ascending", help="Rank smallest first.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="parquet (default) or csv.")] = "parquet",
    init_cash: InitCash = 100_000.0,
    fee_rate: FeeRate = 0.0,
    fixed_fee: FixedFee = 0.0,
    slippage_bps: SlippageBps = 0.0,
    fill: Fill = "next_open",
    whole_units: WholeUnits = False,
    leverage: Leverage = 1.0,
    long_only: LongOnly = False,
    stop_loss: StopLoss = None,
    take_profit: TakeProfit = None,
    trailing_stop: TrailingStop = None,
    rebalance_every: RebalanceEvery = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    dask: Dask = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: <home>/results/sweep-...).")]
    = None,
    track_run: Track = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the top rows, lineage, folder and run_id as JSON.")]
    = False,
) -> None:
    """Sweep a strategy's parameter grid on bars from the home store (fused parallel kernel)."""
    import json
    import math
    import time
    import warnings

    from rich.console import Console
    from rich.table import Table

    from harness._bars import load_bars
    from harness.cli._track import add_run_id, track
    from harness.config import paths
    from harness.errors import InputError
    from harness.sweep import METRICS, parse_grid, sweep

    if fmt not in ("parquet", "csv"):
        raise InputError(f"--format must be parquet or csv, got {fmt!r}")
    if sort not in METRICS:
        raise InputError(f"--sort {sort!r} is not a metric; choose from {', '.join(METRICS)}")
    if top < 0:
        raise InputError(f"--top must be >= 0, got {top}")
    cfg = backtest_config(init_cash=init_cash, fee_rate=fee_rate, fixed_fee=fixed_fee, slippage_bps=slippage_bps,
                          fill=fill, whole_units=whole_units, leverage=leverage, long_only=long_only,
                          stop_loss=stop_loss, take_profit=take_profit, trailing_stop=trailing_stop,
                          rebalance_every=rebalance_every)
    axes = parse_grid(grid)
    syms = split_symbols(symbols)
    bars = load_bars(syms, start=start, end=end, frequency=frequency, snapshot=snapshot)
    console = Console(stderr=as_json)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = sweep(bars, strategy, axes, config=cfg, progress=progress, dask=dask)
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}")
    a = df.attrs
    lin = a["lineage"]
    console.print(f"[bold]{a['strategy']}[/] sweep: {len(df)} of {a['n_combinations']} combinations on "
                  f"{', '.join(bars.symbols)} {bars.frequency} {lin['start']} .. {lin['end']} ({bars.n_bars} bars, "
                  f"snapshot {lin['snapshot_id']}) in {a['elapsed_s']:.2f}s"
                  + ("  [red](interrupted)[/]" if a["interrupted"] else ""))
    if a.get("dask"):
        d = a["dask"]
        console.print(f"on Dask: {d['workers']} workers, {d['tasks']} tasks of {d['chunk_size']} combinations "
                      f"(median task {d['task_s_median']:.2f}s)")
    ranked = df.sort_values(sort, ascending=ascending, na_position="last")
    shown = [k for k in axes] + [m for m in ("sharpe", "total_return", "max_drawdown", "cagr", "n_orders")
                                 if m in df.columns]
    if sort not in shown:
        shown.append(sort)
    table = Table(show_header=True, header_style="bold")
    table.add_column("#", justify="right")
    for c in shown:
        table.add_column(c, justify="right")
    for i, (_, row) in enumerate(ranked.head(top).iterrows(), 1):
        table.add_row(str(i), *(_fmt(row[c]) for c in shown))
    if not as_json:
        console.print(table)

    if out is None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out = paths().ensure().results / f"sweep-{a['strategy']}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / f"results.{fmt}"
    if fmt == "parquet":
        df.to_parquet(table_path, index=False)
    else:
        df.to_csv(table_path, index=False)

    def _clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        return v

    lineage = {**lin, "metrics": a["metrics"], "sort": sort, "n_combinations": a["n_combinations"],
               "n_rows": len(df), "skipped": a["skipped"], "interrupted": a["interrupted"],
               "elapsed_s": round(a["elapsed_s"], 3), "best": {k: _clean(v.item() if hasattr(v, "item") else v)
                                                              for k, v in ranked.iloc[0].items()} if len(df) else None}
    (out / "lineage.json").write_text(json.dumps(lineage, indent=2, default=str))
    console.print(f"wrote {len(df)} rows to {table_path} and lineage to {out / 'lineage.json'}")
    from harness.registry._tracking import log_sweep

    run_id = track(track_run and not a["interrupted"], console, log_sweep, df, sort=sort, ascending=ascending,
                   folder=out)
    add_run_id(out, run_id)
    if as_json:
        top_rows = [{k: _clean(v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                    for _, row in ranked.head(top).iterrows()]
        print(json.dumps({"run_id": run_id, "folder": str(out), "top": top_rows, "lineage": lineage}, indent=2,
                         default=str))
    if a["interrupted"]:
        raise typer.Exit(130)
