"""Detection quality against known change points: delay, precision, recall, false alarms."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.regime._base import RegimeError, as_returns

__all__ = ["DetectionReport", "evaluate", "score_detections"]


@dataclass(frozen=True, kw_only=True)
class DetectionReport:
    """How detected change points match true ones.

    A true change point ``c`` owns the window ``[c, min(c + tolerance, next c))``; the
    first detection in it is a hit with delay ``d - c``, later ones there are
    ``duplicates``; a detection in no window is a false alarm. ``stable_bars`` are the
    bars outside every window, the denominator of ``false_alarms_per_10k``.
    ``precision = hits / detections``, ``recall = hits / true change points``.
    """

    n_bars: int
    n_true: int
    n_detected: int
    hits: int
    duplicates: int
    false_alarms: int
    stable_bars: int
    tolerance: int
    delays: np.ndarray = field(repr=False)

    @property
    def precision(self) -> float:
        return self.hits / self.n_detected if self.n_detected else float("nan")

    @property
    def recall(self) -> float:
        return self.hits / self.n_true if self.n_true else float("nan")

    @property
    def median_delay(self) -> float:
        return float(np.median(self.delays)) if self.delays.size else float("nan")

    @property
    def p90_delay(self) -> float:
        return float(np.percentile(self.delays, 90)) if self.delays.size else float("nan")

    @property
    def false_alarms_per_10k(self) -> float:
        return 1e4 * self.false_alarms / self.stable_bars if self.stable_bars else float("nan")

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a flat dict."""
        return {"median_delay": self.median_delay, "p90_delay": self.p90_delay, "precision": self.precision,
                "recall": self.recall, "false_alarms_per_10k": self.false_alarms_per_10k,
                "n_true": self.n_true, "n_detected": self.n_detected, "hits": self.hits,
                "duplicates": self.duplicates, "false_alarms": self.false_alarms, "stable_bars": self.stable_bars}

    @staticmethod
    def merge(reports: Iterable[DetectionReport]) -> DetectionReport:
        """Pool several series' reports (counts add up, delays concatenate)."""
        reps = list(reports)
        if not reps:
            raise RegimeError("merge needs at least one DetectionReport")
        tol = {r.tolerance for r in reps}
        if len(tol) != 1:
            raise RegimeError(f"cannot merge reports with different tolerances {sorted(tol)}")
        return DetectionReport(
            n_bars=sum(r.n_bars for r in reps), n_true=sum(r.n_true for r in reps),
            n_detected=sum(r.n_detected for r in reps), hits=sum(r.hits for r in reps),
            duplicates=sum(r.duplicates for r in reps), false_alarms=sum(r.false_alarms for r in reps),
            stable_bars=sum(r.stable_bars for r in reps), tolerance=tol.pop(),
            delays=np.concatenate([r.delays for r in reps]).astype(np.int64))


def _indices(values: Any, name: str, n_bars: int) -> np.ndarray:
    arr = np.asarray(values if values is not None else [], dtype=np.float64).reshape(-1)
    if arr.size and (np.any(arr != np.floor(arr)) or arr.min() < 0 or arr.max() >= n_bars):
        bad = arr[(arr != np.floor(arr)) | (arr < 0) | (arr >= n_bars)][0]
        raise RegimeError(f"{name} must be bar indices in 0..{n_bars - 1}, got {bad}")
    out = np.unique(arr.astype(np.int64))
    if out.size != arr.size:
        raise RegimeError(f"{name} has a repeated index")
    return out


def score_detections(detected: Sequence[int] | np.ndarray, true_change_points: Sequence[int] | np.ndarray,
                     n_bars: int, tolerance: int) -> DetectionReport:
    """Match detections to true change points (see :class:`DetectionReport`)."""
    if not isinstance(tolerance, (int, np.integer)) or tolerance < 1:
        raise RegimeError(f"tolerance must be a positive number of bars, got {tolerance!r}")
    if not isinstance(n_bars, (int, np.integer)) or n_bars < 0:
        raise RegimeError(f"n_bars must be a non-negative integer, got {n_bars!r}")
    det = _indices(detected, "detected change points", n_bars)
    true = _indices(true_change_points, "true_change_points", n_bars)
    ends = np.minimum(true + int(tolerance), np.append(true[1:], n_bars)) if true.size else true
    ends = np.minimum(ends, n_bars)
    hits = dups = 0
    delays = []
    owner = np.searchsorted(true, det, side="right") - 1  # last true cp <= detection
    matched = np.zeros(true.size, dtype=bool)
    false_alarms = 0
    for d, k in zip(det, owner, strict=True):
        if k < 0 or d >= ends[k]:
            false_alarms += 1
        elif not matched[k]:
            matched[k] = True
            hits += 1
            delays.append(int(d - true[k]))
        else:
            dups += 1
    stable = int(n_bars - int(np.sum(ends - true)))
    return DetectionReport(n_bars=int(n_bars), n_true=int(true.size), n_detected=int(det.size), hits=hits,
                           duplicates=dups, false_alarms=false_alarms, stable_bars=stable, tolerance=int(tolerance),
                           delays=np.asarray(delays, dtype=np.int64))


def evaluate(detector: Any, returns: Any, true_change_points: Sequence[int] | np.ndarray,
             tolerance: int = 100) -> DetectionReport:
    """Run ``detector`` (an instance or a registry name) on ``returns`` and score its change points."""
    if isinstance(detector, str):
        from harness.regime._registry import get

        detector = get(detector)
    arr = as_returns(returns)
    result = detector.run(arr)
    return score_detections(result.change_points, true_change_points, arr.size, tolerance)
