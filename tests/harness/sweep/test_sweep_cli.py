"""``harness sweep`` end to end against a temporary home store."""

from __future__ import annotations

import json

import pandas as pd


def test_sweep_prints_top_rows_and_saves_table_with_lineage(run_cli, stored_bars, harness_home):
    proc = run_cli("sweep", "--strategy", "sma_crossover", "--grid", "fast=5:50:5", "--grid", "slow=20:60:20",
                   "--symbols", "AAA,BBB", "--top", "3", "--sort", "total_return", "--fee-rate", "0.001",
                   "--no-progress", check=True)
    assert "sma_crossover sweep: 20 of 30 combinations" in proc.stdout
    assert "skipped 10 of 30" in proc.stdout
    outs = list((harness_home / "results").glob("sweep-sma_crossover-*"))
    assert len(outs) == 1
    df = pd.read_parquet(outs[0] / "results.parquet")
    assert len(df) == 20 and (df["fast"] < df["slow"]).all()
    lineage = json.loads((outs[0] / "lineage.json").read_text())
    assert lineage["snapshot_id"] and lineage["grid"]["fast"] == list(range(5, 55, 5))
    assert lineage["config"]["fee_rate"] == 0.001 and len(lineage["skipped"]) == 10
    best = df.sort_values("total_return", ascending=False).iloc[0]
    assert lineage["best"]["fast"] == best["fast"] and lineage["best"]["slow"] == best["slow"]
    # the top row printed is the best by the sort metric
    table_rows = [line for line in proc.stdout.splitlines() if line.strip().startswith("│ 1 ")]
    assert table_rows and f"{best['total_return']:,.4f}" in table_rows[0]


def test_sweep_csv_output_and_one_line_errors(run_cli, stored_bars, harness_home, tmp_path):
    out = tmp_path / "sw"
    run_cli("sweep", "-s", "donchian_breakout", "-g", "entry=10,20", "-g", "exit=5", "--format", "csv",
            "--out", str(out), "--no-progress", check=True)
    assert len(pd.read_csv(out / "results.csv")) == 2
    bad = run_cli("sweep", "-s", "sma_crossover", "-g", "fats=5:10")
    assert bad.returncode == 2 and "did you mean 'fast'" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("sweep", "-s", "sma_crossover", "-g", "fast=5:1")
    assert bad.returncode == 2 and "below start" in bad.stderr
    bad = run_cli("sweep", "-s", "mlp", "-g", "hidden=8")
    assert bad.returncode == 2 and "no Numba kernel" in bad.stderr
