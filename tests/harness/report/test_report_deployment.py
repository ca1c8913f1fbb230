"""The deployment report: every panel, the gate's check tables, paper equity over its backtest,
a deployment with nothing yet, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import PAPER_FROM, SWAP_AT
from html_parts import figure as _figure
from html_parts import panel as _section
from html_parts import panels as _panels
from html_parts import plot_values

from harness.errors import UnknownDeploymentError
from harness.report import PANELS, deployment_report


def _trace(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def _y(trace: dict) -> np.ndarray:
    return plot_values(trace["y"])


def test_a_deployment_report_has_every_panel_the_check_tables_and_the_lineage(traded_deployment, tmp_path):
    reg, name = traded_deployment
    html = deployment_report(name, tmp_path / "dep.html").read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["deployment"])
    assert html.count("plotly.js v") == 1 and "<script src=" not in html
    decisions = _section(html, "decisions")
    assert "Gate decisions (3, newest first)" in decisions
    for dec in reg.decisions(name):
        assert f'data-decision="{dec["id"]}"' in decisions
        for check in dec["checks"]:
            assert f"<td>{check['name']}</td>" in decisions
    rejected = decisions[decisions.index("v3: reject"):]
    assert '<td class="fail">FAIL</td>' in rejected[:rejected.index("</table>")]
    assert decisions.count('<td class="pass">pass</td>') == 5  # v1 and v2 pass both checks, v3 passes pbo
    timeline = _section(html, "timeline")
    for what in ("promoted v1 (champion was the baseline)", "promoted v2 (champion was v1)",
                 "gate decision on v3: reject", "paper swap v1 -&gt; v2"):
        assert what in timeline, what
    lineage = _section(html, "lineage")
    champ = reg.get(name, "champion")
    assert champ.version == 2
    for value in (champ.snapshot_id, champ.data_digest, champ.code_version, "<td>seed</td><td>1</td>", "v2"):
        assert str(value) in lineage, value
    alerts = _section(html, "alerts")
    assert "Monitor alerts (1)" in alerts and "tracking_error" in alerts
    assert "cusum detector" in _section(html, "regimes")  # the spec's own [regime] detector


def test_alerts_that_share_a_bar_are_all_drawn(traded_deployment, stored_bars, tmp_path):
    """An evaluation often raises several alerts at one bar (feature drift on two inputs, say)."""
    from harness.monitor import Alert, JsonlSink, alerts_path

    reg, name = traded_deployment
    t = int(stored_bars.timestamps[320])
    for metric in ("vol_20", "ret_1"):
        JsonlSink(alerts_path(name)).send(Alert(name, "feature_drift", "alert", metric, 0.4, 0.25, (0, 10), t))
    html = deployment_report(name, tmp_path / "dep.html").read_text(encoding="utf-8")
    alerts = _section(html, "alerts")
    assert "Monitor alerts (3)" in alerts and alerts.count("feature_drift") >= 2


def test_the_paper_panel_draws_the_ledgers_equity_over_the_backtest_of_its_champions(traded_deployment, stored_bars,
                                                                                      tmp_path):
    from harness.paper import Ledger, ledger_path

    _, name = traded_deployment
    html = deployment_report(name, tmp_path / "dep.html").read_text(encoding="utf-8")
    led = Ledger(ledger_path(name))
    equity = led.equity()
    led.close()
    assert len(equity) == stored_bars.n_bars - PAPER_FROM
    fig = _figure(html, "paper")
    paper, bt = _y(_trace(fig, "paper")), _y(_trace(fig, "backtest"))
    np.testing.assert_array_equal(paper, equity.to_numpy())
    # the runner followed its champions bar for bar, so the backtest of v1 then v2 is the same curve
    np.testing.assert_allclose(bt, equity.to_numpy(), rtol=1e-9)
    assert np.nanmax(np.abs(_y(_trace(fig, "paper - backtest [%]")))) < 1e-6
    swaps = [s["x0"] for s in fig["layout"]["shapes"]]
    assert len(swaps) == 2  # v1 from the first paper bar, v2 from SWAP_AT
    import pandas as pd

    assert pd.Timestamp(swaps[1]) == pd.Timestamp(int(stored_bars.timestamps[SWAP_AT]), unit="ns", tz="UTC")


def test_the_paper_panel_shows_a_ledger_that_strays_from_its_backtest(traded_deployment, tmp_path, monkeypatch):
    from harness.report import _deployment

    _, name = traded_deployment
    data = _deployment.deployment_data(name)
    data.paper_equity = data.paper_equity * 1.01  # as if the paper broker had filled better
    page = _deployment.deployment_page(data)
    fig = next(p.figure for p in page.panels if p.key == "paper")
    gap = next(t for t in fig.data if t.name == "paper - backtest [%]")
    np.testing.assert_allclose(np.asarray(gap.y, dtype=float), 1.0, rtol=1e-9)


def test_a_ledger_whose_backtest_cannot_be_run_is_drawn_alone_and_the_page_says_why(traded_deployment, tmp_path,
                                                                                   monkeypatch):
    from harness.report import _deployment

    def no_bars(*args, **kwargs):
        raise RuntimeError("the bars are gone")

    monkeypatch.setattr(_deployment, "_backtest_of_ledger", no_bars)
    _, name = traded_deployment
    html = deployment_report(name, tmp_path / "dep.html").read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["deployment"])
    assert "No backtest drawn: the bars are gone" in _section(html, "paper")
    assert [t["name"] for t in _figure(html, "paper")["data"]] == ["paper"]


def test_a_fresh_deployment_writes_a_page_that_says_what_is_missing(stored_bars, run_cli, harness_home):
    from conftest import deployment_spec

    from harness.registry import Registry

    Registry.open().create_deployment("fresh", mode="governed", baseline="cash", spec=deployment_spec("fresh"),
                                      spec_hash="h", by="alice")
    proc = run_cli("report", "--deployment", "fresh", check=True)
    out = " ".join(proc.stdout.split())
    assert out.startswith(f"report written to {harness_home / 'reports' / 'deployment-fresh-'}"), out
    path = Path(out.split("report written to ", 1)[1])
    html = path.read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["deployment"])
    assert "No gate decision yet" in _section(html, "decisions")
    assert "No paper ledger yet" in _section(html, "paper") and "no version has been promoted" in html
    assert "No alerts yet" in _section(html, "alerts")
    assert "none yet: the baseline (cash) is champion" in _section(html, "lineage")
    assert "Timeline (1 events)" in _section(html, "timeline")  # deployment_created, from the audit trail


def test_a_deployment_whose_stored_spec_does_not_load_still_reports(stored_bars, tmp_path):
    from conftest import SMA, register

    from harness.registry import Registry

    reg = Registry.open()
    reg.create_deployment("bare", mode="auto", baseline="cash", spec="[deployment]\nname = 'bare'\n",
                          spec_hash="h", by="alice")
    register(reg, stored_bars, "bare", SMA)
    html = deployment_report("bare", tmp_path / "bare.html").read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["deployment"])
    regimes = _section(html, "regimes")
    assert "The default detector: the stored spec does not load" in regimes and "Volatility regimes of AAA" in regimes


def test_an_unknown_deployment_is_a_clear_error(stored_bars, run_cli, tmp_path):
    from conftest import deployment_spec

    from harness.registry import Registry

    Registry.open().create_deployment("spx-sma", mode="auto", baseline="cash", spec=deployment_spec("spx-sma"),
                                      spec_hash="h", by="alice")
    with pytest.raises(UnknownDeploymentError, match="did you mean 'spx-sma'"):
        deployment_report("spx-smaa", tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
    proc = run_cli("report", "--deployment", "nope")
    assert proc.returncode == 2 and "unknown deployment 'nope'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [(), ("0" * 32, "--deployment", "dep"), ("--results", ".", "--deployment", "dep")])
def test_report_needs_exactly_one_of_run_id_results_or_deployment(run_cli, args):
    proc = run_cli("report", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    msg = " ".join(proc.stderr.split())
    assert "exactly one of RUN_ID, --results DIR or --deployment NAME" in msg, msg
    if args:
        assert " and --deployment NAME" in msg
