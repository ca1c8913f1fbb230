"""The detector protocol: results, streaming state, the shared base class.

A detector has two faces that always agree, bar for bar:

* batch ``run(returns) -> RegimeResult`` over a whole series (from a fresh state);
* streaming ``update(r) -> RegimeState``, one new return at a time, bounded work per bar.

Its state is a handful of float64 arrays; ``state()`` gives a JSON-serialisable dict and
``Detector.from_state(d)`` rebuilds a detector that continues exactly where it stopped.

Labels: 0 = low, 1 = normal, 2 = high volatility, relative to the trailing median of the
detector's own volatility estimate over ``calibration_window`` bars (with hysteresis).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from harness.errors import InputError
from strategies.params import Config, param

__all__ = [
    "Detector",
    "DetectorConfig",
    "RegimeResult",
    "RegimeState",
    "Period",
    "LABEL_NAMES",
    "RegimeError",
    "FitWarning",
]

#: Names of the labels, by value (higher = more volatile).
LABEL_NAMES: tuple[str, ...] = ("low", "normal", "high")


class RegimeError(InputError):
    """Bad input to a regime detector (returns, state, parameters)."""


class FitWarning(RuntimeWarning):
    """A detector's model fit failed or was rejected; the detector says what it kept instead."""


class DetectorConfig(Config):
    """Settings shared by every detector: how labels are calibrated on a trailing window."""

    calibration_window: int = param(1260, low=20, high=100_000, search=False,
                                    doc="bars of trailing volatility whose median is 'normal'")
    warmup: int = param(250, low=0, high=100_000, search=False,
                        doc="bars before labels leave 'normal' (calibration warm-up)")
    high_enter: float = param(1.5, low=1.0, high=10.0,
                              doc="vol / trailing median above which the label becomes high")
    high_exit: float = param(1.25, low=0.1, high=10.0,
                             doc="vol / trailing median below which a high label returns to normal")
    low_enter: float = param(1.5, low=1.0, high=10.0,
                             doc="trailing median / vol above which the label becomes low")
    low_exit: float = param(1.25, low=0.1, high=10.0,
                            doc="trailing median / vol below which a low label returns to normal")

    def check(self) -> None:
        if self.high_exit > self.high_enter:
            self.fail("high_exit", f"must be <= high_enter ({self.high_enter}), got {self.high_exit}")
        if self.low_exit > self.low_enter:
            self.fail("low_exit", f"must be <= low_enter ({self.low_enter}), got {self.low_exit}")

    def classifier_params(self) -> list[float]:
        """``[warmup, high_enter, high_exit, low_enter, low_exit]`` as the kernels take them."""
        return [float(self.warmup), self.high_enter, self.high_exit, self.low_enter, self.low_exit]


@dataclass(frozen=True, kw_only=True)
class RegimeState:
    """What ``update(r)`` returns: the detector's view after bar ``bar``."""

    bar: int
    label: int
    volatility: float
    score: float
    change: bool

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]


@dataclass(frozen=True, kw_only=True)
class Period:
    """A maximal run of bars with one label: ``start``..``end`` inclusive (bar indices)."""

    start: int
    end: int
    label: int
    volatility: float

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]


@dataclass(frozen=True, kw_only=True, eq=False)
class RegimeResult:
    """What ``run(returns)`` returns; every array has one entry per input bar.

    ``labels`` (int64, higher = more volatile), ``change_points`` (int64 indices of the
    bars at which a change was *detected*), ``volatility`` (the detector's per-bar std of
    log returns, made with data up to that bar), ``score`` (detector-specific evidence).
    """

    detector: str
    labels: np.ndarray
    change_points: np.ndarray
    volatility: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)

    def periods(self) -> list[Period]:
        """Maximal runs of equal label, with the mean detector volatility over each."""
        lab = self.labels
        if lab.size == 0:
            return []
        cuts = np.flatnonzero(np.diff(lab) != 0) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts - 1, [lab.size - 1]])
        out = []
        for s, e in zip(starts, ends, strict=True):
            v = self.volatility[s:e + 1]
            v = v[np.isfinite(v)]
            out.append(Period(start=int(s), end=int(e), label=int(lab[s]),
                              volatility=float(v.mean()) if v.size else float("nan")))
        return out


