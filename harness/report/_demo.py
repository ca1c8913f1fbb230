"""``harness demo`` step: the backtest's HTML report (one self-contained page)."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    from harness.config import paths
    from harness.report import backtest_report

    path = backtest_report(ctx["backtest"], paths().ensure().home / "reports" / "demo-backtest.html")
    ctx["report"] = path
    return f"report of the backtest (equity vs buy and hold, trades, monthly returns, regimes, lineage): {path}"
