"""``harness demo`` step: a fused parameter sweep of the SMA crossover on the S&P 500 sample."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """Sweep fast x slow windows, save the table with its lineage, report the best rows."""
    import json
    import time

    from harness._bars import home_store, load_bars
    from harness.config import paths
    from harness.engine import BacktestConfig
    from harness.sweep._sweep import sweep

    symbols = home_store().symbols("1d")
    symbol = "SPX" if "SPX" in symbols else symbols[0]
    bars = load_bars([symbol])
    grid = {"fast": list(range(5, 55, 5)), "slow": list(range(60, 260, 20))}
    t0 = time.perf_counter()
    table = sweep(bars, "sma_crossover", grid, config=BacktestConfig(fee_rate=0.0005), progress=False,
                  track=True)
    elapsed = time.perf_counter() - t0
    out = paths().ensure().results / "demo-sweep"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "results.csv", index=False)
    (out / "lineage.json").write_text(json.dumps(table.attrs.get("lineage", {}), indent=2, default=str))
    best = table.sort_values("sharpe", ascending=False).iloc[0]
    ctx["sweep"] = table
    return (f"{len(table)} sma_crossover combinations on {symbol} ({bars.n_bars} bars) in {elapsed:.2f}s; "
            f"best in-sample Sharpe {best['sharpe']:.2f} at fast={int(best['fast'])}, slow={int(best['slow'])} "
            f"(in-sample: the optimisation step below scores out of sample); table in {out}; "
            f"MLflow run {table.attrs.get('run_id')}")
