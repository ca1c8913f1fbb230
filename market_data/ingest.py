"""Getting bars in: CSV, Parquet and pandas DataFrames, validated, into ``Bars`` or a ``BarStore``.

* :func:`read_frame` / :func:`read_file` return validated ``Bars`` (in memory);
* :func:`ingest` writes a file or frame into a store as **one commit**. Files larger
  than ``batch_rows`` stream in batches with a progress bar, in two passes: the first
  validates every batch (and the overlaps with the store), the second writes, so a
  file with a bad row 10 million rows down leaves the store untouched.

Columns are matched case-insensitively, with common aliases (``date``/``datetime``/
``time`` for ``timestamp``, ``ticker`` for ``symbol``, ``vol`` for ``volume``...);
``columns={"Adj Close": "close", ...}`` maps any others. Extra columns are an error
unless ``extra="ignore"``. Naive timestamps need ``tz=`` (the timezone they are in);
integer timestamps are epoch values in ``timestamp_unit`` (default ``"ns"``), UTC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from market_data.bars import FIELDS, Bars, _fmt_ts
from market_data.errors import InputError, ValidationError
from market_data.frequency import canonical_frequency
from market_data.validation import check_frequency, is_date_only, validate_bars, validate_frame

if TYPE_CHECKING:
    import pandas as pd

    from market_data.store import BarStore

__all__ = ["ingest", "read_file", "read_frame", "IngestResult", "ALIASES"]


def _exact_floats(pd: Any) -> dict[str, str]:
    """``read_csv`` arguments that parse every float bit-exactly: pandas < 3.1 needs the
    round-trip parser (its default may be off by an ulp); 3.1 made that the default and
    deprecated the option."""
    major, minor = (int("".join(ch for ch in part if ch.isdigit()) or 0) for part in pd.__version__.split(".")[:2])
    return {} if (major, minor) >= (3, 1) else {"float_precision": "round_trip"}

#: Column-name aliases (lower case) recognised without a mapping.
ALIASES: dict[str, str] = {
    "timestamp": "timestamp", "date": "timestamp", "datetime": "timestamp", "time": "timestamp",
    "ts": "timestamp", "symbol": "symbol", "ticker": "symbol", "open": "open", "o": "open",
    "high": "high", "h": "high", "low": "low", "l": "low", "close": "close", "c": "close",
    "volume": "volume", "vol": "volume", "v": "volume",
}
_UNITS = ("ns", "us", "ms", "s")


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest` wrote."""

    snapshot_id: str
    symbols: tuple[str, ...]
    rows: int
    first: str
    last: str
    frequency: str
    batches: int
    seconds: float