def as_returns(returns: Any, *, name: str = "returns") -> np.ndarray:
    """Validate and convert to a contiguous 1-D float64 array (NaN = missing bar allowed)."""
    arr = np.asarray(returns)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise RegimeError(f"{name} must be a 1-D array of log returns, got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise RegimeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = np.flatnonzero(np.isinf(arr))
    if bad.size:
        raise RegimeError(f"{name}[{int(bad[0])}] is {arr[bad[0]]}; expected a finite log return (or NaN for a missing bar)")
    return arr


class Detector:
    """Base class of the detectors: subclasses set ``name``, ``Config`` and implement
    ``_new_state()`` and ``_advance(state, returns)``.

    ``_advance`` must consume the returns in order, mutate ``state`` in place and return
    ``(vol, label, change, score)`` arrays; both faces call it (batch with the whole
    series, streaming with one bar), so they agree by construction.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig

    def __init__(self, config: DetectorConfig | None = None, **params: Any) -> None:
        if config is None:
            config = self.Config(**params)
        else:
            if not isinstance(config, self.Config):
                raise RegimeError(f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}")
            if params:
                config = config.replace(**params)
        self.config = config
        self._state = self._new_state()
        self._bar = 0

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items())
        return f"{type(self).__name__}({args})"

    # -- to implement ----------------------------------------------------------------
    def _new_state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _advance(self, state: dict[str, np.ndarray], returns: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- batch -----------------------------------------------------------------------
    def run(self, returns: Any) -> RegimeResult:
        """Labels, detected change points, volatility and score for every bar of ``returns``.

        Runs from a fresh state and leaves the streaming state untouched.
        """
        arr = as_returns(returns)
        vol, label, change, score = self._advance(self._new_state(), arr)
        return RegimeResult(detector=self.name, labels=label, change_points=np.flatnonzero(change).astype(np.int64),
                            volatility=vol, score=score)

    # -- streaming -------------------------------------------------------------------
    def update(self, r: float) -> RegimeState:
        """Consume one new return (NaN = missing bar) and return the state after it."""
        try:
            x = float(r)
        except (TypeError, ValueError):
            raise RegimeError(f"return at bar {self._bar} must be a number, got {r!r}") from None
        if np.isinf(x):
            raise RegimeError(f"return at bar {self._bar} is {x}; expected a finite log return (or NaN)")
        vol, label, change, score = self._advance(self._state, np.array([x]))
        out = RegimeState(bar=self._bar, label=int(label[0]), volatility=float(vol[0]),
                          score=float(score[0]), change=bool(change[0]))
        self._bar += 1
        return out

    def update_many(self, returns: Any) -> RegimeResult:
        """Stream several returns at once: the same numbers as calling :meth:`update` on each.

        Returns their labels, volatility and score; ``change_points`` are positions within
        ``returns`` (add :attr:`bars_seen` from before the call for absolute bars).
        """
        arr = as_returns(returns, name=f"returns from bar {self._bar}")
        vol, label, change, score = self._advance(self._state, arr)
        self._bar += int(arr.size)
        return RegimeResult(detector=self.name, labels=label, change_points=np.flatnonzero(change).astype(np.int64),
                            volatility=vol, score=score)

    def reset(self) -> None:
        """Forget everything streamed so far."""
        self._state = self._new_state()
        self._bar = 0

    @property
    def bars_seen(self) -> int:
        return self._bar

    # -- persistence -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot: detector name, config, bar count and state arrays."""
        return {"detector": self.name, "config": self.config.to_dict(), "bar": self._bar,
                "arrays": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": v.ravel().tolist()}
                           for k, v in self._state.items()}}

    def to_json(self) -> str:
        return json.dumps(self.state())

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Detector:
        """Rebuild a detector from :meth:`state`; streaming resumes exactly where it stopped."""
        try:
            name = data["detector"]
            config = data["config"]
            bar = int(data["bar"])
            arrays = data["arrays"]
        except (KeyError, TypeError) as exc:
            raise RegimeError(f"detector state is missing {exc}; expected keys detector, config, bar, arrays") from None
        if cls is Detector:
            from harness.regime._registry import detector_class

            klass = detector_class(name)
        else:
            klass = cls
            if name != cls.name:
                raise RegimeError(f"state is of detector {name!r}, not {cls.name!r}")
        det = klass(**config)
        fresh = det._new_state()
        if set(arrays) != set(fresh):
            raise RegimeError(f"state arrays {sorted(arrays)} do not match {name!r} ({sorted(fresh)})")
        for k, spec in arrays.items():
            arr = np.asarray(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])
            if arr.shape != fresh[k].shape:
                raise RegimeError(f"state array {k!r} has shape {arr.shape}, expected {fresh[k].shape}")
            fresh[k] = np.ascontiguousarray(arr)
        det._state = fresh
        det._bar = bar
        return det

    @classmethod
    def from_json(cls, text: str) -> Detector:
        return cls.from_state(json.loads(text))


def classifier_state(window: int) -> dict[str, np.ndarray]:
    """Fresh state of the shared trailing-median classifier."""
    return {"cls": np.array([0.0, 0.0, 1.0, 0.0]), "cls_ring": np.zeros(window), "cls_sorted": np.zeros(window)}
