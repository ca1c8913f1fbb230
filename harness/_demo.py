"""``make demo`` / ``harness demo``: the whole loop, as far as it exists, on the default home.

Each capability adds one step function to ``STEPS``; a step prints what it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

console = Console()


def _step_environment(ctx: dict) -> str:
    from harness import config

    paths = config.paths().ensure()
    ctx["paths"] = paths
    return f"home folder {paths.home}"


def _step_data(ctx: dict) -> str:
    from harness._bars import demo_step

    return demo_step(ctx)


def _step_backtest(ctx: dict) -> str:
    from harness.engine._demo import demo_step

    return demo_step(ctx)


def _step_report(ctx: dict) -> str:
    from harness.report._demo import demo_step

    return demo_step(ctx)


def _step_sweep(ctx: dict) -> str:
    from harness.sweep._demo import demo_step

    return demo_step(ctx)


def _step_mlp(ctx: dict) -> str:
    from harness.registry._tracking_demo import fit_run_step
    from strategies.ml._demo import demo_step

    return f"{demo_step(ctx)}; {fit_run_step(ctx)}"


def _step_features(ctx: dict) -> str:
    from harness._features_demo import demo_step

    return demo_step(ctx)


def _step_reproduce(ctx: dict) -> str:
    from harness.registry._tracking_demo import reproduce_step

    return reproduce_step(ctx)


def _step_optimize(ctx: dict) -> str:
    from harness.optimize._demo import demo_step

    return demo_step(ctx)


def _step_regime(ctx: dict) -> str:
    from harness.regime._demo import demo_step

    return demo_step(ctx)


def _step_deploy(ctx: dict) -> str:
    from harness.retrain._demo import demo_step

    return demo_step(ctx)


def _step_gate(ctx: dict) -> str:
    from harness.gate._demo import demo_step

    return demo_step(ctx)


def _step_paper(ctx: dict) -> str:
    from harness.paper._demo import demo_step

    return demo_step(ctx)


def _step_monitor(ctx: dict) -> str:
    from harness.monitor._demo import demo_step

    return demo_step(ctx)


def _step_loop(ctx: dict) -> str:
    from harness._loop_demo import demo_step

    return demo_step(ctx)


def _step_edge(ctx: dict) -> str:
    from harness._loop_demo import edge_step

    return edge_step(ctx)


def _step_deployment_report(ctx: dict) -> str:
    from harness.report._demo import deployment_step

    return deployment_step(ctx)


def _step_audit(ctx: dict) -> str:
    from harness.registry._demo import demo_step

    return demo_step(ctx)


STEPS: list[tuple[str, Callable[[dict], str]]] = [
    ("environment", _step_environment),
    ("bar store: sample data into the home store", _step_data),
    ("backtest: SMA crossover on the S&P 500 sample", _step_backtest),
    ("report: the backtest as one HTML page", _step_report),
    ("parameter sweep: fused Numba grid over SMA windows", _step_sweep),
    ("walk-forward optimisation (Optuna) with DSR and PBO", _step_optimize),
    ("volatility regimes (default detector) on the S&P 500 sample", _step_regime),
    ("trainable strategy (mlp): fit, save, reload", _step_mlp),
    ("feature store: the mlp features materialised beside the bars; the mlp fits from them", _step_features),
    ("lineage: rerun the backtest from its MLflow run", _step_reproduce),
    ("deployment: harness deploy spx_sma.toml, then retrain --if-regime-changed", _step_deploy),
    ("promotion gate: the deployment's decision; a snooped search refused", _step_gate),
    ("paper trading: the champion replayed through the paper runner = its backtest", _step_paper),
    ("monitors: inputs, decisions and data quality, trained 2004-2006, live 2007 and 2008", _step_monitor),
    ("the closed loop: 2008-2009 replayed into a live store, harness watch (detect, retrain, gate, swap, monitor)",
     _step_loop),
    ("SYNTHETIC market with a planted edge: the same loop and gate", _step_edge),
    ("registry and audit trail: deployments, verify the hash chain", _step_audit),  # after every step that audits
    ("deployment report: the loop's deployments, one HTML page each", _step_deployment_report),  # audits nothing
]


def run_demo(*, fast: bool = True, governed: bool = False) -> dict:
    ctx: dict = {"fast": fast, "governed": governed, "console": console}
    console.rule("[bold]harness demo")
    t_all = time.perf_counter()
    for i, (title, step) in enumerate(STEPS, 1):
        t0 = time.perf_counter()
        console.print(f"[bold cyan][{i}/{len(STEPS)}] {title}[/]")
        summary = step(ctx)
        console.print(f"    {summary}  [dim]({time.perf_counter() - t0:.1f}s)[/]")
    console.rule(f"demo finished in {time.perf_counter() - t_all:.1f}s")
    from harness.registry._tracking_demo import browse_hint

    for line in browse_hint():
        console.print(line, highlight=False, soft_wrap=True)
    loop = ctx.get("loop")
    if loop is not None:
        home = loop["home"]
        console.print(f"the loop's home: {home}; `harness --home {home} status`, `harness --home {home} audit log`")
        if loop["mode"] == "governed":
            version = loop.get("pending") or "VERSION"
            console.print(f"[bold]governed mode:[/] nothing was promoted; the challenger waits for a person. "
                          f"`harness --home {home} gate spx-sma {version}` shows its decision, and "
                          f"`harness --home {home} approve spx-sma {version} --by YOUR_NAME` promotes it "
                          "(not as demo-deployer: separation of duties)")
    report = ctx.get("deployment_report")
    if report is not None:
        console.print(f"[bold]the deployment's story:[/] {report}", highlight=False, soft_wrap=True)
    return ctx
