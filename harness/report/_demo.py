"""``harness demo`` steps: the backtest's HTML report, and the demo deployment's report (one page each)."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    from harness.config import paths
    from harness.report import backtest_report

    path = backtest_report(ctx["backtest"], paths().ensure().home / "reports" / "demo-backtest.html")
    ctx["report"] = path
    return f"report of the backtest (equity vs buy and hold, trades, monthly returns, regimes, lineage): {path}"


def deployment_step(ctx: dict) -> str:
    """The closed loop's deployments (``<home>/loop``; the home's own ``spx-sma`` when the loop did not
    run) as one page each: the synthetic edge market's (promotions, a swap, paper equity), then
    ``spx-sma``'s, whose path ends the demo."""
    from harness.config import paths
    from harness.report import deployment_report

    reports = paths().ensure().home / "reports"
    out = reports / "demo-deployment-spx-sma.html"
    loop = ctx.get("loop")
    edge = None
    if loop is not None:
        from harness._loop_demo import _home

        with _home(loop["home"]):
            if ctx.get("edge") is not None:
                edge = deployment_report("synthetic-edge", reports / "demo-deployment-synthetic-edge.html")
            path = deployment_report("spx-sma", out)
    else:
        path = deployment_report("spx-sma", out)
    ctx["deployment_report"] = path
    first = f"synthetic-edge (promotions, the swap, paper vs backtest): {edge}; " if edge is not None else ""
    return (f"reports of the deployments (timeline, gate check tables, paper vs backtest, alerts, regimes, "
            f"lineage): {first}spx-sma: {path}")
