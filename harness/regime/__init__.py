"""Volatility regime detection: online detectors, a trigger policy and their evaluation.

>>> from harness import regime
>>> det = regime.get("cusum")                  # or regime.default()
>>> result = det.run(returns)                  # labels, change_points, volatility, score
>>> state = det.update(next_return)            # streaming, same numbers bar for bar

Detectors: ``ewma`` (EWMA volatility, trailing-median thresholds with hysteresis),
``cusum`` (two-sided CUSUM of the Student-t scale log-likelihood ratio), ``bocpd`` (Adams & MacKay
Bayesian online change points, Normal-Gamma) and ``garch`` (GARCH(1,1) via ``arch``,
refitted on a trailing window, filtered forward).
"""

from __future__ import annotations

from harness.regime._base import (
    LABEL_NAMES,
    Detector,
    DetectorConfig,
    FitWarning,
    Period,
    RegimeError,
    RegimeResult,
    RegimeState,
)
from harness.regime._data import returns_from_bars
from harness.regime._evaluate import DetectionReport, evaluate, score_detections
from harness.regime._registry import (
    DEFAULT_DETECTOR,
    available,
    default,
    detector_class,
    from_config,
    get,
    register,
    trigger_from_config,
)
from harness.regime._trigger import RegimeChange, Trigger, TriggerPolicy

__all__ = [
    "Detector",
    "DetectorConfig",
    "RegimeResult",
    "RegimeState",
    "Period",
    "LABEL_NAMES",
    "RegimeError",
    "FitWarning",
    "RegimeChange",
    "Trigger",
    "TriggerPolicy",
    "DetectionReport",
    "evaluate",
    "score_detections",
    "available",
    "get",
    "default",
    "from_config",
    "trigger_from_config",
    "detector_class",
    "register",
    "DEFAULT_DETECTOR",
    "returns_from_bars",
]
