"""``harness backtest`` end to end against a temporary home store."""

from __future__ import annotations

import json

import pandas as pd
import pytest


def test_backtest_prints_stats_and_writes_equity_and_trades(run_cli, stored_bars, harness_home, tmp_path):
    plot = tmp_path / "bt.html"
    proc = run_cli("backtest", "--strategy", "sma_crossover", "--symbols", "AAA,BBB", "--param", "fast=5",
                   "--param", "slow=20", "--fee-rate", "0.001", "--plot", str(plot), check=True)
    assert "Sharpe Ratio" in proc.stdout and "Total Fees" in proc.stdout
    outs = list((harness_home / "results").glob("backtest-sma_crossover-*"))
    assert len(outs) == 1
    eq = pd.read_csv(outs[0] / "equity.csv", index_col=0)
    assert len(eq) == stored_bars.n_bars and eq["equity"].iloc[0] == pytest.approx(100_000, rel=0.01)
    trades = pd.read_csv(outs[0] / "trades.csv")
    assert len(trades) > 0 and {"entry_time", "exit_price", "pnl", "exit_reason"} <= set(trades.columns)
    lineage = json.loads((outs[0] / "lineage.json").read_text())
    assert lineage["params"]["fast"] == 5 and lineage["snapshot_id"]
    assert plot.exists() and plot.stat().st_size > 1000


def test_backtest_with_bad_param_prints_one_line_error(run_cli, stored_bars):
    proc = run_cli("backtest", "--strategy", "sma_crossover", "--param", "fats=5")
    assert proc.returncode == 2
    assert "fats" in proc.stderr and "did you mean 'fast'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_backtest_with_out_of_range_fee_is_refused(run_cli, stored_bars):
    proc = run_cli("backtest", "--strategy", "sma_crossover", "--fee-rate", "2")
    assert proc.returncode == 2 and "fee_rate" in proc.stderr
