"""A monitor killed with SIGKILL mid-evaluation leaves its status file and alert log readable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.monitor import alerts, status, status_path

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from harness.monitor import DeploymentMonitor, MonitorConfig
import harness.monitor._deployment as d
d.SAVE_EVERY_S = 0.0
from monitor_cases import CASES
data, _ = CASES["feature_drift"]("fault")
mon = DeploymentMonitor("crash", MonitorConfig(monitors=["feature_drift"], remind_every=1, audit=False,
                                               mlflow=False, log=False))
i = 0
print("ready", flush=True)
while True:
    mon.evaluate(data, bar_index=i)
    i += 1
"""


def test_sigkill_mid_evaluation_leaves_status_and_alerts_readable(harness_home, tmp_path):
    cases = tmp_path / "monitor_cases.py"
    cases.write_text((Path(__file__).parent / "_cases.py").read_text())
    env = {**os.environ, "HARNESS_HOME": str(harness_home), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tests=str(tmp_path))], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(alerts("crash")) < 5:
            time.sleep(0.2)
        time.sleep(0.37)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    got = alerts("crash")
    assert len(got) >= 5 and all(a.metric == "b" for a in got)
    st = status("crash")
    assert st is not None and st["evaluations"] >= 5
    json.loads(status_path("crash").read_text())
