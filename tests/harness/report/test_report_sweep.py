"""The sweep report: a tracked sweep's table, best rows, metric landscape, distribution and best equity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SWEEP_GRID as GRID
from html_parts import cells as _cells
from html_parts import fmt as _fmt
from html_parts import panel as _panel
from html_parts import panels as _panels

from harness.report import PANELS


def test_a_tracked_sweep_reports_its_best_rows_landscape_and_distribution(tracked_sweep):
    from harness.registry import _mlflow as m
    from harness.report import run_report

    df = tracked_sweep
    run_id = df.attrs["run_id"]
    html = run_report(run_id).read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["sweep"])
    ranked = df.sort_values("sharpe", ascending=False, kind="stable")
    # the best rows, best first, hold the sweep's own numbers
    rows = _cells(_panel(html, "top"))
    assert len(rows) == min(20, len(df))
    for row, (_, want) in zip(rows, ranked.iterrows(), strict=False):
        assert row[1:3] == [_fmt(want["fast"]), _fmt(want["slow"])]
        assert row[3] == _fmt(want["sharpe"]) and row[4] == _fmt(want["total_return"])
    summary = _panel(html, "summary")
    assert f"<td>best sharpe</td><td>{_fmt(ranked['sharpe'].iloc[0])}</td>" in summary
    logged = m.client().get_run(run_id).data.metrics["best_sharpe"]
    assert f"<td>logged run metric best_sharpe</td><td>{_fmt(logged)}</td>" in summary
    # two varied parameters: a heatmap of sharpe over fast x slow
    landscape = _panel(html, "landscape")
    assert "sharpe over fast and slow" in landscape
    assert '"type":"heatmap"' in html and '"type":"histogram"' in html
    # the best combination rerun by the engine: the same Sharpe as its row
    best = _panel(html, "best_equity")
    assert f"fast={ranked['fast'].iloc[0]}, slow={ranked['slow'].iloc[0]}" in best
    assert f"<td>Sharpe Ratio</td><td>{_fmt(ranked['sharpe'].iloc[0])}</td>" in best
    assert run_id in _panel(html, "lineage") and df.attrs["lineage"]["data_digest"] in html
    assert any(a.path.startswith("report") for a in m.client().list_artifacts(run_id))


def test_a_sweep_of_three_parameters_draws_the_metric_against_each(stored_bars, tmp_path):
    from harness._bars import load_bars
    from harness.report._sweep import SweepData, sweep_page
    from harness.sweep import sweep

    df = sweep(load_bars(["AAA"]), "sma_crossover", {**GRID, "long_short": [True, False]}, progress=False)
    data = SweepData(table=df, lineage=df.attrs["lineage"], metrics=df.attrs["metrics"], sort="sharpe")
    assert data.axes == ["fast", "slow", "long_short"]
    page = sweep_page(data)
    land = next(p for p in page.panels if p.key == "landscape")
    assert land.title == "sharpe against each parameter (3 varied)"
    assert [t.name for t in land.figure.data if t.name != "best"] == ["fast", "slow", "long_short"]
    best = next(p for p in page.panels if p.key == "best_equity")
    assert "no snapshot" not in best.html and "Not drawn" in best.html  # not rerun unless asked


def test_a_sweep_without_a_snapshot_says_why_there_is_no_equity(tmp_path):
    from harness.report._sweep import SweepData, best_backtest, sweep_page

    table = pd.DataFrame({"fast": [3, 5], "slow": [20, 20], "sharpe": [0.1, np.nan]})
    data = SweepData(table=table, lineage={"strategy": "sma_crossover"}, metrics=["sharpe"], sort="sharpe")
    best_backtest(data)
    page = sweep_page(data)
    assert [p.key for p in page.panels] == list(PANELS["sweep"])
    assert "no snapshot id" in next(p for p in page.panels if p.key == "best_equity").html
    dist = next(p for p in page.panels if p.key == "distribution")
    assert "1 combinations with an undefined sharpe" in dist.note


@pytest.mark.slow
def test_harness_report_run_id_of_a_cli_sweep_prints_the_path(stored_bars, run_cli):
    import json

    out = run_cli("sweep", "-s", "sma_crossover", "--symbols", "AAA", "-g", "fast=3,5", "-g", "slow=20,30",
                  "--json", check=True)
    run_id = json.loads(out.stdout)["run_id"]
    rep = run_cli("report", run_id, check=True)
    assert "report written to " in rep.stdout
    path = Path(rep.stdout.strip().split("report written to ", 1)[1].split()[0])
    assert _panels(path.read_text(encoding="utf-8")) == list(PANELS["sweep"])
