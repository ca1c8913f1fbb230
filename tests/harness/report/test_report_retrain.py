"""The retrain report: a real retrain's run (kind retrain), its study, candidates, holdout and gate decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from html_parts import cells as _cells
from html_parts import fmt as _fmt
from html_parts import panel as _panel
from html_parts import panels as _panels

from harness.report import PANELS


def _summary(outcome: str = "candidates", versions=(1, 2)) -> dict:
    """A RetrainResult.summary() of two candidates against the buy-and-hold baseline."""
    cands = [{"rank": r, "trial": t, "params": {"fast": f, "slow": 40}, "value": 0.5 - r / 10,
              "holdout": {"sharpe": 1.25 - r, "total_return": 0.1, "max_drawdown": -0.05, "ann_volatility": 0.2},
              "stats": {"trades": 3 + r}, "version": v}
             for r, (t, f, v) in enumerate(zip((7, 2), (5, 8), versions, strict=True))]
    return {"deployment": "dep", "retrain_id": "20200101-abcd", "reason": "regime_change", "outcome": outcome,
            "timed_out": False, "n_trials": 9, "candidates": cands if outcome == "candidates" else cands[:1],
            "window": {"kind": "trailing", "requested": "trailing:800", "bars": 800, "holdout": 4,
                       "start": "2017-01-01", "end": "2019-12-31", "holdout_start": "2019-12-28",
                       "trigger_time": "2019-12-31", "fallback": None},
            "champion": {"kind": "baseline", "name": "buy_and_hold"},
            "champion_holdout": {"sharpe": 0.375, "total_return": 0.02, "max_drawdown": -0.1, "ann_volatility": 0.3},
            "stats": {"study_name": "dep-20200101-abcd", "cv": "walk-forward:train=300,test=100",
                      "objective": ["sharpe"], "n_trials_evaluated": 9, "n_trials_in_study": 9,
                      "n_trials_requested": 9, "best_value": 0.5, "deflated_sharpe": 0.61, "pbo": 0.25},
            "snapshot_id": "SNAP", "data_digest": "d" * 32}


def _arrays() -> dict:
    day = 86_400_000_000_000
    return {"holdout_times": np.arange(4, dtype=np.int64) * day, "champion_returns": np.array([0.0, 0.01, -0.01, 0.0]),
            "candidate_0_returns": np.array([0.0, 0.02, 0.01, np.nan]),
            "candidate_1_returns": np.array([0.0, -0.02, 0.0, 0.01])}


def test_a_retrain_page_has_every_panel_and_shows_the_stored_numbers_without_a_study():
    from harness.report._retrain import RetrainData, gate_records, retrain_page

    data = RetrainData(summary=_summary(), arrays=_arrays(), lineage={"trigger": {"from_name": "calm",
                                                                                  "to_name": "turbulent",
                                                                                  "time": "2019-12-31"}})
    data.decision_note = "No gate decision recorded yet on v1, v2."
    page = retrain_page(data)
    assert [p.key for p in page.panels] == list(PANELS["retrain"])
    panels = {p.key: p for p in page.panels}
    summary = _cells(panels["summary"].html)
    assert ["reason", "regime_change"] in summary and ["regime change", "calm -&gt; turbulent (detected at "
                                                                         "2019-12-31)"] in summary
    assert ["challenger", "v1"] in summary and ["deflated Sharpe ratio (probability)", "0.6100"] in summary
    rows = _cells(panels["candidates"].html)
    assert [r[:3] for r in rows] == [["0", "v1", "7"], ["1", "v2", "2"], ["champion", "buy_and_hold", "-"]]
    assert rows[0][5] == "1.2500" and rows[1][5] == "0.2500" and rows[2][5] == "0.3750"  # holdout Sharpe
    fig = panels["holdout_equity"].figure
    by_name = {t.name: np.asarray(t.y) for t in fig.data}
    assert by_name["challenger v1"] == pytest.approx([1.0, 1.02, 1.0302, 1.0302])  # NaN counts as flat
    assert by_name["champion buy_and_hold"] == pytest.approx([1.0, 1.01, 0.9999, 0.9999])
    assert "No gate decision recorded yet on v1, v2." in panels["decision"].html
    assert "no study/ artifact" in panels["history"].html
    # no registered candidate: nothing went to the gate, and the page says why
    bare = RetrainData(summary=_summary(versions=(None, None)), arrays=_arrays(), lineage={})
    gate_records(bare, registry=object())
    assert "registered no candidate" in bare.decision_note


@pytest.mark.slow
def test_a_retrain_run_reports_its_study_candidates_holdout_and_gate_decision(retrained, run_cli):
    from harness.registry import _mlflow as m

    res = retrained.result
    run = m.client().get_run(res.run_id)
    assert run.data.tags["harness.kind"] == "retrain" and run.data.tags["harness.deployment"] == "syn-sma"
    assert run.data.metrics["candidate_0_holdout_sharpe"] == res.candidates[0].holdout_metrics["sharpe"]
    rep = run_cli("report", res.run_id, check=True)
    assert "report written to " in rep.stdout
    path = Path(rep.stdout.strip().split("report written to ", 1)[1].split()[0])
    html = path.read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["retrain"])
    summary = _cells(_panel(html, "summary"))
    assert ["reason", "initial"] in summary and ["retrain id", res.retrain_id] in summary
    assert ["challenger", f"v{res.challenger.version.version}"] in summary
    assert ["deflated Sharpe ratio (probability)", _fmt(res.stats["deflated_sharpe"])] in summary
    # candidates: the versions registered, their holdout numbers, then the champion on the same bars
    rows = _cells(_panel(html, "candidates"))
    for row, c in zip(rows, res.candidates, strict=False):
        assert row[:3] == [str(c.rank), f"v{c.version.version}", str(c.trial)]
        assert row[5] == _fmt(c.holdout_metrics["sharpe"]) and row[9] == str(c.stats["trades"])
    assert rows[-1][:2] == ["champion", res.champion.name]
    # the trials: every one of the study's, best first, the candidates marked
    trials = _cells(_panel(html, "trials"))
    assert len(trials) == res.stats["n_trials_in_study"]
    assert trials[0][0] == str(res.candidates[0].trial) and trials[0][-1] == "rank 0"
    assert trials[0][1] == _fmt(res.candidates[0].value)
    # the gate's check table on the challenger, as recorded
    decision = _panel(html, "decision")
    dec = retrained.decision
    assert f"v{res.challenger.version.version}: {dec.outcome}" in decision
    for check in dec.checks:
        assert f"<td>{check.name}</td>" in decision
    assert "fANOVA" in _panel(html, "importances")  # the study was read back from the deployment's journal
    assert res.run_id in _panel(html, "lineage") and res.data_digest in _panel(html, "lineage")
    assert any(a.path.startswith("report") for a in m.client().list_artifacts(res.run_id))
