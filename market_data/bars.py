"""``Bars``: the in-memory container of OHLCV bars for many symbols.

Layout: ``timestamps`` is int64 nanoseconds since the epoch, UTC, shape ``(T,)`` and
strictly increasing; ``symbols`` is a tuple of ``N`` names; each field
(``open``, ``high``, ``low``, ``close``, ``volume``) is a float64 array of shape
``(T, N)``, C-contiguous and read-only. A symbol that has no bar at a timestamp
(not yet listed, delisted, halted) holds NaN there.

``Bars`` is frozen: every method returns a new object, arrays are never written in
place, and slicing shares memory with the parent where NumPy allows it.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from market_data.errors import InputError, ValidationError
from market_data.frequency import canonical_frequency, infer_frequency

if TYPE_CHECKING:  # pandas is imported lazily by the methods that need it
    import pandas as pd

__all__ = ["Bars", "FIELDS", "to_ns"]

#: The price and volume fields of a bar, in storage order.
FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def to_ns(value: Any, *, tz: str | None = None, name: str = "timestamp") -> int:
    """Convert a timestamp-like value (int ns, str, datetime, pandas Timestamp) to int64 ns UTC.

    Naive strings and datetimes are refused unless ``tz`` names their timezone;
    plain dates (``"2008-09-01"``) are taken as midnight UTC.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name} {value!r} is not a timestamp: {exc}") from None
    if ts is pd.NaT:
        raise InputError(f"{name} {value!r} is not a timestamp")
    if ts.tzinfo is None:
        if tz is not None:
            ts = ts.tz_localize(tz)
        elif isinstance(value, str) and len(value.strip()) <= 10:
            ts = ts.tz_localize("UTC")  # a bare date: midnight UTC
        else:
            raise InputError(
                f"{name} {value!r} has no timezone; give an aware timestamp or pass tz= (e.g. tz='UTC')"
            )
    return int(ts.tz_convert("UTC").value)