def _normalise(df: pd.DataFrame, *, columns: Mapping[str, str] | None, symbol: str | None,
               symbol_column: str | None, extra: str, timestamp_unit: str, index_is_time: bool) -> pd.DataFrame:
    """Rename to canonical columns, add the symbol, drop ignored extras."""
    import pandas as pd

    mapping = dict(columns or {})
    if index_is_time and not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
        mapping.setdefault(df.columns[0], "timestamp")
    if symbol_column is not None:
        if symbol_column not in df.columns:
            raise ValidationError(f"rule missing_column: symbol column {symbol_column!r} is not in the data "
                                  f"(columns: {', '.join(map(str, df.columns))})", rule="missing_column")
        mapping[symbol_column] = "symbol"
    rename: dict[Any, str] = {}
    for c in df.columns:
        if c in mapping:
            rename[c] = mapping[c]
        elif str(c).strip().lower() in ALIASES and str(c).strip().lower() not in {v.lower() for v in mapping}:
            rename[c] = ALIASES[str(c).strip().lower()]
        else:
            rename[c] = str(c)
    targets = list(rename.values())
    dup = next((t for t in targets if t in ("timestamp", "symbol", *FIELDS) and targets.count(t) > 1), None)
    if dup:
        srcs = [str(k) for k, v in rename.items() if v == dup]
        raise ValidationError(f"rule extra_column: columns {', '.join(srcs)} all map to {dup!r}; "
                              "map one of them explicitly with columns=", rule="extra_column")
    df = df.rename(columns=rename)
    if symbol is not None:
        if "symbol" in df.columns:
            raise InputError("give either symbol= or a symbol column, not both")
        df = df.assign(symbol=symbol)
    if extra == "ignore":
        df = df[[c for c in df.columns if c in ("timestamp", "symbol", *FIELDS)]]
    elif extra != "error":
        raise InputError(f"extra must be 'error' or 'ignore', got {extra!r}")
    if timestamp_unit not in _UNITS:
        raise InputError(f"timestamp_unit must be one of {', '.join(_UNITS)}, got {timestamp_unit!r}")
    if "timestamp" in df.columns and df["timestamp"].dtype.kind in "iu" and timestamp_unit != "ns":
        factor = {"us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}[timestamp_unit]
        df = df.assign(timestamp=df["timestamp"].astype(np.int64) * factor)
    return df


def _to_bars(df: pd.DataFrame, *, tz: str | None, frequency: str | None, row_offset: int = 0) -> Bars:
    """Validate a normalised long frame and build ``Bars``."""
    import pandas as pd

    validate_frame(df, tz=tz, row_offset=row_offset)
    ts = df["timestamp"]
    if ts.dtype.kind in "iu":
        ts = pd.to_datetime(ts.to_numpy(dtype=np.int64), unit="ns", utc=True)
    elif not isinstance(ts.dtype, pd.DatetimeTZDtype):
        parsed = pd.to_datetime(ts, format="mixed") if ts.dtype == object else pd.to_datetime(ts)
        if getattr(parsed.dt, "tz", None) is None:
            parsed = parsed.dt.tz_localize(tz if tz is not None or not is_date_only(ts, parsed) else "UTC")
        ts = parsed
    frame = pd.DataFrame({"timestamp": pd.DatetimeIndex(ts).tz_convert("UTC"), "symbol": df["symbol"].astype(str)})
    for f in FIELDS:
        frame[f] = pd.to_numeric(df[f], errors="coerce").to_numpy(dtype=np.float64)
    bars = Bars.from_pandas(frame, frequency=frequency)
    validate_bars(bars)
    return bars


def read_frame(df: pd.DataFrame | Mapping[str, pd.DataFrame], *, symbol: str | None = None,
               symbol_column: str | None = None, columns: Mapping[str, str] | None = None,
               tz: str | None = None, frequency: str | None = None, extra: str = "error",
               timestamp_unit: str = "ns") -> Bars:
    """Validated ``Bars`` from a DataFrame (long, single-symbol with ``symbol=``, or wide).

    A wide layout (a ``{field: frame}`` mapping, or ``(field, symbol)`` MultiIndex
    columns) goes through ``Bars.from_pandas``; long and single-symbol frames get the
    column mapping and every frame rule of :mod:`market_data.validation`.
    """
    import pandas as pd

    if isinstance(df, Mapping) or (isinstance(df, pd.DataFrame) and isinstance(df.columns, pd.MultiIndex)):
        bars = Bars.from_pandas(df, frequency=frequency, tz=tz)
        return validate_bars(bars)
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    has_time_col = any(str(c).strip().lower() in ("timestamp", "date", "datetime", "time", "ts")
                       for c in df.columns) or any(v == "timestamp" for v in (columns or {}).values())
    norm = _normalise(df, columns=columns, symbol=symbol, symbol_column=symbol_column, extra=extra,
                      timestamp_unit=timestamp_unit, index_is_time=not has_time_col)
    return _to_bars(norm, tz=tz, frequency=frequency)


def _file_kind(path: Path, kind: str | None) -> str:
    if kind is not None:
        if kind not in ("csv", "parquet"):
            raise InputError(f"file kind must be 'csv' or 'parquet', got {kind!r}")
        return kind
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise InputError(f"cannot tell the format of {path.name}; expected .csv or .parquet (or pass kind=)")


def _batches(path: Path, kind: str, batch_rows: int) -> tuple[Iterator[tuple[pd.DataFrame, int]], int, str]:
    """(iterator of (frame, bytes-or-rows done), total, unit)."""
    import pandas as pd

    if kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        total = pf.metadata.num_rows

        def gen_pq() -> Iterator[tuple[pd.DataFrame, int]]:
            done = 0
            for batch in pf.iter_batches(batch_size=batch_rows):
                df = batch.to_pandas()
                done += len(df)
                yield df, done

        return gen_pq(), total, "rows"
    total = path.stat().st_size
    sep = "\t" if path.name.lower().endswith(".tsv") else ","

    def gen_csv() -> Iterator[tuple[pd.DataFrame, int]]:
        with open(path, "rb") as fh:
            reader = pd.read_csv(fh, chunksize=batch_rows, sep=sep, **_exact_floats(pd),
                                 compression="gzip" if path.name.endswith(".gz") else None)
            for df in reader:
                yield df, min(fh.tell(), total)

    return gen_csv(), total, "bytes"


def read_file(path: str | os.PathLike[str], *, symbol: str | None = None, symbol_column: str | None = None,
              columns: Mapping[str, str] | None = None, tz: str | None = None, frequency: str | None = None,
              extra: str = "error", timestamp_unit: str = "ns", kind: str | None = None) -> Bars:
    """Validated ``Bars`` from a CSV or Parquet file read whole into memory."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    k = _file_kind(p, kind)
    if k == "parquet":
        df = pd.read_parquet(p)
    else:
        df = pd.read_csv(p, sep="\t" if p.name.lower().endswith(".tsv") else ",", **_exact_floats(pd))
    return read_frame(df, symbol=symbol, symbol_column=symbol_column, columns=columns, tz=tz,
                      frequency=frequency, extra=extra, timestamp_unit=timestamp_unit)


def ingest(source: str | os.PathLike[str] | pd.DataFrame | Bars, store: BarStore | str | os.PathLike[str], *,
           symbol: str | None = None, symbol_column: str | None = None,
           columns: Mapping[str, str] | None = None, tz: str | None = None, frequency: str | None = None,
           extra: str = "error", timestamp_unit: str = "ns", kind: str | None = None,
           batch_rows: int = 1_000_000, on_conflict: str = "reject", message: str | None = None,
           progress: bool = True) -> IngestResult:
    """Validate ``source`` (file path, DataFrame or ``Bars``) and write it to ``store`` as one commit.

    ``store`` is a ``BarStore`` or a path (created when missing). Files with more
    than ``batch_rows`` rows stream in batches (two passes: validate, then write).
    Returns the snapshot id and what was written.
    """
    import pandas as pd

    from market_data.store import BarStore

    t0 = time.perf_counter()
    if not isinstance(store, BarStore):
        store = BarStore.open(store, create=True)
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    opts = dict(symbol=symbol, symbol_column=symbol_column, columns=columns, tz=tz, frequency=frequency,
                extra=extra, timestamp_unit=timestamp_unit)
    if isinstance(source, Bars):
        bars_list, label = [validate_bars(source)], "Bars"
    elif isinstance(source, (pd.DataFrame, Mapping)):
        bars_list, label = [read_frame(source, **opts)], "DataFrame"
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"no such file: {path}")
        label = path.name
        k = _file_kind(path, kind)
        bars_list = None
        if k == "parquet":
            import pyarrow.parquet as pq

            small = pq.ParquetFile(path).metadata.num_rows <= batch_rows
        else:
            small = path.stat().st_size <= 64 * batch_rows  # ~64 bytes per CSV row
        if small:
            bars_list = [read_file(path, kind=k, **opts)]
        else:
            return _ingest_streaming(path, k, store, opts, batch_rows=batch_rows, on_conflict=on_conflict,
                                     message=message or f"ingest {label}", progress=progress, t0=t0)
    bars = bars_list[0]
    snap = store.write(bars, message=message or f"ingest {label}", on_conflict=on_conflict,
                       metadata={"source": label})
    return IngestResult(snap, bars.symbols, int(np.count_nonzero(~np.isnan(bars.close))),
                        _fmt_ts(bars.timestamps[0]), _fmt_ts(bars.timestamps[-1]), bars.frequency, 1,
                        time.perf_counter() - t0)


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled, transient=False)


def _ingest_streaming(path: Path, kind: str, store: BarStore, opts: dict, *, batch_rows: int, on_conflict: str,
                      message: str, progress: bool, t0: float) -> IngestResult:
    frequency = opts.pop("frequency")
    tz = opts.pop("tz")
    norm_opts = {k: opts[k] for k in ("columns", "symbol", "symbol_column", "extra", "timestamp_unit")}
    symbols: dict[str, None] = {}
    rows = batches = 0
    first = last = None
    with store.transaction(message, on_conflict=on_conflict, metadata={"source": path.name}) as tx, \
            _progress(progress) as bar:
        for phase in ("validate", "write"):
            it, total, _unit = _batches(path, kind, batch_rows)
            task = bar.add_task(f"{phase} {path.name}", total=total)
            last_ts: dict[str, int] = {}
            offset = 0
            for df, done in it:
                norm = _normalise(df, index_is_time=False, **norm_opts)
                b = _to_bars(norm, tz=tz, frequency=frequency, row_offset=offset)
                frequency = frequency or b.frequency
                _check_continuity(b, last_ts, offset)
                if phase == "validate":
                    tx.check(b)
                else:
                    tx.write(b)
                    batches += 1
                    rows += int(np.count_nonzero(~np.isnan(b.close)))
                    symbols.update(dict.fromkeys(b.symbols))
                    first = b.timestamps[0] if first is None else min(first, b.timestamps[0])
                    last = b.timestamps[-1] if last is None else max(last, b.timestamps[-1])
                offset += len(df)
                bar.update(task, completed=done)
            bar.update(task, completed=total)
    return IngestResult(tx.snapshot_id or "", tuple(symbols), rows, _fmt_ts(first), _fmt_ts(last),
                        canonical_frequency(frequency or "1d"), batches, time.perf_counter() - t0)


def _check_continuity(b: Bars, last_ts: dict[str, int], offset: int) -> None:
    """Across batches each symbol's timestamps must keep increasing (within a batch ``Bars`` checks it)."""
    for j, s in enumerate(b.symbols):
        rows = np.flatnonzero(~np.isnan(b.close[:, j]))
        if rows.size == 0:
            continue
        t_first, t_last = int(b.timestamps[rows[0]]), int(b.timestamps[rows[-1]])
        prev = last_ts.get(s)
        if prev is not None and t_first <= prev:
            kind = "duplicate_timestamp" if t_first == prev else "decreasing_timestamp"
            raise ValidationError(
                f"symbol {s!r} at {_fmt_ts(t_first)}: rule {kind}: the batch starting at data row {offset} goes "
                f"back to {_fmt_ts(t_first)} after {_fmt_ts(prev)}; expected strictly increasing timestamps",
                rule=kind, symbol=s, timestamp=_fmt_ts(t_first))
        last_ts[s] = t_last
    if b.n_bars > 1 and b.frequency:
        check_frequency(b.timestamps, b.frequency, bars=b)
