"""A deployment's persisted regime-detector state, and the lock that keeps retrains apart.

``<home>/deployments/<name>/detector.json`` holds, as resumable JSON: the detector's
streaming state, the trigger policy's state, the history of online labels (run-length
encoded by bar timestamp: the ``regime`` window needs the label the detector gave each
bar *at that time*), the confirmed events, the last bar fed, the time of the last
retrain, and the event awaiting a retrain (written before the retrain starts and cleared
after it finished, so a crash in between retrains on the next run instead of losing the
event). It is written atomically (temporary file, fsync, rename). A missing or corrupt
file is a :class:`DetectorStateError`, never a silent reset:
``harness retrain NAME --reset-detector --by WHO`` rebuilds it from ``[data] start``.

Feeding the bars of two calls equals feeding them in one (tested): the detector and the
trigger resume exactly where they stopped.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError

__all__ = ["DetectorState", "DetectorStateError", "RetrainLocked", "deployment_dir", "state_path",
           "deployment_lock", "FORMAT"]

FORMAT = "harness.detector-state/1"


class DetectorStateError(InputError):
    """A deployment's detector state is missing, corrupt, or was built for another spec."""


class RetrainLocked(InputError):
    """Another process holds the deployment's retrain lock."""


def deployment_dir(name: str) -> Path:
    """``<home>/deployments/<name>``: the deployment's local state (detector, lock)."""
    from harness.config import paths

    return paths().home / "deployments" / name


def state_path(name: str) -> Path:
    return deployment_dir(name) / "detector.json"


def _fmt(ns: int | None) -> str | None:
    from market_data.bars import _fmt_ts

    return None if ns is None else _fmt_ts(int(ns))


def _policy_dict(spec: Any) -> dict[str, Any]:
    det = spec.detector()
    return {"detector": det.name, "config": det.config.to_dict(), "trigger": spec.trigger_policy().to_dict(),
            "symbol": spec.regime_symbol}


