"""``harness monitor NAME [--json]``."""

from __future__ import annotations

import json

from harness.monitor import DeploymentMonitor, MonitorConfig

from ._cases import CASES


def _evaluated(name):
    data, _ = CASES["feature_drift"]("fault")
    mon = DeploymentMonitor(name, MonitorConfig(monitors=["feature_drift", "tracking_error"], audit=False,
                                                mlflow=False, log=False))
    mon.evaluate(data, bar_index=0)


def test_monitor_json_lists_every_reading_and_the_alerts(run_cli, harness_home):
    _evaluated("depcli")
    proc = run_cli("monitor", "depcli", "--json", check=True)
    body = json.loads(proc.stdout)
    states = {(r["monitor"], r["metric"]): r["state"] for r in body["readings"]}
    assert states[("feature_drift", "b")] == "alert" and states[("tracking_error", "tracking_error")] == \
        "insufficient data"
    assert [a["metric"] for a in body["alerts"]] == ["b"] and "feature_drift.b" in body["open"]


def test_monitor_table_shows_value_threshold_and_state(run_cli, harness_home):
    _evaluated("deptab")
    out = run_cli("monitor", "deptab", check=True).stdout
    assert "feature_drift" in out and "alert" in out and "threshold" in out and "last 1 alerts" in out


def test_monitor_of_an_unknown_deployment_is_one_line_and_exit_2(run_cli):
    proc = run_cli("monitor", "nobody")
    assert proc.returncode == 2
    assert "no monitor readings for deployment 'nobody'" in proc.stderr and "Traceback" not in proc.stderr
