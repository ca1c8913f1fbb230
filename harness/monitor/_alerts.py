"""Alerts, their de-duplication and their sinks.

``Alert(deployment, monitor, severity, metric, value, threshold, window, time)`` is
raised when a reading turns ``warn`` or ``alert``; a condition that persists raises one
alert, then a reminder (``reminder=True``) every ``remind_every`` bars, and a new one if
it escalates from warn to alert. When the reading has been ``ok`` for ``clear_after`` evaluations in a row the
condition is closed (the next alarm is a new alert).

Sinks (chosen in ``[monitor]``): the log (``log``), a JSON Lines file (``jsonl``; the
deployment's own ``<home>/paper/<deployment>.alerts.jsonl`` is always written, it is
what ``harness monitor`` and ``harness paper status`` read), a shell hook (``on_alert``,
the alert's JSON on stdin), the audit trail (``audit``: kind ``drift_alert``) and
MLflow (``mlflow``: the readings as metrics of the deployment's monitoring run). A
failing sink is logged and counted in ``sink_errors``; it never stops the runner.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.monitor._base import ALERT, WARN, Reading

__all__ = ["Alert", "AlertBook", "LogSink", "JsonlSink", "HookSink", "AuditSink", "MlflowSink", "Sink",
           "retrain_reason", "retrain_alerts"]

_log = logging.getLogger("harness.monitor")


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    import datetime as dt

    return dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.UTC).isoformat()


@dataclass(frozen=True)
class Alert:
    """One alert of a deployment's monitor (the issue's fields, then extras with defaults)."""

    deployment: str
    monitor: str
    severity: str
    metric: str
    value: float
    threshold: float
    window: tuple[int | None, int | None]
    time: int | None
    reminder: bool = False
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        v = self.value
        return {"deployment": self.deployment, "monitor": self.monitor, "severity": self.severity,
                "metric": self.metric, "value": None if isinstance(v, float) and math.isnan(v) else
                (str(v) if isinstance(v, float) and math.isinf(v) else v),
                "threshold": self.threshold, "window": list(self.window), "time": self.time,
                "time_utc": _iso(self.time), "reminder": self.reminder, "detail": self.detail}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, d: dict) -> Alert:
        v = d.get("value")
        if isinstance(v, str):
            v = float(v)
        return cls(d["deployment"], d["monitor"], d["severity"], d["metric"], float("nan") if v is None else v,
                   d["threshold"], tuple(d.get("window") or (None, None)), d.get("time"),
                   bool(d.get("reminder", False)), d.get("detail") or {})

    def message(self) -> str:
        what = "reminder: " if self.reminder else ""
        return (f"{what}{self.deployment} {self.monitor}.{self.metric} {self.severity}: value {self.value:.6g} "
                f"vs threshold {self.threshold:.6g} at {_iso(self.time)}")


def retrain_reason(alert: Alert) -> str | None:
    """The ``[retrain] retrain_on`` name an alert counts for (``"drift"``, ``"performance"``),
    or None. Only severity ``alert`` counts (a warning never retrains); reminders do not
    count again."""
    from harness.monitor._config import RETRAIN_REASONS

    if alert.severity != ALERT or alert.reminder:
        return None
    return RETRAIN_REASONS.get(alert.monitor)


def retrain_alerts(alerts: Iterable[Alert], retrain_on: Iterable[str]) -> list[Alert]:
    """The alerts that should trigger a retrain under ``retrain_on`` (e.g. ``["drift"]``);
    the retrain pipeline applies its cooldown."""
    wanted = set(retrain_on or ())
    return [a for a in alerts if retrain_reason(a) in wanted]


class AlertBook:
    """De-duplication: which conditions are open, since when, when last announced.

    A condition closes only after ``clear_after`` consecutive ``ok`` readings, so a
    metric that hovers at its threshold does not raise a new alert each time it crosses.
    """

    def __init__(self, remind_every: int = 20, clear_after: int = 5) -> None:
        self.remind_every = int(remind_every)
        self.clear_after = int(clear_after)
        self.open: dict[str, dict] = {}

    def update(self, deployment: str, readings: Iterable[Reading], *, bar_index: int, time: int | None) -> list[Alert]:
        out = []
        for r in readings:
            key = f"{r.monitor}.{r.metric}"
            cur = self.open.get(key)
            if not r.alarm:
                if cur is not None and r.state != "insufficient data":
                    cur["ok"] = cur.get("ok", 0) + 1
                    if cur["ok"] >= self.clear_after:
                        del self.open[key]
                continue
            if cur is not None:
                cur["ok"] = 0
            if cur is None or (r.state == ALERT and cur["severity"] == WARN):
                self.open[key] = {"severity": r.state, "since": bar_index, "last": bar_index, "ok": 0}
                out.append(self._alert(deployment, r, time, reminder=False))
            elif bar_index - cur["last"] >= self.remind_every:
                cur["last"] = bar_index
                out.append(self._alert(deployment, r, time, reminder=True))
        return out

    @staticmethod
    def _alert(deployment: str, r: Reading, time: int | None, *, reminder: bool) -> Alert:
        return Alert(deployment, r.monitor, r.state, r.metric, r.value, r.threshold, tuple(r.window), time,
                     reminder, r.detail)

    def state(self) -> dict:
        return {"remind_every": self.remind_every, "clear_after": self.clear_after, "open": self.open}

    def restore(self, state: dict) -> None:
        self.open = {k: dict(v) for k, v in (state.get("open") or {}).items()}


class Sink:
    """Receives alerts (and, for some, every reading). Must not raise for a delivery problem:
    the caller catches and reports anything it does raise."""

    name = "sink"

    def send(self, alert: Alert) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def readings(self, deployment: str, readings: list[Reading], *, bar_index: int, time: int | None) -> None:
        """Called at every evaluation with all readings (default: nothing)."""


class LogSink(Sink):
    name = "log"

    def send(self, alert: Alert) -> None:
        (_log.error if alert.severity == ALERT else _log.warning)(alert.message())


class JsonlSink(Sink):
    name = "jsonl"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (alert.to_json() + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)  # one write of one line: concurrent readers never see half a record
        finally:
            os.close(fd)


class HookSink(Sink):
    """Runs ``command`` through the shell with the alert's JSON on stdin."""

    name = "hook"

    def __init__(self, command: str, timeout: float = 10.0) -> None:
        self.command = command
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        try:
            proc = subprocess.run(self.command, shell=True, input=alert.to_json(), text=True, capture_output=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"on_alert hook {self.command!r} timed out after {self.timeout} s") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"on_alert hook {self.command!r} exited {proc.returncode}: {tail[0]}")


