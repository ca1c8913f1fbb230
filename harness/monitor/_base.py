"""The monitor plug-in family: ``Monitor`` base, ``MonitorData`` (what monitors read), ``Reading``.

A monitor is one module (``harness/monitor/<name>.py``) with one ``Monitor`` subclass:
``name``, ``requires`` (the ``MonitorData`` fields it reads) and
``evaluate(data) -> list[Reading]``. It is a pure function of the data and its
config: no I/O, no clock. Every monitor passes the shared contract suite
(``tests/harness/monitor/test_monitor_contract.py``): below its minimum sample size it
reports ``insufficient data`` and never an alarm; it is quiet on stable data, raises on
its designed fault, and is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from harness.monitor._config import MonitorConfig

__all__ = ["Monitor", "MonitorData", "Reading", "STATES", "OK", "WARN", "ALERT", "INSUFFICIENT", "monitor_class",
           "register_monitor"]

OK, WARN, ALERT, INSUFFICIENT = "ok", "warn", "alert", "insufficient data"
#: Reading states, mildest first (``insufficient data`` is not an alarm).
STATES = (INSUFFICIENT, OK, WARN, ALERT)


@dataclass(frozen=True)
class Reading:
    """One monitored metric at one evaluation: its value, the threshold and the state.

    ``window`` is ``(start_ns, end_ns)`` of the live data it was computed on; ``detail``
    holds JSON-able extras (per-symbol p-values, counts...).
    """

    monitor: str
    metric: str
    value: float
    threshold: float
    state: str
    window: tuple[int | None, int | None] = (None, None)
    detail: dict = field(default_factory=dict)

    @property
    def alarm(self) -> bool:
        return self.state in (WARN, ALERT)

    def to_dict(self) -> dict[str, Any]:
        v = self.value
        return {"monitor": self.monitor, "metric": self.metric,
                "value": None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v),
                "threshold": float(self.threshold), "state": self.state,
                "window": list(self.window), "detail": self.detail}


@dataclass(frozen=True, eq=False)
class MonitorData:
    """What the monitors read at one evaluation (every field optional; ``None`` = not available).

    Arrays are time-ordered, one row per bar:

    - ``reference_inputs`` / ``live_inputs``: ``(T, N, F)`` strategy inputs
      (:func:`strategies.inputs.compute_inputs`) of the training and the live window,
      names in ``input_names``;
    - ``reference_weights`` / ``live_weights``: ``(T, N)`` target weights of the
      backtest and of the live runner;
    - ``holdout_returns``: per-bar returns of the champion's holdout (out-of-sample)
      evidence; ``live_returns``: per-bar returns of the paper equity;
    - ``bars``: the live window's ``Bars``; ``reference_timestamps``: the training
      window's bar times (its calendar); ``reference_close``: ``(T, N)`` training closes;
      ``now``: the wall clock (ns), for staleness;
    - ``paper_equity`` / ``backtest_equity``: the ledger's and the backtest's equity over
      the same bars;
    - ``time``: the evaluation's bar time (ns); ``live_times``: live bar times.
    """

    time: int | None = None
    input_names: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    reference_inputs: np.ndarray | None = None
    live_inputs: np.ndarray | None = None
    reference_weights: np.ndarray | None = None
    live_weights: np.ndarray | None = None
    holdout_returns: np.ndarray | None = None
    live_returns: np.ndarray | None = None
    live_times: np.ndarray | None = None
    bars: Any = None
    reference_timestamps: np.ndarray | None = None
    reference_close: np.ndarray | None = None
    frequency: str | None = None
    now: int | None = None
    paper_equity: np.ndarray | None = None
    backtest_equity: np.ndarray | None = None

    def window(self) -> tuple[int | None, int | None]:
        t = self.live_times
        if t is None and self.bars is not None:
            t = np.asarray(self.bars.timestamps)
        if t is None or len(t) == 0:
            return (None, self.time)
        return (int(t[0]), int(t[-1]))


class Monitor:
    """Base of the monitors: ``evaluate(data) -> list[Reading]`` (one module per monitor)."""

    name: ClassVar[str] = ""
    #: the ``MonitorData`` fields the monitor cannot work without
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: MonitorConfig | None = None) -> None:
        self.config = config if config is not None else MonitorConfig()

    def missing(self, data: MonitorData) -> list[str]:
        return [f for f in self.requires if getattr(data, f) is None]

    def insufficient(self, data: MonitorData, metric: str, why: str, threshold: float = float("nan")) -> Reading:
        return Reading(self.name, metric, float("nan"), threshold, INSUFFICIENT, data.window(), {"why": why})

    def evaluate(self, data: MonitorData) -> list[Reading]:
        missing = self.missing(data)
        if missing:
            return [self.insufficient(data, self.name, f"no {', '.join(missing)}")]
        return self._evaluate(data)

    def _evaluate(self, data: MonitorData) -> list[Reading]:  # pragma: no cover - abstract
        raise NotImplementedError


_MONITORS: dict[str, str] = {
    "feature_drift": "harness.monitor.feature_drift:FeatureDrift",
    "decision_drift": "harness.monitor.decision_drift:DecisionDrift",
    "performance": "harness.monitor.performance:Performance",
    "data_quality": "harness.monitor.data_quality:DataQuality",
    "tracking_error": "harness.monitor.tracking_error:TrackingError",
}


def register_monitor(name: str, target: str) -> None:
    """Add a monitor class by ``"module:Class"`` path."""
    _MONITORS[name] = target


def monitor_class(name: str) -> type[Monitor]:
    from importlib import import_module

    from harness.errors import InputError

    target = _MONITORS.get(name)
    if target is None:
        raise InputError(f"unknown monitor {name!r}; expected one of {', '.join(_MONITORS)}")
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)
