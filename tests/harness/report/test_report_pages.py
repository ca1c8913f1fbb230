"""Report pages: every panel present, plotly.js embedded once, size limits, results folders, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from html_parts import panels as _panels

from harness.errors import InputError
from harness.report import PANELS, backtest_report, optimization_report, results_report

PLOTLY_MARKER = "plotly.js v"  # the library's banner comment, once per copy embedded


def test_a_20_year_daily_report_embeds_plotly_once_and_stays_small(spx_result, tmp_path):
    path = backtest_report(spx_result, tmp_path / "spx.html")
    html = path.read_text(encoding="utf-8")
    assert html.count(PLOTLY_MARKER) == 1
    assert _panels(html) == list(PANELS["backtest"])
    from plotly.offline import get_plotlyjs

    size = path.stat().st_size
    data = size - len(get_plotlyjs().encode())
    assert size < 8_000_000, size
    assert data < 3_000_000, data
    assert "Downsampled for display" in html  # 5,031 bars > MAX_POINTS: the page says so
    assert "<script src=" not in html  # nothing fetched from the network


def test_the_report_shows_the_engines_statistics_unchanged(spx_result, tmp_path):
    html = backtest_report(spx_result, tmp_path / "spx.html").read_text(encoding="utf-8")
    from harness.report._page import _fmt

    for key in ("Sharpe Ratio", "Max Drawdown [%]", "Number of Trades", "Total Return [%]"):
        assert f"<td>{key}</td><td>{_fmt(spx_result.stats[key])}</td>" in html


def test_a_backtest_results_folder_reports_without_mlflow(stored_bars, run_cli, tmp_path):
    out = tmp_path / "bt"
    run_cli("backtest", "-s", "sma_crossover", "--symbols", "AAA,BBB", "-p", "fast=5", "-p", "slow=20",
            "--out", str(out), check=True)
    proc = run_cli("report", "--results", str(out), check=True)
    assert f"report written to {out / 'report.html'}" in proc.stdout.replace("\n", "")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["backtest"])
    assert "buy and hold" in html and "AAA entry" in html  # bars found in the store at the recorded snapshot


def test_an_optimisation_report_has_history_importances_folds_and_dsr(stored_bars, tmp_path):
    from harness import optimize

    res = optimize(stored_bars, "sma_crossover", n_trials=12, cv="walk-forward:train=200,test=50",
                   seed=3, search_space={"fast": [3, 15], "slow": [20, 60]})
    html = optimization_report(res, tmp_path / "opt.html").read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["optimization"])
    assert "deflated Sharpe ratio" in html and "probability of backtest overfitting" in html
    assert "Not available" not in html and "not reachable" not in html
    folder = res.save(tmp_path / "saved")
    html2 = results_report(folder).read_text(encoding="utf-8")
    assert _panels(html2) == list(PANELS["optimization"])
    assert "fold 0" in html2


def test_a_folder_that_is_not_a_result_is_a_clear_error(tmp_path, run_cli):
    with pytest.raises(InputError, match="does not exist"):
        results_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    proc = run_cli("report", "--results", str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "holds neither a backtest" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "empty" / "report.html").exists()


def test_report_needs_something_to_report_on(run_cli):
    proc = run_cli("report")
    assert proc.returncode == 2 and "--results" in proc.stderr and "Traceback" not in proc.stderr


def test_writing_a_report_never_leaves_a_partial_file(spx_result, tmp_path, monkeypatch):
    from harness.report import _page

    target = tmp_path / "r.html"
    target.write_text("old report")

    def boom(self):
        raise RuntimeError("render failed")

    monkeypatch.setattr(_page.Page, "render", boom)
    with pytest.raises(RuntimeError):
        backtest_report(spx_result, target)
    assert target.read_text() == "old report"
    assert not list(Path(tmp_path).glob("*.tmp"))


@pytest.mark.slow
def test_a_logged_backtest_run_reports_from_its_lineage_and_keeps_the_page_as_an_artifact(stored_bars, run_cli):
    from harness._bars import load_bars
    from harness.engine import backtest

    run_id = backtest(load_bars(["AAA"]), "sma_crossover", {"fast": 5, "slow": 20}, track=True).run_id
    rep = run_cli("report", run_id, check=True)
    path = Path(rep.stdout.strip().split("report written to ", 1)[1].split()[0])
    html = path.read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["backtest"])
    assert run_id in html and "identical to the logged metrics" in html
    from harness.registry import _mlflow as m

    assert any(a.path.startswith("report") for a in m.client().list_artifacts(run_id))


def test_an_unknown_run_id_is_a_clear_error(run_cli):
    proc = run_cli("report", "0" * 32)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "0" * 32 in proc.stderr


def test_a_run_of_a_kind_without_a_report_names_the_kinds_that_have_one(harness_home):
    from harness.registry._tracking import log_run
    from harness.report import run_report
    from harness.report._runs import SUPPORTED_KINDS

    run_id = log_run(kind="fit", lineage={"snapshot_id": None, "data_digest": None})
    with pytest.raises(InputError, match=f"run {run_id} is a 'fit' run, which has no report") as err:
        run_report(run_id)
    assert ", ".join(SUPPORTED_KINDS) in str(err.value) and "sweep" in SUPPORTED_KINDS
