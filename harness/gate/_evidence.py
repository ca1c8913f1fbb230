"""``Evidence``: what a retrain hands the gate, constructible from plain arrays.

Every array is validated on construction (shape, length, finiteness) and the errors
name the field and the row. ``save(folder)`` writes ``evidence.npz`` (the arrays) and
``evidence.json`` (scalars, lineage, the digest); ``load(folder)`` reads them back and
refuses a folder whose arrays no longer match the recorded digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import EvidenceError

__all__ = ["Evidence", "Shadow", "EVIDENCE_FORMAT"]

EVIDENCE_FORMAT = "harness.gate.evidence/1"
_NPZ = "evidence.npz"
_JSON = "evidence.json"
_BAR_FIELDS = ("open", "high", "low", "close", "volume")


def _vector(value: Any, name: str, *, length: int | None = None, dtype: Any = np.float64,
            finite: bool = True) -> np.ndarray:
    arr = np.asarray(getattr(value, "to_numpy", lambda: value)())
    try:
        arr = arr.astype(dtype, copy=True)
    except (TypeError, ValueError):
        raise EvidenceError(f"Evidence.{name} must be numeric, got dtype {arr.dtype}") from None
    if arr.ndim != 1:
        raise EvidenceError(f"Evidence.{name} must be 1-D (one value per bar), got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise EvidenceError(f"Evidence.{name} has {arr.shape[0]} rows; expected {length} "
                            "(the same bars as challenger_returns)")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise EvidenceError(f"Evidence.{name} has a non-finite value {arr[i]!r} at row {i}; "
                            "expected a finite per-bar return (0 where the strategy was flat)")
    arr.flags.writeable = False
    return arr


def _matrix(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(getattr(value, "to_numpy", lambda: value)())
    try:
        arr = arr.astype(np.float64, copy=True)
    except (TypeError, ValueError):
        raise EvidenceError(f"Evidence.{name} must be numeric, got dtype {arr.dtype}") from None
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise EvidenceError(f"Evidence.{name} must be a bars x trials matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        r, c = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        raise EvidenceError(f"Evidence.{name} has a non-finite value at row {r}, trial {c}; "
                            "expected each trial's finite out-of-sample return on every bar")
    arr.flags.writeable = False
    return arr


def _optional_number(value: Any, name: str, *, low: float = 0.0, high: float = math.inf,
                     integer: bool = False, hint: str = "") -> Any:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise EvidenceError(f"Evidence.{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not low <= v <= high:
        raise EvidenceError(f"Evidence.{name} must lie in [{low:g}, {high:g}]{hint}, got {value!r}")
    if integer:
        if v != int(v):
            raise EvidenceError(f"Evidence.{name} must be a whole number, got {value!r}")
        return int(v)
    return v


@dataclass(frozen=True, kw_only=True, eq=False)
class Shadow:
    """A paper shadow record: the challenger's paper returns beside its backtest returns.

    ``returns``: per-bar returns the paper runner's shadow account made; ``expected_returns``:
    the challenger's backtest returns on the same bars; ``timestamps`` (int64 ns) and
    ``ledger_digest`` are lineage.
    """

    returns: Any
    expected_returns: Any
    timestamps: Any = None
    ledger_digest: str | None = None

    def __post_init__(self) -> None:
        r = _vector(self.returns, "shadow.returns")
        object.__setattr__(self, "returns", r)
        object.__setattr__(self, "expected_returns",
                           _vector(self.expected_returns, "shadow.expected_returns", length=r.shape[0]))
        if self.timestamps is not None:
            object.__setattr__(self, "timestamps",
                               _vector(self.timestamps, "shadow.timestamps", length=r.shape[0], dtype=np.int64))
        if self.ledger_digest is not None and not isinstance(self.ledger_digest, str):
            raise EvidenceError(f"Evidence.shadow.ledger_digest must be a string, got {self.ledger_digest!r}")

    @property
    def n_bars(self) -> int:
        return int(self.returns.shape[0])


@dataclass(frozen=True, kw_only=True, eq=False)
class Evidence:
    """Out-of-sample evidence for one challenger against the champion.

    ``challenger_returns`` / ``champion_returns``: per-bar returns on the same bars (the
    retrain's holdout, which no trial was selected on); before the first promotion the
    champion is the baseline (``cash`` = zeros, ``buy_and_hold``). ``n_trials``: trials the
    search evaluated. ``trial_returns``: the study's out-of-sample returns, bars x trials
    (the orientation of :func:`harness.validation.pbo`). ``trial_benchmark_returns``: the
    champion on the trials' bars (default: ``champion_returns`` when the trials share
    those bars). ``fold_ids``: a block label per evidence bar (``fold_stability``).
    ``frequency``: bar frequency (annualisation). The challenger's stats: ``trades``
    (count), ``max_drawdown`` (fraction, 0.25 = 25 %), ``turnover`` (one-way traded
    notional per year, in multiples of equity), ``exposure`` (largest gross exposure,
    ``sum |w|``, fraction of equity). ``strategy``/``params``/``bars``: what the
    ``lookahead`` check re-runs. ``shadow``: a :class:`Shadow` record. ``meta``: free
    lineage (snapshot id, run id, ...), JSON-serialisable.
    """

    challenger_returns: Any
    champion_returns: Any
    n_trials: int = 1
    frequency: str = "1d"
    fold_ids: Any = None
    trial_returns: Any = None
    trial_benchmark_returns: Any = None
    timestamps: Any = None
    trades: int | None = None
    max_drawdown: float | None = None
    turnover: float | None = None
    exposure: float | None = None
    strategy: Any = None
    params: Mapping[str, Any] | None = None
    bars: Any = None
    shadow: Shadow | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    _digest: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        a = _vector(self.challenger_returns, "challenger_returns")
        if a.shape[0] < 3:
            raise EvidenceError(f"Evidence.challenger_returns has {a.shape[0]} bars; at least 3 are needed")
        set_(self, "challenger_returns", a)
        T = a.shape[0]
        set_(self, "champion_returns", _vector(self.champion_returns, "champion_returns", length=T))
        if isinstance(self.n_trials, (bool, np.bool_)) or not isinstance(self.n_trials, (int, np.integer)) \
                or self.n_trials < 1:
            raise EvidenceError(f"Evidence.n_trials must be a whole number >= 1 (the trials the search "
                                f"evaluated), got {self.n_trials!r}")
        set_(self, "n_trials", int(self.n_trials))
        from market_data.frequency import parse_frequency

        if not isinstance(self.frequency, str):
            raise EvidenceError(f"Evidence.frequency must be a frequency string such as '1d', got {self.frequency!r}")
        try:
            parse_frequency(self.frequency)
        except Exception as exc:  # noqa: BLE001 - re-raised as the evidence error naming the field
            raise EvidenceError(f"Evidence.frequency: {exc}") from None
        if self.fold_ids is not None:
            f = _vector(self.fold_ids, "fold_ids", length=T, dtype=np.int64)
            set_(self, "fold_ids", f)
        if self.timestamps is not None:
            ts = _vector(self.timestamps, "timestamps", length=T, dtype=np.int64)
            if T > 1 and (np.diff(ts) <= 0).any():
                i = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
                raise EvidenceError(f"Evidence.timestamps must increase strictly; row {i} does not")
            set_(self, "timestamps", ts)
        if self.trial_returns is not None:
            tr = _matrix(self.trial_returns, "trial_returns")
            if tr.shape[1] > self.n_trials:
                raise EvidenceError(f"Evidence.trial_returns has {tr.shape[1]} trials (columns) but "
                                    f"n_trials={self.n_trials}; n_trials counts every trial evaluated")
            set_(self, "trial_returns", tr)
        if self.trial_benchmark_returns is not None:
            if self.trial_returns is None:
                raise EvidenceError("Evidence.trial_benchmark_returns is given without trial_returns")
            set_(self, "trial_benchmark_returns",
                 _vector(self.trial_benchmark_returns, "trial_benchmark_returns",
                         length=self.trial_returns.shape[0]))
        set_(self, "trades", _optional_number(self.trades, "trades", integer=True))
        set_(self, "max_drawdown", _optional_number(self.max_drawdown, "max_drawdown", high=1.0,
                                                    hint=" (a fraction: 0.25 = 25 %)"))
        set_(self, "turnover", _optional_number(self.turnover, "turnover"))
        set_(self, "exposure", _optional_number(self.exposure, "exposure"))
        if self.strategy is not None and not isinstance(self.strategy, str) and not hasattr(self.strategy, "name"):
            raise EvidenceError(f"Evidence.strategy must be a strategy name or object, got {self.strategy!r}")
        if self.params is not None:
            if hasattr(self.params, "to_dict"):
                set_(self, "params", dict(self.params.to_dict()))
            elif isinstance(self.params, Mapping):
                set_(self, "params", dict(self.params))
            else:
                raise EvidenceError(f"Evidence.params must be a mapping of parameter values, got {self.params!r}")
        if self.bars is not None:
            from market_data.bars import Bars

            if not isinstance(self.bars, Bars):
                raise EvidenceError(f"Evidence.bars must be market_data.Bars, got {type(self.bars).__name__}")
        if self.shadow is not None and not isinstance(self.shadow, Shadow):
            if isinstance(self.shadow, Mapping):
                set_(self, "shadow", Shadow(**self.shadow))
            else:
                raise EvidenceError(f"Evidence.shadow must be a harness.gate.Shadow, got {type(self.shadow).__name__}")
        try:
            meta = json.loads(json.dumps(dict(self.meta or {}), sort_keys=True))
        except (TypeError, ValueError) as exc:
            raise EvidenceError(f"Evidence.meta must be JSON-serialisable: {exc}") from None
        set_(self, "meta", meta)

    # ----------------------------------------------------------------- views
    @property
    def n_bars(self) -> int:
        return int(self.challenger_returns.shape[0])

    @property
    def strategy_name(self) -> str | None:
        if self.strategy is None:
            return None
        return self.strategy if isinstance(self.strategy, str) else str(self.strategy.name)

    def benchmark_for_trials(self) -> np.ndarray | None:
        """``trial_benchmark_returns``, else ``champion_returns`` when the trials share the
        evidence bars (same row count), else None."""
        if self.trial_benchmark_returns is not None:
            return self.trial_benchmark_returns
        if self.trial_returns is not None and self.trial_returns.shape[0] == self.n_bars:
            return self.champion_returns
        return None

    def replace(self, **changes: Any) -> Evidence:
        """A copy with some fields changed (validated again)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "_digest"}
        kw.update(changes)
        return Evidence(**kw)

    # --------------------------------------------------------- serialisation
    def _arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"challenger_returns": self.challenger_returns,
                                      "champion_returns": self.champion_returns}
        for name in ("fold_ids", "trial_returns", "trial_benchmark_returns", "timestamps"):
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        if self.shadow is not None:
            out["shadow.returns"] = self.shadow.returns
            out["shadow.expected_returns"] = self.shadow.expected_returns
            if self.shadow.timestamps is not None:
                out["shadow.timestamps"] = self.shadow.timestamps
        if self.bars is not None:
            out["bars.timestamps"] = np.asarray(self.bars.timestamps)
            for f in _BAR_FIELDS:
                out[f"bars.{f}"] = np.asarray(getattr(self.bars, f))
        return out

    def _scalars(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_trials": self.n_trials, "frequency": self.frequency, "trades": self.trades,
                               "max_drawdown": self.max_drawdown, "turnover": self.turnover,
                               "exposure": self.exposure, "strategy": self.strategy_name,
                               "params": self.params, "meta": self.meta}
        if self.shadow is not None:
            out["shadow"] = {"ledger_digest": self.shadow.ledger_digest}
        if self.bars is not None:
            out["bars"] = {"symbols": list(self.bars.symbols), "frequency": self.bars.frequency,
                           "snapshot_id": self.bars.snapshot_id}
        return out

    def digest(self) -> str:
        """SHA-256 (hex) over every array (name, dtype, shape, bytes) and the canonical JSON
        of the scalars: equal evidence, equal digest, after any save/load round trip."""
        if not self._digest:
            h = hashlib.sha256(EVIDENCE_FORMAT.encode())
            for name, arr in sorted(self._arrays().items()):
                a = np.ascontiguousarray(arr)
                a = a.astype(a.dtype.newbyteorder("<"), copy=False)
                h.update(f"\x00{name}\x00{a.dtype.str}\x00{a.shape}\x00".encode())
                h.update(a.tobytes())
            h.update(json.dumps(self._scalars(), sort_keys=True, separators=(",", ":")).encode())
            self._digest.append(h.hexdigest())
        return self._digest[0]

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``<path>/evidence.npz`` and ``<path>/evidence.json`` (the folder is created);
        each file is written to a temporary name first and moved into place."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        tmp_npz = folder / f".{_NPZ}.tmp"
        with open(tmp_npz, "wb") as fh:
            np.savez(fh, **self._arrays())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_npz, folder / _NPZ)
        doc = {"format": EVIDENCE_FORMAT, "digest": self.digest(), **self._scalars()}
        tmp_json = folder / f".{_JSON}.tmp"
        tmp_json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(tmp_json, folder / _JSON)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike) -> Evidence:
        """Read a folder written by :meth:`save`; a digest mismatch raises :class:`EvidenceError`."""
        folder = Path(path)
        jpath, npath = folder / _JSON, folder / _NPZ
        for p in (jpath, npath):
            if not p.is_file():
                raise EvidenceError(f"{p}: no such evidence file (Evidence.save writes {_JSON} and {_NPZ})")
        try:
            doc = json.loads(jpath.read_text())
        except ValueError as exc:
            raise EvidenceError(f"{jpath}: not valid JSON ({exc})") from None
        if doc.get("format") != EVIDENCE_FORMAT:
            raise EvidenceError(f"{jpath}: format {doc.get('format')!r}, expected {EVIDENCE_FORMAT!r}")
        try:
            with np.load(npath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable archive is the same evidence error
            raise EvidenceError(f"{npath}: unreadable ({exc})") from None
        for need in ("challenger_returns", "champion_returns"):
            if need not in arrays:
                raise EvidenceError(f"{npath}: array {need!r} is missing")
        shadow = None
        if "shadow.returns" in arrays:
            shadow = Shadow(returns=arrays["shadow.returns"], expected_returns=arrays["shadow.expected_returns"],
                            timestamps=arrays.get("shadow.timestamps"),
                            ledger_digest=(doc.get("shadow") or {}).get("ledger_digest"))
        bars = None
        if "bars.close" in arrays:
            from market_data.bars import Bars

            info = doc.get("bars") or {}
            bars = Bars(timestamps=arrays["bars.timestamps"], symbols=tuple(info.get("symbols", ())),
                        frequency=info.get("frequency", "1d"), snapshot_id=info.get("snapshot_id"),
                        **{f: arrays[f"bars.{f}"] for f in _BAR_FIELDS})
        ev = cls(challenger_returns=arrays["challenger_returns"], champion_returns=arrays["champion_returns"],
                 n_trials=doc["n_trials"], frequency=doc["frequency"], fold_ids=arrays.get("fold_ids"),
                 trial_returns=arrays.get("trial_returns"),
                 trial_benchmark_returns=arrays.get("trial_benchmark_returns"),
                 timestamps=arrays.get("timestamps"), trades=doc.get("trades"),
                 max_drawdown=doc.get("max_drawdown"), turnover=doc.get("turnover"), exposure=doc.get("exposure"),
                 strategy=doc.get("strategy"), params=doc.get("params"), bars=bars, shadow=shadow,
                 meta=doc.get("meta") or {})
        if ev.digest() != doc.get("digest"):
            raise EvidenceError(f"{folder}: evidence digest {ev.digest()[:16]}... does not match the recorded "
                                f"{str(doc.get('digest'))[:16]}...; the files were changed after they were saved")
        return ev