def _as_field(name: str, values: Any, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiub":
        raise ValidationError(f"field '{name}' must be numeric, got dtype {arr.dtype}", rule="numeric")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim == 1 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != shape:
        raise ValidationError(
            f"field '{name}' has shape {arr.shape}, expected {shape} (bars x symbols)", rule="shape"
        )
    if arr.flags.writeable and arr.base is not None and not arr.flags.owndata:
        arr = arr.copy()
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV bars for ``N`` symbols over ``T`` timestamps (see the module docstring)."""

    timestamps: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    frequency: str = "1d"
    snapshot_id: str | None = None
    _digest: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        ts = np.asarray(self.timestamps)
        if ts.dtype.kind == "M":
            ts = ts.astype("datetime64[ns]").view(np.int64)
        if ts.ndim != 1 or ts.dtype.kind not in "iu":
            raise ValidationError(
                f"timestamps must be a 1-D int64 array of nanoseconds, got dtype {ts.dtype} shape {ts.shape}",
                rule="timestamps",
            )
        ts = np.ascontiguousarray(ts, dtype=np.int64)
        if ts.size > 1:
            bad = np.flatnonzero(np.diff(ts) <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                kind = "duplicate" if ts[i] == ts[i - 1] else "decreasing"
                raise ValidationError(
                    f"timestamps must be strictly increasing: {kind} timestamp "
                    f"{_fmt_ts(ts[i])} at row {i} (previous {_fmt_ts(ts[i - 1])})",
                    rule=f"{kind}_timestamp", timestamp=_fmt_ts(ts[i]),
                )
        ts.flags.writeable = False
        symbols = (self.symbols,) if isinstance(self.symbols, str) else tuple(self.symbols)
        for s in symbols:
            if not isinstance(s, str) or not s:
                raise ValidationError(f"symbols must be non-empty strings, got {s!r}", rule="symbol")
        if len(set(symbols)) != len(symbols):
            dup = next(s for s in symbols if symbols.count(s) > 1)
            raise ValidationError(f"symbol {dup!r} appears twice", rule="duplicate_symbol", symbol=dup)
        shape = (ts.size, len(symbols))
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "symbols", symbols)
        for name in FIELDS:
            object.__setattr__(self, name, _as_field(name, getattr(self, name), shape))
        object.__setattr__(self, "frequency", canonical_frequency(self.frequency))

    # ------------------------------------------------------------------ shape
    @property
    def n_bars(self) -> int:
        return int(self.timestamps.size)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_bars, self.n_symbols)

    def __len__(self) -> int:
        return self.n_bars

    def __repr__(self) -> str:
        span = ""
        if self.n_bars:
            span = f", {_fmt_ts(self.timestamps[0])} .. {_fmt_ts(self.timestamps[-1])}"
        syms = ", ".join(self.symbols[:5]) + (", ..." if self.n_symbols > 5 else "")
        return (f"Bars({self.n_bars} x {self.n_symbols} [{syms}], frequency={self.frequency!r}"
                f"{span}, snapshot_id={self.snapshot_id!r})")

    def field(self, name: str) -> np.ndarray:
        """The ``(T, N)`` array of one field by name."""
        if name not in FIELDS:
            raise InputError(f"unknown field {name!r}; expected one of {', '.join(FIELDS)}")
        return getattr(self, name)

    # ---------------------------------------------------------------- slicing
    def __getitem__(self, key: slice | int) -> Bars:
        """Row slicing by bar position: ``bars[:k]`` is the first ``k`` bars."""
        if isinstance(key, (int, np.integer)):
            key = slice(int(key), int(key) + 1 if int(key) != -1 else None)
        if not isinstance(key, slice):
            raise InputError("Bars can be indexed by a slice of bar positions, e.g. bars[:100]; "
                             "use .between() for times and .select() for symbols")
        return self._take_rows(key)

    def _take_rows(self, rows: slice | np.ndarray) -> Bars:
        if isinstance(rows, slice) and rows.step in (None, 1):
            # a run of consecutive rows of valid bars is valid (read-only C-contiguous views,
            # increasing times): no re-validation, ~3 us instead of ~23 (the fold evaluator
            # slices a window for most trials)
            return type(self)._unchecked(self.timestamps[rows], self.symbols, self.frequency, self.snapshot_id,
                                         {f: getattr(self, f)[rows] for f in FIELDS})
        return replace(self, timestamps=self.timestamps[rows],
                       **{f: getattr(self, f)[rows] for f in FIELDS}, _digest=[])

    @classmethod
    def _unchecked(cls, timestamps: np.ndarray, symbols: tuple[str, ...], frequency: str,
                   snapshot_id: str | None, fields: Mapping[str, np.ndarray]) -> Bars:
        """Bars from parts known to be valid, without the checks of the constructor: read-only
        C-contiguous int64 times (strictly increasing) and float64 ``(T, N)`` fields, the
        symbols and canonical frequency of an already validated ``Bars``."""
        out = object.__new__(cls)
        for name, value in (("timestamps", timestamps), ("symbols", symbols), ("frequency", frequency),
                            ("snapshot_id", snapshot_id), ("_digest", [])):
            object.__setattr__(out, name, value)
        for f in FIELDS:
            object.__setattr__(out, f, fields[f])
        return out

    def between(self, start: Any = None, end: Any = None) -> Bars:
        """Bars with ``start <= timestamp <= end`` (either bound optional, both inclusive)."""
        lo = 0 if start is None else int(np.searchsorted(self.timestamps, to_ns(start, name="start"), "left"))
        hi = self.n_bars if end is None else int(np.searchsorted(self.timestamps, to_ns(end, name="end"), "right"))
        return self._take_rows(slice(lo, max(lo, hi)))

    def select(self, symbols: str | Iterable[str]) -> Bars:
        """Bars for the given symbols, in the given order."""
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        index = {s: i for i, s in enumerate(self.symbols)}
        cols = []
        for s in wanted:
            if s not in index:
                raise InputError(f"unknown symbol {s!r}{_did_you_mean(s, self.symbols)}")
            cols.append(index[s])
        cols_arr = np.asarray(cols, dtype=np.intp)
        return replace(self, symbols=tuple(wanted),
                       **{f: getattr(self, f)[:, cols_arr] for f in FIELDS}, _digest=[])

    def with_snapshot(self, snapshot_id: str | None) -> Bars:
        """The same bars labelled with the snapshot they were read from."""
        out = replace(self, snapshot_id=snapshot_id, _digest=list(self._digest))
        return out

    # ----------------------------------------------------------------- lineage
    def digest(self) -> str:
        """A content hash (hex, 32 chars) of timestamps, symbols, frequency and every field.

        Two ``Bars`` with equal content have equal digests, whatever store or snapshot
        they came from; NaN compares equal to NaN. Computed once and cached (~1 GB/s).
        """
        if not self._digest:
            h = hashlib.blake2b(digest_size=16)
            h.update(self.frequency.encode())
            h.update(b"\x00".join(s.encode() for s in self.symbols))
            h.update(np.ascontiguousarray(self.timestamps).tobytes())
            for name in FIELDS:
                arr = getattr(self, name)
                if np.isnan(arr).any():  # canonical NaN bit pattern
                    arr = np.where(np.isnan(arr), np.nan, arr)
                h.update(np.ascontiguousarray(arr).tobytes())
            self._digest.append(h.hexdigest())
        return self._digest[0]

    def equals(self, other: Bars) -> bool:
        """True when both hold the same data (snapshot ids are ignored)."""
        return isinstance(other, Bars) and self.digest() == other.digest()

    # ------------------------------------------------------------------ pandas
    def index(self) -> pd.DatetimeIndex:
        """The timestamps as a UTC ``DatetimeIndex``."""
        import pandas as pd

        return pd.DatetimeIndex(pd.to_datetime(self.timestamps, unit="ns", utc=True), name="timestamp")

    def to_pandas(self, layout: str = "wide") -> dict[str, pd.DataFrame] | pd.DataFrame:
        """Convert to pandas.

        ``layout="wide"`` gives ``{field: DataFrame(index=timestamp, columns=symbols)}``;
        ``layout="long"`` gives one frame with columns ``timestamp, symbol, open, high,
        low, close, volume`` and one row per (timestamp, symbol) that has a bar.
        """
        import pandas as pd

        idx = self.index()
        if layout == "wide":
            return {f: pd.DataFrame(getattr(self, f), index=idx, columns=list(self.symbols)) for f in FIELDS}
        if layout != "long":
            raise InputError(f"layout must be 'wide' or 'long', got {layout!r}")
        T, N = self.shape
        present = ~np.all(np.isnan(np.stack([getattr(self, f) for f in FIELDS])), axis=0)
        rows, cols = np.nonzero(present)
        data = {"timestamp": idx[rows], "symbol": np.asarray(self.symbols, dtype=object)[cols]}
        for f in FIELDS:
            data[f] = getattr(self, f)[rows, cols]
        return pd.DataFrame(data)

    @classmethod
    def from_pandas(cls, df: pd.DataFrame | Mapping[str, pd.DataFrame], *, frequency: str | None = None,
                    symbol: str | None = None, tz: str | None = None,
                    snapshot_id: str | None = None) -> Bars:
        """Build ``Bars`` from pandas.

        Accepted layouts:

        * long: columns ``timestamp, symbol, open, high, low, close, volume``
          (``timestamp`` may instead be the index);
        * one symbol: a frame indexed by time with OHLCV columns, plus ``symbol=``;
        * wide: a mapping ``{field: DataFrame(index=time, columns=symbols)}`` or a frame
          whose columns are a MultiIndex of ``(field, symbol)``.

        Column names are matched case-insensitively. Naive timestamps need ``tz=``.
        ``frequency`` is inferred from the modal spacing when omitted.
        """
        import pandas as pd

        if isinstance(df, Mapping):
            frames = {str(k).lower(): v for k, v in df.items()}
            _check_fields(frames.keys())
            first = frames["close"]
            symbols = [str(c) for c in first.columns]
            ts = _index_ns(first.index, tz)
            arrays = {}
            for f in FIELDS:
                fr = frames[f]
                if [str(c) for c in fr.columns] != symbols or len(fr.index) != len(first.index):
                    raise ValidationError(f"wide field '{f}' has other columns or rows than 'close'", rule="shape")
                arrays[f] = _numeric(fr.to_numpy(), f)
            return _sorted(cls, ts, symbols, arrays, frequency, snapshot_id)
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"expected a pandas DataFrame or a mapping of DataFrames, got {type(df).__name__}")
        if isinstance(df.columns, pd.MultiIndex):
            lvl0 = {str(x).lower() for x in df.columns.get_level_values(0)}
            frames = {}
            if set(FIELDS) <= lvl0:
                for f in FIELDS:
                    sub = df.loc[:, [c for c in df.columns if str(c[0]).lower() == f]]
                    sub.columns = [c[1] for c in sub.columns]
                    frames[f] = sub
            else:
                for f in FIELDS:
                    sub = df.loc[:, [c for c in df.columns if str(c[1]).lower() == f]]
                    sub.columns = [c[0] for c in sub.columns]
                    frames[f] = sub
            return cls.from_pandas(frames, frequency=frequency, tz=tz, snapshot_id=snapshot_id)
        cols = {str(c).lower(): c for c in df.columns}
        if "symbol" not in cols:
            if symbol is None:
                raise InputError("a frame without a 'symbol' column needs symbol= (or use the long layout)")
            df = df.assign(**{"symbol": symbol})
            cols["symbol"] = "symbol"
        _check_fields(set(cols) - {"timestamp", "symbol", "date", "time", "datetime"}, extra_ok=True)
        if "timestamp" in cols:
            tcol = df[cols["timestamp"]]
        else:
            tcol = df.index
        ts_all = _index_ns(pd.Index(tcol), tz, allow_duplicates=True)
        sym_all = df[cols["symbol"]].astype(str).to_numpy()
        symbols = list(dict.fromkeys(sym_all))
        uniq_ts, t_idx = np.unique(ts_all, return_inverse=True)
        s_lookup = {s: i for i, s in enumerate(symbols)}
        s_idx = np.fromiter((s_lookup[s] for s in sym_all), dtype=np.intp, count=sym_all.size)
        key = t_idx.astype(np.int64) * len(symbols) + s_idx
        if np.unique(key).size != key.size:
            k = int(np.flatnonzero(np.bincount(key) > 1)[0])
            raise ValidationError(
                f"duplicate bar for symbol {symbols[k % len(symbols)]!r} at {_fmt_ts(uniq_ts[k // len(symbols)])}",
                rule="duplicate_timestamp", symbol=symbols[k % len(symbols)],
                timestamp=_fmt_ts(uniq_ts[k // len(symbols)]),
            )
        arrays = {}
        for f in FIELDS:
            out = np.full((uniq_ts.size, len(symbols)), np.nan)
            out[t_idx, s_idx] = _numeric(df[cols[f]].to_numpy(), f)
            arrays[f] = out
        freq = frequency or infer_frequency(uniq_ts) or "1d"
        return cls(timestamps=uniq_ts, symbols=tuple(symbols), frequency=freq,
                   snapshot_id=snapshot_id, **arrays)

    @classmethod
    def empty(cls, symbols: Sequence[str] = (), frequency: str = "1d") -> Bars:
        """Zero bars for the given symbols."""
        n = len(tuple(symbols))
        z = np.empty((0, n))
        return cls(timestamps=np.empty(0, np.int64), symbols=tuple(symbols), frequency=frequency,
                   **{f: z for f in FIELDS})


def _sorted(cls, ts, symbols, arrays, frequency, snapshot_id) -> Bars:
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    arrays = {f: a[order] for f, a in arrays.items()}
    freq = frequency or infer_frequency(ts) or "1d"
    return cls(timestamps=ts, symbols=tuple(symbols), frequency=freq, snapshot_id=snapshot_id, **arrays)


def _check_fields(names: Iterable[str], *, extra_ok: bool = False) -> None:
    names = set(names)
    missing = [f for f in FIELDS if f not in names]
    if missing:
        raise ValidationError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(FIELDS)}", rule="missing_column"
        )
    extra = names - set(FIELDS)
    if extra and not extra_ok:
        raise ValidationError(f"unexpected column(s) {', '.join(sorted(extra))}", rule="extra_column")


def _numeric(values: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        bad = next((v for v in np.asarray(values, dtype=object).ravel() if not _is_number(v)), None)
        raise ValidationError(f"column '{name}' has a non-numeric value {bad!r}", rule="numeric") from None


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _index_ns(index: Any, tz: str | None, *, allow_duplicates: bool = False) -> np.ndarray:
    import pandas as pd

    try:
        dt = pd.DatetimeIndex(index) if not isinstance(index, pd.DatetimeIndex) else index
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"timestamps could not be parsed: {exc}", rule="timestamp") from None
    if dt.tz is None:
        if tz is None:
            raise ValidationError(
                "timestamps are naive (no timezone); pass tz='UTC' or the exchange timezone", rule="naive_timestamp"
            )
        dt = dt.tz_localize(tz)
    if dt.hasnans:
        raise ValidationError("timestamps contain a missing value (NaT)", rule="timestamp")
    return np.asarray(dt.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)


def _fmt_ts(ns: int) -> str:
    """Human form of an int64-ns UTC timestamp, as short as it can be without losing precision."""
    ns = int(ns)
    for unit in ("D", "s", "ms", "us"):
        size = {"D": 86_400_000_000_000, "s": 1_000_000_000, "ms": 1_000_000, "us": 1_000}[unit]
        if ns % size == 0:
            text = str(np.datetime64(ns // size, unit))
            return text if unit == "D" else text + "Z"
    return str(np.datetime64(ns, "ns")) + "Z"


def _did_you_mean(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""
