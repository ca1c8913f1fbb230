"""Every built-in strategy runs through the backtest engine and the ``harness backtest`` command."""

from __future__ import annotations

import numpy as np
import pytest

from market_data import samples

BUILTINS = ["sma_crossover", "bollinger_reversion", "donchian_breakout", "vol_target_momentum",
            "xs_momentum", "sma_reversal"]


def test_every_builtin_strategy_backtests_on_real_samples():
    from harness import BacktestConfig, backtest

    for name in BUILTINS:
        bars = samples.load_group("stocks") if name == "xs_momentum" else samples.load("SPX")[-2000:]
        res = backtest(bars, name, config=BacktestConfig(leverage=2.0))
        assert np.isfinite(res.equity_values).all(), name
        assert len(res.order_records) > 0, name
        assert name in str(res.lineage), name


@pytest.mark.slow
def test_harness_backtest_cli_runs_every_builtin(run_cli):
    run_cli("data", "samples", check=True)
    for name in BUILTINS:
        symbols = "AAPL,IBM,MSFT,GOOG" if name == "xs_momentum" else "SPX"
        proc = run_cli("backtest", "--strategy", name, "--symbols", symbols, check=True)
        assert "Sharpe Ratio" in proc.stdout, name
