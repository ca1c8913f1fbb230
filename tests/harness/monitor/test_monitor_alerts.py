"""Alerts: de-duplication, every sink, failing hooks, persistence across restarts, retrain semantics."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from harness.monitor import (
    ALERT,
    OK,
    WARN,
    Alert,
    AlertBook,
    AuditSink,
    DeploymentMonitor,
    HookSink,
    JsonlSink,
    MonitorConfig,
    Reading,
    Schedule,
    alerts,
    retrain_alerts,
    status,
)
from harness.monitor.feature_drift import FeatureDrift

from ._cases import CASES


def _r(state, metric="b", monitor="feature_drift", value=0.3):
    return Reading(monitor, metric, value, 0.25, state, (1, 2))


def test_a_persisting_condition_raises_one_alert_and_a_reminder_every_n_bars():
    book = AlertBook(remind_every=5)
    raised = [book.update("d", [_r(ALERT)], bar_index=i, time=i) for i in range(12)]
    flat = [(i, a.reminder) for i, out in enumerate(raised) for a in out]
    assert flat == [(0, False), (5, True), (10, True)]


def test_an_escalation_raises_a_new_alert_and_recovery_closes_the_condition():
    book = AlertBook(remind_every=100, clear_after=1)
    assert [a.severity for a in book.update("d", [_r(WARN)], bar_index=0, time=0)] == [WARN]
    assert book.update("d", [_r(WARN)], bar_index=1, time=1) == []
    assert [a.severity for a in book.update("d", [_r(ALERT)], bar_index=2, time=2)] == [ALERT]
    assert book.update("d", [_r(WARN)], bar_index=3, time=3) == []  # de-escalation is the same condition
    assert book.update("d", [_r(OK)], bar_index=4, time=4) == []
    assert [a.reminder for a in book.update("d", [_r(ALERT)], bar_index=5, time=5)] == [False]


def test_a_condition_hovering_at_its_threshold_does_not_flap():
    book = AlertBook(remind_every=100, clear_after=3)
    states = [ALERT, OK, ALERT, OK, OK, ALERT, OK, OK, OK, ALERT]
    raised = [i for i, s in enumerate(states) for _ in book.update("d", [_r(s)], bar_index=i, time=i)]
    assert raised == [0, 9]  # closed only after three ok evaluations in a row (bars 6-8)


def test_insufficient_data_neither_alerts_nor_closes_a_condition():
    book = AlertBook(remind_every=100)
    book.update("d", [_r(ALERT)], bar_index=0, time=0)
    assert book.update("d", [_r("insufficient data")], bar_index=1, time=1) == []
    assert book.update("d", [_r(ALERT)], bar_index=2, time=2) == []  # still the open condition


def test_alert_fields_and_json_round_trip():
    a = Alert("dep", "feature_drift", ALERT, "b", 0.31, 0.25, (1, 2), 3)
    assert a.to_dict()["time_utc"].startswith("1970-01-01")
    assert Alert.from_dict(json.loads(a.to_json())) == a


def test_retrain_on_maps_drift_and_performance_alerts_only():
    items = [Alert("d", "feature_drift", ALERT, "b", 1.0, 0.25, (0, 1), 1),
             Alert("d", "decision_drift", WARN, "w", 1.0, 0.2, (0, 1), 1),
             Alert("d", "performance", ALERT, "pnl", -0.1, -0.05, (0, 1), 1),
             Alert("d", "data_quality", ALERT, "gaps", 1.0, 0.0, (0, 1), 1),
             Alert("d", "feature_drift", ALERT, "b", 1.0, 0.25, (0, 1), 9, reminder=True)]
    assert [a.monitor for a in retrain_alerts(items, ["drift"])] == ["feature_drift"]
    assert [a.monitor for a in retrain_alerts(items, ["drift", "performance"])] == ["feature_drift", "performance"]
    assert retrain_alerts(items, []) == []
    from harness.monitor import RETRAIN_ON, RETRAIN_REASONS

    assert set(RETRAIN_REASONS.values()) == set(RETRAIN_ON)  # what [retrain] retrain_on validates against


def test_schedule_every_n_bars_and_once_per_day():
    s = Schedule(3)
    assert [i for i in range(10) if s.due(i, i)] == [0, 3, 6, 9]
    hour = 3_600_000_000_000
    s = Schedule("1d")
    times = [i * hour for i in range(0, 72, 4)]
    assert [t // (24 * hour) for t in times if s.due(0, t)] == [0, 1, 2]


class _Recorder(JsonlSink):
    name = "recorder"

    def __init__(self):
        self.sent = []

    def send(self, alert):
        self.sent.append(alert)


def test_deployment_monitor_evaluates_on_schedule_and_builds_data_only_when_due(harness_home):
    data, _ = CASES["feature_drift"]("fault")
    calls = []

    def build():
        calls.append(1)
        return data

    rec = _Recorder()
    mon = DeploymentMonitor("dep1", MonitorConfig(monitors=["feature_drift"], every=5, remind_every=10),
                            sinks=[rec])
    results = [mon.step(bar_index=i, time=i, data=build) for i in range(21)]
    assert len(calls) == 5 and sum(r is not None for r in results) == 5
    assert [(a.metric, a.reminder) for a in rec.sent] == [("b", False), ("b", True), ("b", True)]
    st = status("dep1")
    assert st["evaluations"] == 5 and any(r["metric"] == "b" and r["state"] == ALERT for r in st["readings"])


def test_alerts_reach_the_jsonl_file_the_hook_and_the_audit_trail(harness_home, tmp_path):
    from harness.audit import AuditTrail

    data, _ = CASES["feature_drift"]("fault")
    out = tmp_path / "hook.json"
    hook = HookSink(f"{sys.executable} -c \"import sys; open({str(out)!r}, 'a').write(sys.stdin.read())\"")
    trail = AuditTrail(tmp_path / "audit.log", anchor=False)
    extra = tmp_path / "extra.jsonl"
    mon = DeploymentMonitor("dep2", MonitorConfig(monitors=["feature_drift"], jsonl=str(extra), audit=False,
                                                  mlflow=False, on_alert="true"))
    mon.sinks += [hook, AuditSink(trail)]
    new = mon.evaluate(data, bar_index=0)
    assert [a.metric for a in new] == ["b"]
    assert [a.metric for a in alerts("dep2")] == ["b"]                     # the deployment's own file
    assert json.loads(extra.read_text())["metric"] == "b"                   # [monitor] jsonl
    assert json.loads(out.read_text())["severity"] == ALERT                 # hook got the JSON on stdin
    rec = trail.records(kind="drift_alert")
    assert rec[0]["deployment"] == "dep2" and rec[0]["payload"]["metric"] == "b"
    assert mon.sink_errors == []


def test_a_failing_hook_is_reported_and_never_stops_the_runner(harness_home):
    data, _ = CASES["feature_drift"]("fault")
    mon = DeploymentMonitor("dep3", MonitorConfig(monitors=["feature_drift"], on_alert="echo broken >&2; exit 3",
                                                  audit=False, mlflow=False, log=False))
    new = mon.evaluate(data, bar_index=0)
    assert new and len(alerts("dep3")) == 1
    assert mon.sink_errors[0]["sink"] == "hook" and "exited 3: broken" in mon.sink_errors[0]["error"]
    assert status("dep3")["sink_errors"][0]["sink"] == "hook"
    slow = DeploymentMonitor("dep3b", MonitorConfig(monitors=["feature_drift"], on_alert="sleep 5", hook_timeout=0.2,
                                                    audit=False, mlflow=False, log=False))
    slow.evaluate(data, bar_index=0)
    assert "timed out" in slow.sink_errors[0]["error"]


def test_a_restarted_monitor_keeps_its_open_conditions(harness_home):
    data, _ = CASES["feature_drift"]("fault")
    cfg = MonitorConfig(monitors=["feature_drift"], audit=False, mlflow=False, log=False, remind_every=50)
    assert len(DeploymentMonitor("dep4", cfg).evaluate(data, bar_index=0)) == 1
    again = DeploymentMonitor("dep4", cfg)
    assert again.evaluate(data, bar_index=1) == []                          # no duplicate after the restart
    assert len(alerts("dep4")) == 1


def test_mlflow_sink_logs_readings_to_the_deployments_monitoring_run(harness_home):
    from harness.monitor import MlflowSink
    from harness.registry import _mlflow

    data, _ = CASES["feature_drift"]("fault")
    mon = DeploymentMonitor("dep5", MonitorConfig(monitors=["feature_drift"], audit=False, log=False, mlflow=True))
    assert any(isinstance(s, MlflowSink) for s in mon.sinks)
    mon.evaluate(data, bar_index=7)
    assert mon.sink_errors == []
    client = _mlflow.client()
    exp = client.get_experiment_by_name("monitor/dep5")
    run = client.search_runs([exp.experiment_id])[0]
    assert run.data.metrics["feature_drift.b"] > 0.25 and run.data.metrics["alert.feature_drift.b"] == 1.0
    hist = client.get_metric_history(run.info.run_id, "feature_drift.b")
    assert [m.step for m in hist] == [7]


def test_monitor_config_rejects_bad_values_with_named_errors():
    from harness.errors import ParamError

    with pytest.raises(ParamError, match="has no field 'alhpa'; did you mean 'alpha'"):
        MonitorConfig(alhpa=0.1)
    with pytest.raises(ParamError, match="unknown monitor 'drift'"):
        MonitorConfig(monitors=["drift"])
    with pytest.raises(ParamError, match="every"):
        MonitorConfig(every="soon")
    with pytest.raises(ParamError, match="psi_alert must be >= psi_warn"):
        MonitorConfig(psi_warn=0.3, psi_alert=0.2)
    cfg = MonitorConfig(every=3, monitors=["performance"], alpha=0.05)
    assert MonitorConfig.from_toml(cfg.to_toml()) == cfg


def test_feature_drift_with_autocorrelation_correction_is_quiet_where_plain_ks_alarms():
    rng = np.random.default_rng(5)
    n = 3000
    x = np.empty((n, 1, 20))
    x[0] = rng.normal(size=(1, 20))
    for t in range(1, n):
        x[t] = 0.95 * x[t - 1] + rng.normal(size=(1, 20)) * np.sqrt(1 - 0.95**2)
    from harness.monitor import MonitorData

    data = MonitorData(reference_inputs=x[:2500], live_inputs=x[2500:])
    plain = FeatureDrift(MonitorConfig(autocorrelation="none", window=500)).evaluate(data)
    ess = FeatureDrift(MonitorConfig(window=500)).evaluate(data)
    assert sum(r.alarm for r in plain) >= 3
    assert sum(r.alarm for r in ess) == 0
