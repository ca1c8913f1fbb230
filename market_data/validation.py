"""Validation rules for bars, applied before anything is written to the store.

Every rule raises :class:`market_data.errors.ValidationError` naming the symbol, the
timestamp and the rule (``err.rule``, ``err.symbol``, ``err.timestamp`` carry the same
for programs). The first violation in time order is reported.

Rules on a :class:`~market_data.bars.Bars` (:func:`validate_bars`):

``partial_bar``
    a bar has some fields and lacks others (a missing bar is NaN in *every* field);
``non_finite_price`` / ``non_positive_price``
    an open, high, low or close is +-inf, or is zero or negative;
``high_below_open_close`` / ``low_above_open_close``
    ``high < max(open, close)`` or ``low > min(open, close)`` (beyond a relative
    1e-9, the rounding of adjusted prices);
``negative_volume`` / ``non_finite_volume``
    the volume is below zero or infinite;
``frequency_mismatch``
    the timestamp spacing does not match the declared frequency (intraday: every step is
    a whole multiple of the bar length; daily and longer: no step shorter than the bar
    length less one hour, which tolerates DST shifts, and the most common step is the
    bar length).

``duplicate_timestamp`` / ``decreasing_timestamp``, ``naive_timestamp``, ``numeric`` and
``shape`` are enforced when a ``Bars`` is built; :func:`validate_frame` adds the checks
on a raw long frame (``missing_column``, ``extra_column``, ``numeric``,
``naive_timestamp``, duplicate and decreasing timestamps per symbol) so a bad file is
reported by row before any conversion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from market_data.bars import FIELDS, Bars, _fmt_ts
from market_data.errors import ValidationError
from market_data.frequency import frequency_ns, parse_frequency

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["validate_bars", "validate_frame", "check_frequency", "RULES"]

#: Every rule name this module (and ``Bars``) can report.
RULES: tuple[str, ...] = (
    "partial_bar", "non_finite_price", "non_positive_price", "high_below_open_close",
    "low_above_open_close", "negative_volume", "non_finite_volume", "frequency_mismatch",
    "duplicate_timestamp", "decreasing_timestamp", "naive_timestamp", "missing_column",
    "extra_column", "numeric",
)

_HOUR_NS = 3_600_000_000_000
#: Relative slack of the high/low checks: adjusted prices (split and dividend factors)
#: put high or low a few ulps on the wrong side of open/close; 1e-9 tolerates that only.
REL_TOL = 1e-9
_ROWS_PER_BLOCK = 65_536  # bounds the temporary masks to a few MB per rule


def _raise(rule: str, bars: Bars, row: int, col: int | None, detail: str) -> None:
    ts = _fmt_ts(bars.timestamps[row])
    sym = bars.symbols[col] if col is not None else None
    who = f"symbol {sym!r}" if sym is not None else "all symbols"
    raise ValidationError(f"{who} at {ts}: rule {rule}: {detail}", rule=rule, symbol=sym, timestamp=ts)


def validate_bars(bars: Bars) -> Bars:
    """Check every value rule on ``bars``; return ``bars`` unchanged when all pass."""
    if not isinstance(bars, Bars):
        raise ValidationError(f"expected Bars, got {type(bars).__name__}", rule="shape")
    T = bars.n_bars
    for r0 in range(0, T, _ROWS_PER_BLOCK):
        _validate_block(bars, r0, min(T, r0 + _ROWS_PER_BLOCK))
    check_frequency(bars.timestamps, bars.frequency, bars=bars)
    return bars


def _first(mask: np.ndarray) -> tuple[int, int] | None:
    if not mask.any():
        return None
    flat = int(np.argmax(mask.ravel()))
    return divmod(flat, mask.shape[1])


def _validate_block(bars: Bars, r0: int, r1: int) -> None:
    o, h, lo, c, v = (getattr(bars, f)[r0:r1] for f in FIELDS)
    nan = [np.isnan(a) for a in (o, h, lo, c, v)]
    n_nan = nan[0].astype(np.int8) + nan[1] + nan[2] + nan[3] + nan[4]
    present = n_nan == 0
    checks: list[tuple[str, np.ndarray, str]] = []
    partial = (n_nan > 0) & (n_nan < 5)
    checks.append(("partial_bar", partial, "some of open/high/low/close/volume are NaN; "
                   "a missing bar must be NaN in every field"))
    for name, arr in zip(("open", "high", "low", "close"), (o, h, lo, c), strict=True):
        checks.append(("non_finite_price", np.isinf(arr), f"{name} is infinite; expected a finite price"))
        checks.append(("non_positive_price", arr <= 0, f"{name} is zero or negative; expected a price > 0"))
    with np.errstate(invalid="ignore"):
        checks.append(("high_below_open_close", present & (h < np.maximum(o, c) * (1 - REL_TOL)),
                       "high is below open or close; expected high >= max(open, close)"))
        checks.append(("low_above_open_close", present & (lo > np.minimum(o, c) * (1 + REL_TOL)),
                       "low is above open or close; expected low <= min(open, close)"))
    checks.append(("non_finite_volume", np.isinf(v), "volume is infinite; expected a finite volume"))
    checks.append(("negative_volume", v < 0, "volume is negative; expected volume >= 0"))
    # report the earliest violation (row-major: time first, then symbol order)
    best: tuple[int, int, str, str] | None = None
    for rule, mask, detail in checks:
        hit = _first(mask)
        if hit is not None and (best is None or hit < best[:2]):
            best = (hit[0], hit[1], rule, detail)
    if best is not None:
        row, col, rule, detail = best
        values = ", ".join(f"{f}={float(getattr(bars, f)[r0 + row, col])!r}" for f in FIELDS)
        _raise(rule, bars, r0 + row, col, f"{detail} ({values})")


def check_frequency(timestamps: np.ndarray, frequency: str, *, bars: Bars | None = None,
                    symbol: str | None = None) -> None:
    """Raise ``frequency_mismatch`` when the spacing of ``timestamps`` contradicts ``frequency``."""
    ts = np.asarray(timestamps, dtype=np.int64)
    if ts.size < 2:
        return
    step = frequency_ns(frequency)
    _, unit = parse_frequency(frequency)
    diffs = np.diff(ts)
    if unit in ("s", "min", "h"):
        bad = np.flatnonzero(diffs % step != 0)
        expected = f"every step a whole multiple of {frequency}"
    else:
        bad = np.flatnonzero(diffs < step - _HOUR_NS)
        expected = f"no step shorter than {frequency}"
        if bad.size == 0 and ts.size >= 3:
            values, counts = np.unique(diffs, return_counts=True)
            mode = int(values[np.argmax(counts)])
            if abs(mode - step) > _HOUR_NS:
                row = int(np.flatnonzero(diffs == mode)[0]) + 1
                _report_frequency(ts, row, frequency, bars, symbol,
                                  f"the most common step is {_fmt_step(mode)}, expected {frequency}")
    if bad.size:
        row = int(bad[0]) + 1
        _report_frequency(ts, row, frequency, bars, symbol,
                          f"step {_fmt_step(int(diffs[row - 1]))} from {_fmt_ts(ts[row - 1])}; expected {expected}")


def _report_frequency(ts, row, frequency, bars, symbol, detail) -> None:
    stamp = _fmt_ts(ts[row])
    if symbol is None and bars is not None and bars.n_symbols:
        present = ~np.isnan(bars.close[row])
        symbol = bars.symbols[int(np.argmax(present))] if present.any() else None
    who = f"symbol {symbol!r}" if symbol else "all symbols"
    raise ValidationError(f"{who} at {stamp}: rule frequency_mismatch: frequency {frequency!r} but {detail}",
                          rule="frequency_mismatch", symbol=symbol, timestamp=stamp)


def _fmt_step(ns: int) -> str:
    for unit, size in (("d", 86_400_000_000_000), ("h", _HOUR_NS), ("min", 60_000_000_000), ("s", 1_000_000_000)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def validate_frame(df: pd.DataFrame, *, tz: str | None = None, symbol: str | None = None,
                   row_offset: int = 0) -> None:
    """Check a raw long frame (columns ``timestamp, symbol, open, high, low, close, volume``).

    ``symbol`` stands in for a missing ``symbol`` column. Row numbers in messages are
    ``row_offset`` + position (the data row of the file, counted from 0).
    """
    import pandas as pd

    cols = [str(c) for c in df.columns]
    need = ["timestamp", *(["symbol"] if symbol is None else []), *FIELDS]
    missing = [c for c in need if c not in cols]
    if missing:
        raise ValidationError(f"rule missing_column: missing column(s) {', '.join(missing)}; "
                              f"expected {', '.join(need)} (got {', '.join(cols)})", rule="missing_column")
    allowed = set(need) | {"symbol"}
    extra = [c for c in cols if c not in allowed]
    if extra:
        raise ValidationError(f"rule extra_column: unexpected column(s) {', '.join(extra)}; expected only "
                              f"{', '.join(need)} (map or drop them)", rule="extra_column")
    syms = df["symbol"].astype(str).to_numpy() if "symbol" in df.columns else np.full(len(df), symbol, dtype=object)
    raw_ts = df["timestamp"]
    for f in FIELDS:
        col = df[f]
        if col.dtype.kind in "fiu":
            continue
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna() & (col.astype(str).str.strip() != "")
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise ValidationError(
                f"symbol {syms[i]!r} at {raw_ts.iloc[i]}: rule numeric: column '{f}' row {row_offset + i} "
                f"has non-numeric value {col.iloc[i]!r}; expected a number",
                rule="numeric", symbol=str(syms[i]), timestamp=str(raw_ts.iloc[i]))
    ts = _timestamps_ns(raw_ts, tz, syms, row_offset)
    # duplicate / decreasing timestamps within each symbol, in file order
    order = np.argsort(syms, kind="stable")
    s_sorted, t_sorted = syms[order], ts[order]
    same = s_sorted[1:] == s_sorted[:-1]
    d = np.diff(t_sorted)
    bad = np.flatnonzero(same & (d <= 0))
    if bad.size:
        k = int(bad[0]) + 1
        i = int(order[k])
        kind = "duplicate_timestamp" if d[k - 1] == 0 else "decreasing_timestamp"
        raise ValidationError(
            f"symbol {syms[i]!r} at {_fmt_ts(ts[i])}: rule {kind}: row {row_offset + i} "
            f"{'repeats' if kind == 'duplicate_timestamp' else 'comes before'} the timestamp of row "
            f"{row_offset + int(order[k - 1])} ({_fmt_ts(t_sorted[k - 1])}); expected strictly increasing timestamps",
            rule=kind, symbol=str(syms[i]), timestamp=_fmt_ts(ts[i]))


def is_date_only(raw: pd.Series, parsed: pd.Series) -> bool:
    """True when every value is a bare date string like ``2024-01-02`` (no time of day)."""
    if raw.dtype.kind not in "OSU" and str(raw.dtype) not in ("string", "str"):
        return False
    lengths = raw.astype(str).str.strip().str.len()
    return bool(len(raw)) and bool((lengths <= 10).all()) and bool((parsed.dt.normalize() == parsed).all())


def _timestamps_ns(raw: pd.Series, tz: str | None, syms: np.ndarray, row_offset: int) -> np.ndarray:
    import pandas as pd

    if raw.dtype.kind in "iu":
        return raw.to_numpy(dtype=np.int64)
    try:
        dt = pd.to_datetime(raw, utc=False, format="mixed") if raw.dtype == object else pd.to_datetime(raw)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"rule timestamp: timestamps could not be parsed: {exc}", rule="timestamp") from None
    if isinstance(dt.dtype, pd.DatetimeTZDtype):
        out = dt.dt.tz_convert("UTC")
    else:
        if tz is None and is_date_only(raw, dt):
            tz = "UTC"  # bare dates ("2024-01-02") are days, stamped midnight UTC as Bars does
        if tz is None:
            i = 0
            raise ValidationError(
                f"symbol {syms[i]!r} at {raw.iloc[i]}: rule naive_timestamp: row {row_offset + i} has no "
                "timezone; pass tz='UTC' (or the exchange timezone, e.g. tz='America/New_York')",
                rule="naive_timestamp", symbol=str(syms[i]), timestamp=str(raw.iloc[i]))
        out = dt.dt.tz_localize(tz).dt.tz_convert("UTC")
    if out.isna().any():
        i = int(np.argmax(out.isna().to_numpy()))
        raise ValidationError(f"symbol {syms[i]!r}: rule timestamp: row {row_offset + i} has a missing timestamp",
                              rule="timestamp", symbol=str(syms[i]))
    return out.dt.as_unit("ns").astype("int64").to_numpy()
