"""``harness backtest``: run one strategy on stored bars, print its stats, save equity and trades."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._options import (
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
    parse_params,
    split_symbols,
)
from harness.cli._track import Track


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest_cmd)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1e6 else f"{v:,.2f}"
    return str(v)


def backtest_cmd(
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Registered strategy name.")],
    symbols: Symbols = None,
    start: Start = None,
    end: End = None,
    frequency: Frequency = "1d",
    snapshot: Snapshot = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Strategy parameter NAME=VALUE "
                                                    "(repeatable).")] = None,
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
    plot: Annotated[Path | None, typer.Option("--plot", help="Save the plot (equity, drawdown, trades) as HTML.")]
    = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: <home>/results/backtest-...).")]
    = None,
    track_run: Track = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print stats, lineage, folder and run_id as JSON.")] = False,
) -> None:
    """Backtest a strategy on bars from the home store; prints stats, writes equity/trades/orders CSV."""
    import json
    import time

    from rich.console import Console
    from rich.table import Table

    from harness._bars import load_bars
    from harness.cli._track import add_run_id, track
    from harness.config import paths
    from harness.engine import backtest

    cfg = backtest_config(init_cash=init_cash, fee_rate=fee_rate, fixed_fee=fixed_fee, slippage_bps=slippage_bps,
                          fill=fill, whole_units=whole_units, leverage=leverage, long_only=long_only,
                          stop_loss=stop_loss, take_profit=take_profit, trailing_stop=trailing_stop,
                          rebalance_every=rebalance_every)
    syms = split_symbols(symbols)
    bars = load_bars(syms, start=start, end=end, frequency=frequency, snapshot=snapshot)
    t0 = time.perf_counter()
    res = backtest(bars, strategy, parse_params(param), config=cfg)
    stats = res.stats
    elapsed = time.perf_counter() - t0

    console = Console(stderr=as_json)
    lin = res.lineage
    params_txt = ", ".join(f"{k}={v}" for k, v in (lin["params"] or {}).items())
    console.print(f"[bold]{lin['strategy']}[/]({params_txt}) on {', '.join(bars.symbols)} {bars.frequency} "
                  f"{lin['start']} .. {lin['end']}  ({bars.n_bars} bars, snapshot {lin['snapshot_id']}, "
                  f"{elapsed:.2f}s)")
    table = Table(show_header=True, header_style="bold")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for k, v in stats.items():
        table.add_row(str(k), _fmt(v))
    if not as_json:
        console.print(table)

    if out is None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out = paths().ensure().results / f"backtest-{lin['strategy']}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    res.equity.to_frame().join(res.cash).to_csv(out / "equity.csv")
    res.trades.drop(columns=["entry_idx", "exit_idx"]).to_csv(out / "trades.csv", index=False)
    res.orders.drop(columns=["idx"]).to_csv(out / "orders.csv", index=False)
    res.positions.to_csv(out / "positions.csv")
    (out / "stats.json").write_text(json.dumps({k: _json(v) for k, v in stats.items()}, indent=2))
    (out / "lineage.json").write_text(json.dumps(lin, indent=2, default=str))
    console.print(f"wrote equity, trades, orders, positions, stats and lineage to {out}")
    if plot is not None:
        res.plot().write_html(str(plot), include_plotlyjs="cdn")
        console.print(f"plot saved to {plot}")
    from harness.registry._tracking import log_backtest

    run_id = track(track_run, console, log_backtest, res, folder=out)
    add_run_id(out, run_id)
    if as_json:
        print(json.dumps({"run_id": run_id, "folder": str(out), "stats": {k: _json(v) for k, v in stats.items()},
                          "lineage": lin}, indent=2, default=str))


def _json(v: Any) -> Any:
    import math

    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v
