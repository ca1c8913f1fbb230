"""``harness demo`` end to end on a fresh home: every step runs, and the research steps'
printed numbers agree with their files and with the APIs run here on the same data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

# one worker runs every test of this module, so the demo (minutes) runs once per suite, not
# once per xdist worker (`make test` distributes with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import os
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("demo-home")
    proc = subprocess.run([sys.executable, "-m", "harness", "demo"], capture_output=True, text=True, timeout=3000,
                          env={**os.environ, "HARNESS_HOME": str(home), "COLUMNS": "400"})
    return home, proc, " ".join(proc.stdout.split())


def test_the_demo_tests_share_one_worker(request):
    """Under ``--dist loadgroup`` (``make test``) every test here carries the ``demo`` group, so
    one worker runs them all and the demo once (pytest 9.2 breaks this: pytest-xdist#1386)."""
    if getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith("@demo"), request.node.nodeid


def _number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in the demo's output"
    return float(m.group(1))


@pytest.mark.slow
def test_every_demo_step_runs_and_the_demo_finishes(demo):
    from harness._demo import STEPS

    _, proc, out = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    for i, (title, _) in enumerate(STEPS, 1):
        assert f"[{i}/{len(STEPS)}] {' '.join(title.split())}" in out
    assert "demo finished in" in out


@pytest.mark.slow
def test_the_demo_backtest_is_the_api_backtest_of_the_stored_sample(demo):
    from harness.engine import BacktestConfig, backtest
    from market_data import samples

    home, _, out = demo
    res = backtest(samples.load("SPX"), "sma_crossover", {"fast": 20, "slow": 100},
                   config=BacktestConfig(fee_rate=0.0005, slippage_bps=1.0))
    s = res.stats
    assert _number(r"sma_crossover\(20, 100\) on SPX 5031 bars: total return (-?[\d.]+)%", out) == \
        pytest.approx(s["Total Return [%]"], abs=0.05)
    assert _number(r"Sharpe (-?[\d.]+), max drawdown", out) == pytest.approx(s["Sharpe Ratio"], abs=0.005)
    assert int(_number(r"(\d+) trades; results in", out)) == s["Number of Trades"] > 10
    equity = pd.read_csv(home / "results" / "demo-backtest" / "equity.csv", index_col=0)
    np.testing.assert_allclose(equity.iloc[:, 0].to_numpy(), res.equity.to_numpy(), rtol=1e-12)
    trades = pd.read_csv(home / "results" / "demo-backtest" / "trades.csv")
    assert len(trades) == len(res.trades)
    assert (home / "results" / "demo-backtest" / "backtest.html").stat().st_size > 10_000


@pytest.mark.slow
def test_the_demo_sweep_table_agrees_with_backtests_and_its_printed_best(demo):
    from harness.engine import BacktestConfig, backtest
    from market_data import samples

    home, _, out = demo
    table = pd.read_csv(home / "results" / "demo-sweep" / "results.csv")
    assert len(table) == 100 == int(_number(r"(\d+) sma_crossover combinations on SPX", out))
    best = table.loc[table["sharpe"].idxmax()]
    assert _number(r"best in-sample Sharpe (-?[\d.]+) at", out) == pytest.approx(best["sharpe"], abs=0.005)
    bars = samples.load("SPX")
    for fast, slow in ((int(best["fast"]), int(best["slow"])), (20, 100), (5, 240)):
        row = table[(table["fast"] == fast) & (table["slow"] == slow)].iloc[0]
        s = backtest(bars, "sma_crossover", {"fast": fast, "slow": slow}, config=BacktestConfig(fee_rate=0.0005)).stats
        assert row["sharpe"] == pytest.approx(s["Sharpe Ratio"], rel=1e-9, abs=1e-12)
        assert row["total_return"] == pytest.approx(s["Total Return [%]"] / 100, rel=1e-9, abs=1e-12)


@pytest.mark.slow
def test_the_demo_study_is_stored_in_the_home_with_the_printed_trials(demo):
    import optuna

    home, _, out = demo
    n = int(_number(r"(\d+) trials \(\d+ complete\) in study demo-sma-spx-walkforward", out))
    study = optuna.load_study(study_name="demo-sma-spx-walkforward", storage=f"sqlite:///{home / 'optuna.db'}")
    assert len(study.trials) == n == 15
    line = out[out.index("in study demo-sma-spx-walkforward"):][:300]
    assert 0.0 <= _number(r"DSR (-?[\d.]+),", line) <= 1.0
    assert 0.0 <= _number(r"PBO (-?[\d.]+)", line) <= 1.0


@pytest.mark.slow
def test_the_demo_regime_step_finds_autumn_2008_and_resumes_streaming_exactly(demo):
    _, _, out = demo
    assert re.search(r"cusum: \d+ changes, \d+ retrain triggers, \d+% of days high-vol; "
                     r"autumn-2008 detection 2008-09-29", out), out
    assert "streaming resume == batch" in out


@pytest.mark.slow
def test_the_demo_ends_by_writing_the_loops_deployment_report(demo):
    from harness.report import PANELS

    home, proc, out = demo
    path = home / "reports" / "demo-deployment-spx-sma.html"
    assert f"the deployment's story: {path}" in out
    assert out.rstrip().endswith(str(path))
    html = path.read_text(encoding="utf-8")
    assert re.findall(r'data-panel="([a-z_]+)"', html) == list(PANELS["deployment"])
    assert "Deployment: spx-sma" in html and "retrain triggered" in html  # the loop's retrains, from its trail


@pytest.mark.slow
def test_the_demo_synthetic_edge_market_promotes_and_swaps_under_the_default_gate(demo):
    home, _, out = demo
    m = re.search(r"SYNTHETIC \(planted edge; the volatility regime and the edge change at bar 1050 of 1460\): "
                  r"(\d+) retrains; (\d+) champion swap\(s\), (\d+) bars paper-traded", out)
    assert m, out[-4000:]
    assert int(m.group(1)) >= 2 and int(m.group(2)) >= 1 and int(m.group(3)) == 460
    html = (home / "reports" / "demo-deployment-synthetic-edge.html").read_text(encoding="utf-8")
    assert "Deployment: synthetic-edge" in html and "promotion" in html


@pytest.mark.slow
def test_the_demo_loop_retrains_on_the_autumn_2008_change_and_prints_its_check_table(demo):
    _, _, out = demo
    assert "2008-09-29 regime_change: retraining spx-sma in a child process" in out
    assert re.search(r"watched to 2009-12-31: .*?\d+ retrains \(first regime change 2008-09-29\)", out), out[-3000:]
    m = re.search(r"gate check table of v(\d+), the challenger of the 2008-09-29 retrain: (promote|reject)", out)
    assert m, out[-3000:]
    for check in ("oos_improvement", "deflated_sharpe", "pbo", "min_trades"):
        assert check in out[m.end():m.end() + 3000]


@pytest.mark.slow
def test_the_demo_mlp_fits_from_the_features_it_materialised_beside_the_bars(demo):
    from market_data.features import FeatureStore
    from market_data.store import BarStore

    home, _, out = demo
    m = re.search(r"mlp features materialised from snapshot (\w+) as commit (\w+) \((\d+) bars x (\d+) symbols x 9, "
                  r"full, [\d.]+s\); the mlp fit read them \((\d+) read\(s\) from the store, 0 computed\); the same "
                  r"weights as the fit on features computed on the fly", out)
    assert m, out
    stored = {s.snapshot_id: s for s in FeatureStore(BarStore.open(home / "data")).list("mlp")}
    assert m.group(2) in stored and stored[m.group(2)].source_snapshot == m.group(1)
    assert (stored[m.group(2)].rows, stored[m.group(2)].symbols) == (int(m.group(3)), int(m.group(4)))
    assert int(m.group(5)) >= 1
