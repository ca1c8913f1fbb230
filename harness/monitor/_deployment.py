"""``DeploymentMonitor``: a deployment's monitors on a schedule, de-duplicated alerts, sinks, status.

The runner (or ``harness monitor``) calls :meth:`DeploymentMonitor.step` once per bar
with a function that builds the :class:`MonitorData`; the data is built and the
monitors run only when the schedule (``[monitor] every``) says so, so monitoring costs
nothing on the bars in between. After each evaluation the latest readings, the open
conditions and the sink errors are written atomically to
``<home>/paper/<deployment>.monitor.json`` and new alerts are appended to
``<home>/paper/<deployment>.alerts.jsonl``; :func:`status` and :func:`alerts` read them
(``harness monitor NAME``, ``harness paper status``).
"""

from __future__ import annotations

import json
import logging
import os
import time as _time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.monitor._alerts import (
    Alert,
    AlertBook,
    AuditSink,
    HookSink,
    JsonlSink,
    LogSink,
    MlflowSink,
    Sink,
    retrain_alerts,
)
from harness.monitor._base import Monitor, MonitorData, Reading, monitor_class
from harness.monitor._config import MonitorConfig
from harness.monitor._schedule import Schedule

__all__ = ["DeploymentMonitor", "status", "alerts", "status_path", "alerts_path", "default_sinks"]

_log = logging.getLogger("harness.monitor")
#: the status file is rewritten at least this often while readings change only in value
SAVE_EVERY_S = 5.0


def check_deployment_name(name: Any) -> str:
    """A deployment name that is safe in a path (the experiments' naming rule)."""
    from harness.errors import InputError
    from harness.experiments import _NAME

    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"deployment name {name!r} must match {_NAME.pattern} (it becomes part of file names)")
    return name


def _paper_dir() -> Path:
    from harness.config import paths

    return paths().paper


def status_path(deployment: str) -> Path:
    """``<home>/paper/<deployment>.monitor.json``: the latest readings and open conditions."""
    return _paper_dir() / f"{deployment}.monitor.json"


def alerts_path(deployment: str) -> Path:
    """``<home>/paper/<deployment>.alerts.jsonl``: every alert, one JSON object a line."""
    return _paper_dir() / f"{deployment}.alerts.jsonl"


def default_sinks(deployment: str, config: MonitorConfig) -> list[Sink]:
    """The sinks ``[monitor]`` selects (the deployment's own JSONL file always)."""
    sinks: list[Sink] = [JsonlSink(alerts_path(deployment))]
    if config.log:
        sinks.append(LogSink())
    if config.jsonl:
        sinks.append(JsonlSink(Path(config.jsonl).expanduser()))
    if config.on_alert:
        sinks.append(HookSink(config.on_alert, config.hook_timeout))
    if config.audit:
        sinks.append(AuditSink())
    if config.mlflow:
        sinks.append(MlflowSink())
    return sinks


