"""A tracked retrain is one MLflow run of kind retrain: its params, holdout metrics, evidence and study."""

from __future__ import annotations

import json

import pytest

from harness.retrain import retrain

from ._helpers import make_spec, store, synthetic


@pytest.fixture
def stored():
    bars, _ = synthetic()
    store(bars)
    return bars


def test_a_tracked_retrain_logs_one_run_of_kind_retrain_with_its_evidence_and_study(stored):
    from harness.registry import _mlflow as m
    from harness.retrain._retrain import _metrics, _ppy

    spec = make_spec(trials=4)
    res = retrain(spec, reason="manual", registry=None, register=False, audit=False, storage=":memory:", track=True)
    assert res.run_id is not None and res.run_id != res.stats["run_id"]  # not the study's own run
    run = m.client().get_run(res.run_id)
    assert run.data.tags["harness.kind"] == "retrain" and run.data.tags["harness.retrain_id"] == res.retrain_id
    assert run.data.params["reason"] == "manual" and run.data.params["deployment"] == "syn-sma"
    assert run.data.params["window.holdout"] == str(res.window.holdout)
    champ = _metrics(res.champion_returns, _ppy(res.frequency))
    assert run.data.metrics["champion_holdout_sharpe"] == champ["sharpe"]
    for c in res.candidates:
        assert run.data.metrics[f"candidate_{c.rank}_holdout_total_return"] == c.holdout_metrics["total_return"]
    names = {a.path for a in m.client().list_artifacts(res.run_id)}
    assert {"summary.json", "arrays.npz", "lineage.json", "study"} <= names
    assert {a.path for a in m.client().list_artifacts(res.run_id, "study")} >= {"study/summary.json",
                                                                                 "study/trials.csv"}
    local = m.client().download_artifacts(res.run_id, "summary.json")
    assert json.loads(open(local).read())["candidates"] == res.summary()["candidates"]


def test_an_untracked_retrain_logs_no_run(stored):
    res = retrain(make_spec(trials=3), reason="manual", registry=None, register=False, audit=False,
                  storage=":memory:")
    assert res.run_id is None
