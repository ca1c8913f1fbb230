"""``harness demo`` steps: the backtest's HTML report, and the demo deployment's report (one page each)."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    from harness.config import paths
    from harness.report import backtest_report

    path = backtest_report(ctx["backtest"], paths().ensure().home / "reports" / "demo-backtest.html")
    ctx["report"] = path
    return f"report of the backtest (equity vs buy and hold, trades, monthly returns, regimes, lineage): {path}"


def deployment_step(ctx: dict) -> str:
    """The closed loop's ``spx-sma`` (``<home>/loop``; the home's own when the loop did not run) as one page."""
    from harness.config import paths
    from harness.report import deployment_report

    out = paths().ensure().home / "reports" / "demo-deployment-spx-sma.html"
    loop = ctx.get("loop")
    if loop is not None:
        from harness._loop_demo import _home

        with _home(loop["home"]):
            path = deployment_report("spx-sma", out)
    else:
        path = deployment_report("spx-sma", out)
    ctx["deployment_report"] = path
    return (f"report of deployment spx-sma (timeline, gate check tables, paper vs backtest, alerts, regimes, "
            f"lineage): {path}")