class DeploymentMonitor:
    """The monitors of one deployment, their schedule, de-duplication and sinks."""

    def __init__(self, deployment: str, config: MonitorConfig | None = None, *, sinks: list[Sink] | None = None,
                 monitors: list[Monitor] | None = None, persist: bool = True) -> None:
        self.deployment = check_deployment_name(deployment)
        self.config = config if config is not None else MonitorConfig()
        self.monitors = monitors if monitors is not None else [monitor_class(n)(self.config)
                                                               for n in self.config.monitors]
        self.sinks = default_sinks(self.deployment, self.config) if sinks is None else list(sinks)
        self.schedule = Schedule(self.config.every)
        self.book = AlertBook(self.config.remind_every, self.config.clear_after)
        self.persist = persist
        self.latest: list[Reading] = []
        self.sink_errors: list[dict] = []
        self.evaluations = 0
        self.last_time: int | None = None
        self._saved_states: list | None = None
        self._saved_at = -float("inf")
        self._dirty = False
        if persist:
            self._restore()

    # state ---------------------------------------------------------------
    def _restore(self) -> None:
        path = status_path(self.deployment)
        if not path.exists():
            return
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            _log.warning("monitor status %s is unreadable; starting with no open conditions", path)
            return
        self.book.restore(saved.get("book") or {})
        self.schedule.restore(saved.get("schedule") or {})
        self.evaluations = int(saved.get("evaluations") or 0)
        t = saved.get("time")
        self.last_time = int(t) if isinstance(t, (int, float)) else None

    def _save(self) -> None:
        path = status_path(self.deployment)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"deployment": self.deployment, "time": self.last_time, "evaluations": self.evaluations,
                "readings": [r.to_dict() for r in self.latest], "book": self.book.state(),
                "schedule": self.schedule.state(), "sink_errors": self.sink_errors[-20:],
                "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.config.to_dict().items()}}
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(body, sort_keys=True, default=str))
        os.replace(tmp, path)

    # evaluation ----------------------------------------------------------
    def evaluate(self, data: MonitorData, *, bar_index: int) -> list[Alert]:
        """Run every monitor on ``data`` now, de-duplicate, deliver; returns the new alerts."""
        readings: list[Reading] = []
        for m in self.monitors:
            readings.extend(m.evaluate(data))
        self.latest = readings
        self.evaluations += 1
        self.last_time = data.time
        new = self.book.update(self.deployment, readings, bar_index=bar_index, time=data.time)
        for sink in self.sinks:
            try:
                sink.readings(self.deployment, readings, bar_index=bar_index, time=data.time)
            except Exception as exc:  # a sink never stops the runner
                self._sink_failed(sink, exc, None)
        for alert in new:
            for sink in self.sinks:
                try:
                    sink.send(alert)
                except Exception as exc:  # a sink never stops the runner
                    self._sink_failed(sink, exc, alert)
        states = [(r.monitor, r.metric, r.state) for r in readings]
        if self.persist and (new or states != self._saved_states or _time.monotonic() - self._saved_at >= SAVE_EVERY_S):
            self.flush()
            self._saved_states = states
        else:
            self._dirty = True
        return new

    def flush(self) -> None:
        """Write the status file now (evaluations write it when a state changes, when an alert
        is raised and at most every ``SAVE_EVERY_S`` seconds otherwise)."""
        if not self.persist:
            return
        try:
            self._save()
        except OSError as exc:
            self._sink_failed(Sink(), exc, None)
        self._saved_at = _time.monotonic()
        self._dirty = False

    def step(self, *, bar_index: int, time: int, data: MonitorData | Callable[[], MonitorData]) -> list[Alert] | None:
        """Evaluate if the schedule says so (``data`` may be a function, called only then);
        returns the new alerts, or None when not due."""
        if not self.schedule.due(bar_index, time):
            return None
        return self.evaluate(data() if callable(data) else data, bar_index=bar_index)

    def retrain_alerts(self, alerts: list[Alert], retrain_on) -> list[Alert]:
        """The alerts among ``alerts`` that ``[retrain] retrain_on`` says should retrain."""
        return retrain_alerts(alerts, retrain_on)

    def _sink_failed(self, sink: Sink, exc: BaseException, alert: Alert | None) -> None:
        entry = {"sink": sink.name, "error": f"{type(exc).__name__}: {exc}",
                 "alert": f"{alert.monitor}.{alert.metric}" if alert else None,
                 "wall_time": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime())}
        self.sink_errors.append(entry)
        _log.warning("monitor sink %s failed for %s: %s", sink.name, self.deployment, entry["error"])


def status(deployment: str) -> dict[str, Any] | None:
    """The last evaluation's readings, open conditions and sink errors (None if never evaluated)."""
    path = status_path(check_deployment_name(deployment))
    if not path.exists():
        return None
    return json.loads(path.read_text())


def alerts(deployment: str, *, last: int | None = None) -> list[Alert]:
    """The deployment's alerts, oldest first (the last ``last`` of them)."""
    path = alerts_path(check_deployment_name(deployment))
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(Alert.from_dict(json.loads(line)))
            except (ValueError, KeyError):
                continue  # a torn last line of a killed writer
    return out[-last:] if last else out