class AuditSink(Sink):
    """``drift_alert`` records on the audit trail (harness.audit)."""

    name = "audit"

    def __init__(self, trail: Any = None) -> None:
        self.trail = trail

    def send(self, alert: Alert) -> None:
        from harness import audit

        payload = alert.to_dict()
        if self.trail is not None:
            self.trail.append("drift_alert", actor="harness.monitor", deployment=alert.deployment, payload=payload)
        else:
            audit.append("drift_alert", actor="harness.monitor", deployment=alert.deployment, payload=payload)


class MlflowSink(Sink):
    """Readings as metrics (step = bar index) of the deployment's monitoring run.

    The run lives in the experiment ``monitor/<deployment>`` (created through
    ``harness.registry._mlflow``) and is named ``monitoring``; it is reused across
    evaluations and restarts. Alerts are logged as a metric ``alert.<monitor>.<metric>``
    (1 = alert, 0.5 = warn).
    """

    name = "mlflow"

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri
        self._run: dict[str, str] = {}

    def _run_id(self, deployment: str) -> str:
        if deployment in self._run:
            return self._run[deployment]
        from harness.registry import _mlflow

        client = _mlflow.client(self.uri)
        exp = _mlflow.ensure_experiment(f"monitor/{deployment}", uri=self.uri)
        runs = client.search_runs([exp], filter_string="tags.`harness.kind` = 'monitoring'", max_results=1)
        if runs:
            run_id = runs[0].info.run_id
        else:
            run_id = client.create_run(exp, run_name="monitoring",
                                       tags={"harness.kind": "monitoring", "harness.deployment": deployment}).info.run_id
        self._run[deployment] = run_id
        return run_id

    def readings(self, deployment: str, readings: list[Reading], *, bar_index: int, time: int | None) -> None:
        from mlflow.entities import Metric

        from harness.registry import _mlflow

        ts = int((time or 0) // 1_000_000)
        metrics = [Metric(f"{r.monitor}.{_key(r.metric)}", float(r.value), ts, int(bar_index))
                   for r in readings if isinstance(r.value, float) and math.isfinite(r.value)]
        if metrics:
            client = _mlflow.client(self.uri)
            client.log_batch(self._run_id(deployment), metrics=metrics)

    def send(self, alert: Alert) -> None:
        from mlflow.entities import Metric

        from harness.registry import _mlflow

        ts = int((alert.time or 0) // 1_000_000)
        m = Metric(f"alert.{alert.monitor}.{_key(alert.metric)}", 1.0 if alert.severity == ALERT else 0.5, ts, 0)
        _mlflow.client(self.uri).log_batch(self._run_id(alert.deployment), metrics=[m])


def _key(metric: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", metric)
