"""Bar frequencies: parsing ``"1d"``, ``"1h"``, ``"5min"`` ... and annualisation factors."""

from __future__ import annotations

import re

from market_data.errors import InputError

__all__ = ["parse_frequency", "frequency_ns", "periods_per_year", "TRADING_DAYS_PER_YEAR"]

#: Trading days in a year, the annualisation base for daily and intraday bars.
TRADING_DAYS_PER_YEAR = 252
#: Length of a regular equity trading session in hours (09:30-16:00).
SESSION_HOURS = 6.5

_UNITS_NS = {
    "s": 1_000_000_000,
    "min": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_ALIASES = {"sec": "s", "second": "s", "m": "min", "minute": "min", "t": "min",
            "hour": "h", "day": "d", "b": "d", "week": "w"}
_PATTERN = re.compile(r"^\s*(\d+)?\s*([a-zA-Z]+)\s*$")


def parse_frequency(frequency: str) -> tuple[int, str]:
    """Split a frequency string into ``(count, unit)`` with a canonical unit.

    >>> parse_frequency("5min")
    (5, 'min')
    >>> parse_frequency("1D")
    (1, 'd')
    """
    if not isinstance(frequency, str):
        raise InputError(f"frequency must be a string like '1d', '1h' or '1min', got {frequency!r}")
    m = _PATTERN.match(frequency)
    if m is None:
        raise InputError(f"frequency {frequency!r} is not of the form '<count><unit>', e.g. '1d', '1h', '5min'")
    count = int(m.group(1) or 1)
    unit = m.group(2).lower()
    unit = _ALIASES.get(unit, unit)
    if unit not in _UNITS_NS or count <= 0:
        raise InputError(
            f"frequency {frequency!r} has unknown unit {m.group(2)!r}; expected one of s, min, h, d, w"
        )
    return count, unit


def canonical_frequency(frequency: str) -> str:
    """The canonical spelling, e.g. ``"1D" -> "1d"``, ``"60s" -> "60s"``."""
    count, unit = parse_frequency(frequency)
    return f"{count}{unit}"


def frequency_ns(frequency: str) -> int:
    """Nominal bar spacing in nanoseconds."""
    count, unit = parse_frequency(frequency)
    return count * _UNITS_NS[unit]


def periods_per_year(frequency: str) -> float:
    """Bars per year used to annualise returns, volatility and Sharpe ratios.

    Daily bars count 252 trading days; weekly 52; intraday bars count the bars of a
    6.5-hour session on 252 days (so ``"1min"`` gives 98,280 and ``"1h"`` gives 1,638).
    """
    count, unit = parse_frequency(frequency)
    if unit == "w":
        return 52.0 / count
    if unit == "d":
        return TRADING_DAYS_PER_YEAR / count
    session_ns = SESSION_HOURS * _UNITS_NS["h"]
    return TRADING_DAYS_PER_YEAR * session_ns / (count * _UNITS_NS[unit])


def infer_frequency(timestamps_ns) -> str | None:
    """Guess the frequency of int64-ns timestamps from their most common spacing.

    Daily bars with weekends and holidays still infer ``"1d"`` (the modal spacing).
    Returns ``None`` for fewer than two timestamps.
    """
    import numpy as np

    ts = np.asarray(timestamps_ns, dtype=np.int64)
    if ts.size < 2:
        return None
    diffs = np.diff(ts)
    values, counts = np.unique(diffs, return_counts=True)
    step = int(values[np.argmax(counts)])
    if step <= 0:
        return None
    for unit in ("w", "d", "h", "min", "s"):
        size = _UNITS_NS[unit]
        if step % size == 0:
            return f"{step // size}{unit}"
    return None
