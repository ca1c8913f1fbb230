"""The optimisation step of ``harness demo``: a walk-forward Optuna search with DSR and PBO."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """Optimise the SMA crossover on the S&P 500 sample, walk-forward 4y/1y, in the home study storage."""
    from harness._bars import load_bars
    from harness.engine import BacktestConfig
    from harness.optimize import optimize
    from harness.validation import WalkForward

    bars = load_bars(["SPX"])  # the home store's copy: the run records its snapshot
    n_trials = 15 if ctx.get("fast", True) else 60
    res = optimize(bars, "sma_crossover", n_trials=n_trials, cv=WalkForward("4y", "1y"), seed=0,
                   study_name="demo-sma-spx-walkforward", search_space={"long_short": False},
                   config=BacktestConfig(fee_rate=0.0005), progress=False, track=True)
    ctx["optimization"] = res
    m = res.oos_metrics()
    pbo = res.pbo().pbo if len(res.oos_returns) >= 2 else float("nan")
    params = ", ".join(f"{k}={v}" for k, v in res.best_params.items())
    return (f"{len(res.trials)} trials ({len(res.oos_returns)} complete) in study {res.lineage['study_name']}; "
            f"best {params}: OOS Sharpe {m['sharpe']:.2f}, max drawdown {m['max_drawdown']:.1%}, "
            f"DSR {res.deflated_sharpe():.2f}, PBO {pbo:.2f}; MLflow run {res.lineage.get('run_id')}")
