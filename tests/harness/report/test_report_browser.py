"""Reports opened in a real browser (headless Chromium): no console errors, every panel drawn.

Set ``HARNESS_UPDATE_DOCS=1`` to refresh the README's screenshot (``docs/report.png``) from
the backtest report rendered here.
"""

from __future__ import annotations

import os
from pathlib import Path

import browser
import pytest

from harness.report import PANELS, backtest_report, deployment_report, optimization_report

# panels that are tables only; every other panel must draw a non-empty plot
TABLE_PANELS = {"summary", "lineage", "folds", "decisions", "top", "trials", "candidates", "decision"}
DOCS = Path(__file__).resolve().parents[3] / "docs"


def _check(rendered: browser.Rendered, kind: str) -> None:
    assert rendered.console_errors == []
    assert list(rendered.panels) == list(PANELS[kind])
    for key, info in rendered.panels.items():
        assert info["text"] > 0, key
        if key not in TABLE_PANELS:
            assert info["plots"] == 1, key
            assert info["plot_area"] > 10_000, (key, info)
    assert rendered.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    assert browser.pixel_std(rendered.screenshot) > 10.0  # not a blank page


@pytest.mark.slow
def test_backtest_report_renders_every_panel_in_chromium(chromium, spx_result, tmp_path):
    path = backtest_report(spx_result, tmp_path / "spx.html")
    rendered = browser.render(path)
    _check(rendered, "backtest")
    if os.environ.get("HARNESS_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        (DOCS / "report.png").write_bytes(rendered.screenshot)


@pytest.mark.slow
def test_optimisation_report_renders_every_panel_in_chromium(chromium, stored_bars, tmp_path):
    from harness import optimize

    res = optimize(stored_bars, "sma_crossover", n_trials=12, cv="walk-forward:train=200,test=50",
                   seed=3, search_space={"fast": [3, 15], "slow": [20, 60]})
    _check(browser.render(optimization_report(res, tmp_path / "opt.html")), "optimization")


@pytest.mark.slow
def test_deployment_report_renders_every_panel_in_chromium(chromium, traded_deployment, tmp_path):
    _, name = traded_deployment
    path = deployment_report(name, tmp_path / "dep.html")
    rendered = browser.render(path)
    _check(rendered, "deployment")
    assert rendered.panels["decisions"]["text"] > 200  # the check tables of the open decisions
    assert rendered.panels["attributions"]["text"] > 100  # v3's attributions table


@pytest.mark.slow
def test_sweep_report_renders_every_panel_in_chromium(chromium, tracked_sweep, tmp_path):
    from harness.report import run_report

    rendered = browser.render(run_report(tracked_sweep.attrs["run_id"], tmp_path / "sweep.html"))
    _check(rendered, "sweep")
    assert rendered.panels["top"]["text"] > 200  # the best rows


@pytest.mark.slow
def test_retrain_report_renders_every_panel_in_chromium(chromium, retrained, tmp_path):
    from harness.report import run_report

    rendered = browser.render(run_report(retrained.result.run_id, tmp_path / "retrain.html"))
    _check(rendered, "retrain")
    assert rendered.panels["decision"]["text"] > 200  # the gate's check table
    assert rendered.panels["candidates"]["text"] > 100


def test_a_blank_page_fails_the_pixel_check(chromium, tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    assert browser.pixel_std(browser.render(page).screenshot) < 1.0


def test_a_script_error_is_reported_as_a_console_error(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    errors = browser.render(page).console_errors
    assert errors and "undefinedFunction" in errors[0]
