"""Issue 23's "done when": training, paper trading and monitoring of an mlp deployment all read one
materialised feature set, pinned by the snapshot, with the values computing them gives."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

SPEC = """
[deployment]
name = "syn-mlp"
mode = "auto"
baseline = "cash"
[data]
symbols = ["SYN0", "SYN1"]
[strategy]
name = "mlp"
params = { epochs = 2, patience = 2, hidden = 4, threads = 1, train_bars = 200, threshold = 0.0 }
search_space = { lookback = [2, 4] }
[cv]
scheme = "walk-forward"
train = 250
test = 100
[optimize]
trials = 2
seed = 3
[costs]
fee_rate = 0.0005
[regime]
detector = "cusum"
calibration_window = 200
warmup = 50
[retrain]
window = "trailing:600"
holdout = 120
top_k = 1
"""


def _bars(n: int = 900):
    from market_data.synthetic import regime_switching

    bars, _ = regime_switching(n, 2, schedule=[(0, 1), (400, 2)], seed=5, symbols=["SYN0", "SYN1"])
    return bars


@pytest.mark.slow
def test_train_paper_and_monitor_of_an_mlp_deployment_read_one_materialised_feature_set(tmp_path):
    import strategies.features as F
    from harness._bars import home_store
    from harness.monitor import LedgerMonitor
    from harness.paper import PaperRunner, ReplayFeed
    from harness.registry import Registry
    from harness.retrain._flow import deploy
    from strategies.inputs import compute_inputs

    store = home_store(create=True)
    bar_snap = store.write(_bars(), message="synthetic")
    feature_commit = F.materialise(store, "mlp", snapshot=bar_snap)
    pinned = {feature_commit: bar_snap}

    # training: the study's fits, the candidates' refits and their holdout scoring
    path = tmp_path / "syn_mlp.toml"
    path.write_text(SPEC)
    out = deploy(path, by="alice")
    used = out.result.stats["features"]
    assert used["stored"] > 0 and used["computed"] == 0, used
    assert used["feature_snapshots"] == pinned and list(used["definitions"]) == ["mlp"]
    reg = Registry.open()
    v = reg.versions("syn-mlp")[0]
    assert v.features["from_store"] == used and v.features["definitions"] == F.feature_set("mlp").hashes

    # the champion (promoted here whatever the gate said) paper-traded over stored bars
    if reg.deployment("syn-mlp").champion is None:
        decision = {"outcome": "promote", "checks": [{"name": "always", "passed": True}], "reasons": [],
                    "evidence_digest": "e" * 32, "time": datetime.now(UTC).isoformat(),
                    "policy": {"mode": "auto", "checks": ["always"]}}
        reg.promote("syn-mlp", v.version, decision=reg.record_decision("syn-mlp", v.version, decision), by="test")
    bars = store.read()  # the tip is the feature commit: the same bars
    start = 700

    def paper(features, ledger):
        runner = PaperRunner("syn-mlp", feed=ReplayFeed(bars[start:], history=bars[:start]), registry=reg,
                             ledger=ledger, features=features, audit=False)
        try:
            runner.run()
            return runner.core.feature_usage, runner.ledger.fills(), runner.ledger.equity()
        finally:
            runner.close()

    usage, fills, equity = paper(None, tmp_path / "stored.db")  # the default: the home store
    assert usage.stored >= bars.n_bars - start and usage.computed == 0, usage.to_dict()  # every bar decided
    assert usage.feature_snapshots == pinned
    plain_usage, plain_fills, plain_equity = paper(False, tmp_path / "computed.db")
    assert plain_usage.stored == 0
    assert len(fills) > 0
    np.testing.assert_array_equal(fills[["size", "price", "fees"]].to_numpy(float),
                                  plain_fills[["size", "price", "fees"]].to_numpy(float))
    np.testing.assert_array_equal(equity.to_numpy(), plain_equity.to_numpy())

    # monitoring: the training window's and the live window's features
    window = out.result.window.describe()
    mon = LedgerMonitor("syn-mlp", bars=bars, strategy="mlp", params=v.params, config=v.config,
                        train_start=window["start"], train_end=window["holdout_start"], store=store, persist=False)
    assert mon.feature_usage.stored == 1 and mon.feature_usage.feature_snapshots == pinned
    np.testing.assert_array_equal(mon.inputs.values, compute_inputs("mlp", bars, v.params).values)