@dataclass(eq=False)
class DetectorState:
    """The detector, trigger and online label history of one deployment (see the module docs)."""

    deployment: str
    symbol: str
    detector: Any
    trigger: Any
    runs: list[list[int]] = field(default_factory=list)  # [[first bar timestamp, label], ...]
    events: list[dict[str, Any]] = field(default_factory=list)
    first_time: int | None = None
    last_time: int | None = None
    last_close: float | None = None
    last_retrain_time: int | None = None
    pending: dict[str, Any] | None = None
    setup: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ build
    @classmethod
    def fresh(cls, spec: Any) -> DetectorState:
        from harness.regime import Trigger

        return cls(deployment=spec.name, symbol=spec.regime_symbol, detector=spec.detector(),
                   trigger=Trigger(spec.trigger_policy()), setup=_policy_dict(spec))

    @classmethod
    def prime(cls, spec: Any, bars: Any) -> DetectorState:
        """A fresh state fed every bar of ``bars`` (the deployment's bars from ``[data] start``)."""
        state = cls.fresh(spec)
        state.feed(bars)
        return state

    # ------------------------------------------------------------------ feed
    @property
    def n_bars(self) -> int:
        return int(self.detector.bars_seen)

    @property
    def label(self) -> int | None:
        return int(self.runs[-1][1]) if self.runs else None

    def feed(self, bars: Any) -> list[Any]:
        """Stream the bars after :attr:`last_time` (earlier ones are skipped); returns the
        :class:`~harness.regime.RegimeChange` events they fired, with timestamps."""
        from harness.regime import RegimeState

        ts = bars.timestamps
        start = 0 if self.last_time is None else int(np.searchsorted(ts, self.last_time, "right"))
        if start >= bars.n_bars:
            return []
        close = bars.select(self.symbol).close[start:, 0] if self.symbol in bars.symbols else None
        if close is None:
            raise InputError(f"the bars hold no {self.symbol!r}, the symbol the detector of "
                             f"{self.deployment!r} watches")
        prev = np.array([np.nan if self.last_close is None else self.last_close])
        seq = np.concatenate([prev, close])
        if np.any(seq[np.isfinite(seq)] <= 0):
            raise InputError(f"close of {self.symbol!r} has a non-positive price")
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.log(seq[1:] / seq[:-1])
        base = self.n_bars
        res = self.detector.update_many(r)
        changes = set(np.asarray(res.change_points).tolist())
        out = []
        for i in range(r.size):
            t = int(ts[start + i])
            lab = int(res.labels[i])
            if not self.runs or self.runs[-1][1] != lab:
                self.runs.append([t, lab])
            st = RegimeState(bar=base + i, label=lab, volatility=float(res.volatility[i]), score=float(res.score[i]),
                             change=i in changes)
            ev = self.trigger.update(st, t)
            if ev is not None:
                out.append(ev)
                self.events.append(_event_dict(ev))
        if self.first_time is None:
            self.first_time = int(ts[start])
        self.last_time = int(ts[-1])
        c = float(close[-1])
        self.last_close = c if math.isfinite(c) else None
        return out

    def labels_at(self, timestamps: np.ndarray) -> np.ndarray:
        """The online label of each bar timestamp (all must lie within the fed range)."""
        ts = np.asarray(timestamps, dtype=np.int64)
        if not self.runs:
            raise DetectorStateError(f"the detector of {self.deployment!r} has seen no bar yet")
        if ts.size and (ts[0] < self.first_time or ts[-1] > self.last_time):
            raise DetectorStateError(f"the detector of {self.deployment!r} has labels from {_fmt(self.first_time)} "
                                     f"to {_fmt(self.last_time)}, not for bars {_fmt(ts[0])} .. {_fmt(ts[-1])}")
        starts = np.array([r[0] for r in self.runs], dtype=np.int64)
        labels = np.array([r[1] for r in self.runs], dtype=np.int64)
        return labels[np.searchsorted(starts, ts, "right") - 1]

    def last_event_time(self) -> int | None:
        return int(self.events[-1]["timestamp"]) if self.events else None

    def check_matches(self, spec: Any, path: Path) -> None:
        """The state was built for this spec's detector, trigger policy and symbol."""
        from harness.regime import TriggerPolicy

        want = _policy_dict(spec)
        have = dict(self.setup)
        try:  # a policy stored before a field was added holds its default
            have["trigger"] = TriggerPolicy(**have.get("trigger", {})).to_dict()
        except Exception:  # noqa: BLE001 - unreadable: reported as a mismatch below
            pass
        for key in ("detector", "config", "trigger", "symbol"):
            if have.get(key) != want[key]:
                raise DetectorStateError(
                    f"detector state {path} was built with {key} {self.setup.get(key)!r}, but the spec of "
                    f"{spec.name!r} now says {want[key]!r}; rebuild it with `harness retrain {spec.name} "
                    "--reset-detector --by WHO`")

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "deployment": self.deployment, "symbol": self.symbol, "setup": self.setup,
                "detector": self.detector.state(), "trigger": self.trigger.state(), "runs": self.runs,
                "events": self.events, "first_time": self.first_time, "last_time": self.last_time,
                "last_close": self.last_close, "last_retrain_time": self.last_retrain_time,
                "pending": self.pending, "n_bars": self.n_bars}

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the state (recorded with each regime trigger)."""
        import hashlib

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def save(self, path: Path | None = None) -> Path:
        """Write atomically (temporary file, fsync, rename): a crash leaves the old or the new state."""
        path = Path(path) if path is not None else state_path(self.deployment)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w") as fh:
            json.dump(self.to_dict(), fh, sort_keys=True, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, name: str, path: Path | None = None) -> DetectorState:
        from harness.regime import Detector, RegimeError, Trigger

        path = Path(path) if path is not None else state_path(name)
        hint = f"`harness retrain {name} --reset-detector --by WHO` rebuilds it from [data] start (audited)"
        if not path.exists():
            raise DetectorStateError(f"detector state {path} of deployment {name!r} is missing; {hint}")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DetectorStateError(f"detector state {path} is corrupt ({exc}); {hint}") from None
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format') if isinstance(data, dict) else data!r}, "
                                 f"expected {FORMAT!r}")
            if data["deployment"] != name:
                raise ValueError(f"it belongs to deployment {data['deployment']!r}")
            state = cls(deployment=name, symbol=str(data["symbol"]), detector=Detector.from_state(data["detector"]),
                        trigger=Trigger.from_state(data["trigger"]),
                        runs=[[int(t), int(lab)] for t, lab in data["runs"]],
                        events=list(data["events"]), first_time=data["first_time"], last_time=data["last_time"],
                        last_close=data["last_close"], last_retrain_time=data["last_retrain_time"],
                        pending=data["pending"], setup=dict(data["setup"]))
            if state.n_bars != int(data["n_bars"]):
                raise ValueError(f"the detector has seen {state.n_bars} bars, the file says {data['n_bars']}")
            if state.n_bars and (state.last_time is None or not state.runs):
                raise ValueError("it has bars but no label history")
        except (KeyError, TypeError, ValueError, RegimeError) as exc:
            raise DetectorStateError(f"detector state {path} is corrupt ({exc}); {hint}") from None
        return state


def _event_dict(ev: Any) -> dict[str, Any]:
    return {"bar": ev.bar, "since": ev.since, "from_label": ev.from_label, "to_label": ev.to_label,
            "volatility": ev.volatility if math.isfinite(ev.volatility) else None, "timestamp": ev.timestamp,
            "time": _fmt(ev.timestamp), "kind": getattr(ev, "kind", "label")}


class deployment_lock:  # noqa: N801 - used as a context manager, like open()
    """An exclusive, non-blocking lock per deployment (``<home>/deployments/<name>/retrain.lock``).

    A second holder gets :class:`RetrainLocked` naming the holder's pid. The OS drops the
    lock when the process dies, so a killed retrain never leaves it stuck.
    """

    def __init__(self, name: str) -> None:
        self.path = deployment_dir(name) / "retrain.lock"
        self.name = name
        self._fh = None

    def __enter__(self) -> deployment_lock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RetrainLocked(f"a retrain of {self.name!r} is already running ({holder}); "
                                "nothing to do") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
