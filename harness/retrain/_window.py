"""Training windows of a retrain: trailing, expanding and regime-aware; each ends at the trigger bar.

The detection that triggers a retrain happened at the close of the trigger bar, so every
window ends at that bar, inclusive, and never reaches past it: bars appended after the
trigger change nothing. The last ``holdout`` bars of the window are kept from the study;
the gate compares challenger and champion there.

``regime`` windows take the past bars whose *online* regime label (the one the detector
assigned at that bar, from the persisted label history, never a hindsight relabelling)
equals the label at the trigger bar. Each period of that label loses ``purge`` bars at
each boundary with another regime (the bars where the detector had not yet caught up or
where the periods' features mix); the start of the data and the trigger bar are not
boundaries. The periods are stitched in time order into one series: each later period's
prices are rescaled by one factor per symbol so that its first open equals the previous
period's last close, so no gap between periods shows up as a return, while every
return inside a period is unchanged (indicators such as moving-average ratios, returns
and volatilities are scale-free). Timestamps stay the real ones. When too few such
bars exist for one full fold of the CV scheme plus the holdout, the window falls back
to ``[retrain] fallback`` (a trailing window) and says so in ``fallback``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import InputError
from market_data import Bars

__all__ = ["TrainingWindow", "training_window", "holdout_size", "cv_fits"]


@dataclass(frozen=True, eq=False)
class TrainingWindow:
    """The bars a retrain trains and holds out on.

    ``bars`` (the window, stitched for ``regime``), ``rows`` (their positions in the
    deployment's bars), ``holdout`` (bars at the end the study never sees), ``kind``
    (what was used: trailing | expanding | regime), ``requested`` (the spec's window),
    ``trigger_bar``/``trigger_time``, ``segments`` (runs of ``rows``, half-open), and
    ``fallback`` (why a regime window fell back to trailing, else None).
    """

    bars: Bars
    rows: np.ndarray
    holdout: int
    kind: str
    requested: str
    trigger_bar: int
    trigger_time: int
    segments: list[tuple[int, int]] = field(default_factory=list)
    fallback: str | None = None
    label: int | None = None

    @property
    def n_bars(self) -> int:
        return self.bars.n_bars

    @property
    def train_bars(self) -> Bars:
        """The window minus its holdout: what the study sees."""
        return self.bars[:self.n_bars - self.holdout]

    @property
    def holdout_start(self) -> int:
        """Position in ``bars`` of the first holdout bar."""
        return self.n_bars - self.holdout

    def describe(self) -> dict[str, Any]:
        from market_data.bars import _fmt_ts

        ts = self.bars.timestamps
        return {"kind": self.kind, "requested": self.requested, "bars": self.n_bars, "holdout": self.holdout,
                "start": _fmt_ts(ts[0]), "end": _fmt_ts(ts[-1]),
                "holdout_start": _fmt_ts(ts[self.holdout_start]),
                "trigger_bar": self.trigger_bar, "trigger_time": _fmt_ts(self.trigger_time),
                "segments": [[int(a), int(b)] for a, b in self.segments], "fallback": self.fallback,
                "label": self.label}


def _offset_start(ts: np.ndarray, end: int, size: tuple[int, str]) -> int:
    """First row whose timestamp lies within ``size`` (a duration) before ``ts[end]``: ``(t - d, t]``."""
    import pandas as pd

    from harness.validation._splits import _offset

    cutoff = (pd.Timestamp(int(ts[end]), unit="ns", tz="UTC") - _offset(size)).value
    return int(np.searchsorted(ts[:end + 1], cutoff, "right"))


def holdout_size(value: Any, bars: Bars) -> int:
    """The holdout in bars of a window: a bar count, a duration at its end, or a fraction of it."""
    from harness.validation._splits import resolve_duration

    n = bars.n_bars
    if isinstance(value, float) and not isinstance(value, bool) and 0 < value < 1:
        h = int(round(value * n))
    else:
        size = resolve_duration(value, "holdout")
        h = size if isinstance(size, int) else n - _offset_start(bars.timestamps, n - 1, size)
    if h < 1 or h >= n:
        raise InputError(f"holdout {value!r} is {h} of the window's {n} bars; it must leave bars to train on "
                         "and hold out at least one")
    return h


def cv_fits(cv: Any, bars: Bars, strategy: Any = None) -> str | None:
    """None when one full fold of ``cv`` fits on ``bars``, else why not.

    Walk-forward needs its whole training window plus one whole test window; purged
    k-fold and CPCV need every split to have training and test rows. A trainable
    strategy needs a contiguous training window per fold.
    """
    from harness.validation import WalkForward
    from harness.validation._splits import _offset, resolve_duration

    n = bars.n_bars
    if isinstance(cv, WalkForward):
        tr, te = resolve_duration(cv.train, "train"), resolve_duration(cv.test, "test")
        if isinstance(tr, int):
            need = tr + te
            if n < need:
                return f"{n} bars, but one walk-forward fold needs {need} (train {tr} + test {te})"
        else:
            import pandas as pd

            t0 = pd.Timestamp(int(bars.timestamps[0]), unit="ns", tz="UTC")
            if n == 0 or (t0 + _offset(tr) + _offset(te)).value > int(bars.timestamps[-1]):
                return f"{n} bars, but one walk-forward fold needs {cv.train} of training and {cv.test} of test"
    try:
        folds = list(cv.split(bars))
    except InputError as exc:
        return str(exc)
    if not folds or any(tr.size == 0 or te.size == 0 for tr, te in folds):
        return f"cv {cv.spec()} yields no complete fold on {n} bars"
    if strategy is not None and getattr(strategy, "trainable", False):
        from harness.optimize._folds import contiguous_runs

        if any(len(contiguous_runs(tr)) != 1 for tr, _ in folds):
            return f"trainable strategy needs contiguous training windows, but {cv.spec()} gives gaps"
    return None


def _stitch(bars: Bars, segments: list[tuple[int, int]]) -> Bars:
    """The segments' rows as one series, later segments' prices rescaled to join without a gap."""
    from dataclasses import replace

    parts = {f: [] for f in ("open", "high", "low", "close")}
    factor = np.ones(bars.n_symbols)
    prev_close = None
    for a, b in segments:
        o = bars.open[a:b]
        if prev_close is not None:
            first_open = np.array([_first_finite(o[:, j]) for j in range(bars.n_symbols)])
            ok = np.isfinite(first_open) & np.isfinite(prev_close) & (first_open > 0)
            factor = np.where(ok, prev_close / np.where(ok, first_open, 1.0), factor)
        else:
            factor = np.ones(bars.n_symbols)
        for f in parts:
            parts[f].append(getattr(bars, f)[a:b] * factor)
        c = parts["close"][-1]
        prev_close = np.array([_last_finite(c[:, j]) for j in range(bars.n_symbols)])
    rows = np.concatenate([np.arange(a, b) for a, b in segments])
    return replace(bars, timestamps=bars.timestamps[rows], volume=bars.volume[rows],
                   **{f: np.concatenate(v) for f, v in parts.items()}, _digest=[])


def _first_finite(x: np.ndarray) -> float:
    i = np.flatnonzero(np.isfinite(x))
    return float(x[i[0]]) if i.size else float("nan")


def _last_finite(x: np.ndarray) -> float:
    i = np.flatnonzero(np.isfinite(x))
    return float(x[i[-1]]) if i.size else float("nan")


def _regime_segments(labels: np.ndarray, trigger: int, purge: int) -> tuple[int, list[tuple[int, int]]]:
    lab = np.asarray(labels[:trigger + 1])
    target = int(lab[trigger])
    same = lab == target
    segs: list[tuple[int, int]] = []
    cut = np.flatnonzero(np.diff(same.astype(np.int8)) != 0) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [lab.size]))
    for a, b in zip(starts, ends, strict=True):
        if not same[a]:
            continue
        a2 = a + (purge if a > 0 else 0)
        b2 = b - (purge if b <= trigger else 0)  # b == trigger + 1: the present, not a boundary
        if b2 > a2:
            segs.append((int(a2), int(b2)))
    return target, segs


def training_window(bars: Bars, retrain: Any, cv: Any, *, trigger: int, labels: np.ndarray | None = None,
                    strategy: Any = None) -> TrainingWindow:
    """The training window of ``bars`` (a deployment's bars from ``[data] start``) ending at
    row ``trigger`` inclusive, per ``retrain`` (a :class:`~harness.deploy.RetrainConfig`).

    ``labels`` are the detector's online labels of ``bars`` (needed for ``regime``).
    """
    from harness.deploy import WindowSpec

    n = bars.n_bars
    if not 0 <= trigger < n:
        raise InputError(f"trigger bar {trigger} is outside the {n} bars")
    bars = bars[:trigger + 1]  # nothing after the trigger can matter
    ts = bars.timestamps
    spec = retrain.window_spec
    fallback = None
    label = None
    if spec.kind == "regime":
        if labels is None or len(labels) < trigger + 1:
            have = 0 if labels is None else len(labels)
            raise InputError(f"the regime window needs the online labels of every bar up to the trigger "
                             f"({trigger + 1}), got {have}; the detector state is behind the data")
        label, segs = _regime_segments(np.asarray(labels), trigger, int(retrain.purge))
        why = "no bar of that regime survives the purge" if not segs else None
        n_regime = sum(b - a for a, b in segs)
        if segs:
            window = _stitch(bars, segs)
            try:
                h = holdout_size(retrain.holdout, window)
            except InputError as exc:
                why = str(exc)
            else:
                why = cv_fits(cv, window[:window.n_bars - h], strategy)
                if why is not None:
                    why = f"{h} held out, leaving {why}"
                if why is None:
                    rows = np.concatenate([np.arange(a, b) for a, b in segs])
                    return TrainingWindow(bars=window, rows=rows, holdout=h, kind="regime", requested=spec.spec(),
                                          trigger_bar=trigger, trigger_time=int(ts[trigger]), segments=segs,
                                          label=label)
        from harness.regime import LABEL_NAMES

        fallback = (f"too few bars in regime {LABEL_NAMES[label]!r} for the regime window "
                    f"({n_regime} after purging; {why}); used {retrain.fallback}")
        spec = WindowSpec.parse(retrain.fallback)
    if spec.kind == "expanding":
        start = 0
    else:
        size = spec.size
        start = max(0, trigger + 1 - size) if isinstance(size, int) else _offset_start(ts, trigger, size)
    window = bars[start:trigger + 1]
    h = holdout_size(retrain.holdout, window)
    why = cv_fits(cv, window[:window.n_bars - h], strategy)
    if why is not None:
        raise InputError(f"the {spec.spec()} training window ({window.n_bars} bars up to the trigger, "
                         f"{h} held out) is too short for the cv scheme: {why}")
    return TrainingWindow(bars=window, rows=np.arange(start, trigger + 1), holdout=h, kind=spec.kind,
                          requested=retrain.window, trigger_bar=trigger, trigger_time=int(ts[trigger]),
                          segments=[(start, trigger + 1)], fallback=fallback, label=label)
