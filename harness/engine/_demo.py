"""``harness demo`` step: one backtest of a built-in strategy on the home store's sample data."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """Backtest SMA 20/100 on the S&P 500 sample (or the first daily symbol); save results and plot."""
    import json

    from harness._bars import home_store, load_bars
    from harness.config import paths
    from harness.engine import BacktestConfig, backtest

    symbols = home_store().symbols("1d")
    symbol = "SPX" if "SPX" in symbols else symbols[0]
    bars = load_bars([symbol])
    res = backtest(bars, "sma_crossover", {"fast": 20, "slow": 100},
                   config=BacktestConfig(fee_rate=0.0005, slippage_bps=1.0), track=True)
    out = paths().ensure().results / "demo-backtest"
    out.mkdir(parents=True, exist_ok=True)
    res.equity.to_frame().join(res.cash).to_csv(out / "equity.csv")
    res.trades.to_csv(out / "trades.csv", index=False)
    (out / "lineage.json").write_text(json.dumps(res.lineage, indent=2, default=str))
    res.plot().write_html(str(out / "backtest.html"), include_plotlyjs="cdn")
    s = res.stats
    ctx["backtest"] = res
    return (f"sma_crossover(20, 100) on {symbol} {bars.n_bars} bars: total return {s['Total Return [%]']:.1f}%, "
            f"Sharpe {s['Sharpe Ratio']:.2f}, max drawdown {s['Max Drawdown [%]']:.1f}%, "
            f"{s['Number of Trades']} trades; results in {out}; MLflow run {res.run_id}")
