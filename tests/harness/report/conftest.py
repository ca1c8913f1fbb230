"""Report fixtures: a 20-year daily backtest of the S&P 500 sample, and headless Chromium."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # browser.py, shared with the docs screenshot

import browser  # noqa: E402


@pytest.fixture(scope="module")
def spx_result():
    from harness import backtest
    from market_data import samples

    return backtest(samples.load("SPX"), "sma_crossover", {"fast": 20, "slow": 100})


@pytest.fixture
def chromium():
    """Debian's chromium + chromedriver; skipped with the reason where missing, a failure under CI."""
    found = browser.find_chromium()
    if found is None:
        msg = ("headless Chromium is not installed: `apt-get install -y chromium chromium-driver` "
               "(Debian packages) to run the browser tests")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " [CI=true: a missing service fails the run]")
        pytest.skip(msg)
    return found


# ----------------------------------------------------------------------------- deployments
REPO = Path(__file__).resolve().parents[3]
SMA = ("sma_crossover", {"fast": 5, "slow": 20})
DONCHIAN = ("donchian_breakout", {"entry": 15, "exit": 7})
PAPER_FROM, SWAP_AT = 150, 280  # bars of stored_bars: paper-traded from, v2 takes over at


def deployment_spec(name: str) -> str:
    """The shipped spx_sma spec, renamed and pointed at the test bars (AAA, BBB)."""
    text = (REPO / "experiments" / "deployments" / "spx_sma.toml").read_text()
    return (text.replace('name = "spx-sma"', f'name = "{name}"').replace('symbols = ["SPX"]', 'symbols = ["AAA", "BBB"]')
            .replace('start = "1999-01-01"\n', ""))


def decision(outcome: str, *, sharpe: float, threshold: float = 0.5) -> dict:
    """A gate decision (``harness.gate.Decision.to_dict()``) with two checks."""
    from datetime import UTC, datetime

    from harness.gate import CheckResult, Decision

    checks = (CheckResult("holdout_sharpe", sharpe >= threshold, sharpe, threshold, "holdout Sharpe of the candidate",
                          op=">="),
              CheckResult("pbo", True, 0.2, 0.5, "probability of backtest overfitting", op="<="))
    return Decision(outcome=outcome, checks=checks, reasons=(f"holdout_sharpe {sharpe} vs {threshold}",),
                    evidence_digest="e" * 64, time=datetime.now(UTC).isoformat(), policy={"mode": "auto"}).to_dict()


def register(reg, bars, name: str, strategy, *, explain: bool = False) -> object:
    """Register ``strategy`` (name, params) on ``bars``; ``explain``: with its attributions on the last 100 bars."""
    from harness import BacktestConfig
    from harness._bars import home_store

    config = BacktestConfig(fee_rate=0.001, size_granularity=1.0)
    att = None
    if explain:
        import numpy as np

        from harness.explain import attributions

        n = bars.n_bars
        att = attributions(strategy[0], strategy[1], bars, folds=[np.arange(n - 100, n - 50), np.arange(n - 50, n)],
                           config=config, seed=1, n_repeats=2)
    return reg.register(name, strategy=strategy[0], params=strategy[1], config=config, symbols=list(bars.symbols),
                        frequency="1d", snapshot_id=home_store().resolve(), data_digest=bars.digest(), seed=1,
                        attributions=att)


@pytest.fixture
def traded_deployment(stored_bars):
    """Deployment ``dep``: v1 promoted and paper-traded from bar 150, v2 promoted at bar 280 (the runner
    swaps), v3 (with attributions) rejected by the gate; one monitor alert. Returns (registry, name)."""
    from harness.monitor import Alert, JsonlSink, alerts_path
    from harness.paper import PaperRunner, ReplayFeed
    from harness.registry import Registry

    reg = Registry.open()
    name = "dep"
    reg.create_deployment(name, mode="auto", baseline="cash", spec=deployment_spec(name), spec_hash="h1", by="alice")
    v1 = register(reg, stored_bars, name, SMA)
    reg.promote(name, v1.version, decision=reg.record_decision(name, v1.version, decision("promote", sharpe=1.1)))
    runner = PaperRunner(name, feed=ReplayFeed(stored_bars[PAPER_FROM:], history=stored_bars[:PAPER_FROM]),
                         registry=reg, swap_check_every=0.0)
    seen = []

    def on_bar(res):
        seen.append(res.time)
        if len(seen) == SWAP_AT - PAPER_FROM:  # promoted after this bar: the next bar trades v2
            v2 = register(reg, stored_bars, name, DONCHIAN)
            reg.promote(name, v2.version,
                        decision=reg.record_decision(name, v2.version, decision("promote", sharpe=0.9)))

    runner.run(on_bar=on_bar)
    runner.close()
    v3 = register(reg, stored_bars, name, ("sma_crossover", {"fast": 3, "slow": 40}), explain=True)
    reg.record_decision(name, v3.version, decision("reject", sharpe=0.1))
    JsonlSink(alerts_path(name)).send(Alert(name, "tracking_error", "alert", "max_gap", 0.05, 0.01,
                                            (0, 10), int(stored_bars.timestamps[300])))
    return reg, name


# ----------------------------------------------------------------------------- sweeps and retrains
SWEEP_GRID = {"fast": [3, 5, 8], "slow": [20, 30, 40, 60]}


@pytest.fixture
def tracked_sweep(stored_bars):
    """A sweep of sma_crossover over (fast, slow) on the home store's AAA, BBB, logged as an MLflow run."""
    from harness._bars import load_bars
    from harness.sweep import sweep

    df = sweep(load_bars(["AAA", "BBB"]), "sma_crossover", SWEEP_GRID, progress=False, track=True)
    assert df.attrs["run_id"]
    return df


def _retrain_helpers():
    """tests/harness/retrain/_helpers.py (the retrain tests' small spec over synthetic bars)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrain_helpers", REPO / "tests" / "harness" / "retrain" /
                                                  "_helpers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def retrained(harness_home, tmp_path):
    """``harness deploy`` of the retrain tests' syn-sma spec (4 trials) on synthetic bars: one retrain,
    logged as an MLflow run of kind retrain, with a gate decision on its challenger. Returns the
    FlowOutcome (``.result.run_id`` is the retrain's run)."""
    from harness.retrain._flow import deploy

    helpers = _retrain_helpers()
    bars, _ = helpers.synthetic()
    helpers.store(bars[:1300])
    path = tmp_path / "syn.toml"
    path.write_text(helpers.spec_text(trials=4))
    out = deploy(path, by="alice")
    assert out.result.run_id and out.decision is not None
    return out
