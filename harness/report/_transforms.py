"""Display transforms for reports: pure functions of an equity curve (or returns).

The report shows the engine's own statistics (``BacktestResult.stats``) unchanged; these
functions only reshape series for plotting (drawdown, monthly table, rolling windows,
downsampling, a buy-and-hold benchmark). Their conventions follow the engine's metrics
(``harness.engine.nb.metrics_nb``): simple returns measured from ``init_cash``, sample
standard deviation (ddof=1), annualised with ``periods_per_year`` of the bars'
frequency, drawdown relative to the running peak that starts at ``init_cash``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.errors import InputError

__all__ = ["returns_of", "drawdown", "monthly_returns", "rolling_sharpe", "rolling_volatility",
           "downsample", "buy_and_hold", "relative_gap", "top_rows", "varying_columns", "grid_pivot", "growth"]


def returns_of(equity: pd.Series, init_cash: float) -> pd.Series:
    """Per-bar simple returns; the first bar's is measured from ``init_cash``."""
    eq = equity.to_numpy(dtype=np.float64)
    prev = np.concatenate([[float(init_cash)], eq[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev != 0.0, eq / prev - 1.0, np.nan)
    return pd.Series(r, index=equity.index, name="return")


def drawdown(equity: pd.Series, init_cash: float) -> pd.Series:
    """Fractional drawdown from the running peak (which starts at ``init_cash``); <= 0."""
    eq = equity.to_numpy(dtype=np.float64)
    peak = np.maximum.accumulate(np.maximum(eq, float(init_cash))) if eq.size else eq
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0.0, eq / peak - 1.0, 0.0)
    return pd.Series(dd, index=equity.index, name="drawdown")


def monthly_returns(equity: pd.Series, init_cash: float) -> pd.DataFrame:
    """Compounded return of each calendar month (UTC), as a year x month (1..12) table.

    A month's return is its last equity over the previous month's last equity (or
    ``init_cash`` for the first month), minus one; months without bars are NaN.
    """
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise InputError("monthly_returns needs an equity series indexed by time")
    if equity.empty:
        return pd.DataFrame(index=pd.Index([], name="year"), columns=range(1, 13), dtype=float)
    idx = equity.index.tz_convert("UTC") if equity.index.tz is not None else equity.index
    month_end = equity.groupby([idx.year, idx.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = float(init_cash)
    ret = month_end / prev - 1.0
    table = ret.unstack(level=1).reindex(columns=range(1, 13))
    table.index.name = "year"
    table.columns.name = "month"
    return table


def _rolling_moments(r: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rolling count, mean and sample std over the last ``window`` bars, NaN returns skipped."""
    ok = np.isfinite(r)
    x = np.where(ok, r, 0.0)
    c = np.cumsum(ok.astype(np.float64))
    s1 = np.cumsum(x)
    s2 = np.cumsum(x * x)

    def lagged(a: np.ndarray) -> np.ndarray:
        out = np.zeros_like(a)
        out[window:] = a[:-window]
        return out

    n = c - lagged(c)
    m1 = s1 - lagged(s1)
    m2 = s2 - lagged(s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = m1 / n
        var = (m2 - n * mean * mean) / (n - 1.0)
    var = np.where(var < 0.0, 0.0, var)  # rounding of nearly constant windows
    return n, mean, np.sqrt(var)


def _check_window(window: int, n: int) -> None:
    if int(window) != window or window < 2:
        raise InputError(f"rolling window must be an integer >= 2, got {window!r}")


def rolling_volatility(returns: pd.Series, window: int, periods_per_year: float) -> pd.Series:
    """Annualised sample volatility over the trailing ``window`` bars (NaN until it is full).

    Missing (NaN) returns inside a window are skipped, as the engine skips them; a window
    with fewer than two valid returns is NaN.
    """
    _check_window(window, len(returns))
    n, _, sd = _rolling_moments(returns.to_numpy(dtype=np.float64), int(window))
    out = np.where(n >= 2, sd * np.sqrt(periods_per_year), np.nan)
    out[: min(window - 1, out.size)] = np.nan
    return pd.Series(out, index=returns.index, name="rolling volatility")


def rolling_sharpe(returns: pd.Series, window: int, periods_per_year: float) -> pd.Series:
    """Annualised Sharpe ratio (mean / sample std x sqrt(periods per year)) over a trailing window."""
    _check_window(window, len(returns))
    n, mean, sd = _rolling_moments(returns.to_numpy(dtype=np.float64), int(window))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((n >= 2) & (sd > 0.0), mean / sd * np.sqrt(periods_per_year), np.nan)
    out[: min(window - 1, out.size)] = np.nan
    return pd.Series(out, index=returns.index, name="rolling sharpe")


def downsample(series: pd.Series, max_points: int) -> tuple[pd.Series, bool]:
    """At most ``max_points`` points of ``series`` for display, keeping each bucket's extremes.

    The series is cut into ``max_points // 2`` equal buckets of consecutive points; each
    bucket keeps its minimum and its maximum (in time order), so peaks and troughs such as
    the worst drawdown survive. Returns ``(series, downsampled?)``; a short series comes
    back unchanged.
    """
    if max_points < 4:
        raise InputError(f"max_points must be >= 4, got {max_points}")
    n = len(series)
    if n <= max_points:
        return series, False
    values = series.to_numpy(dtype=np.float64)
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = np.empty(2 * buckets, dtype=np.int64)
    filled = np.where(np.isfinite(values), values, np.nan)
    k = 0
    for b in range(buckets):
        lo, hi = edges[b], edges[b + 1]
        chunk = filled[lo:hi]
        if np.all(np.isnan(chunk)):
            keep[k] = keep[k + 1] = lo
        else:
            i_min = lo + int(np.nanargmin(chunk))
            i_max = lo + int(np.nanargmax(chunk))
            keep[k], keep[k + 1] = min(i_min, i_max), max(i_min, i_max)
        k += 2
    keep = np.unique(np.concatenate([keep, [0, n - 1]]))
    return series.iloc[keep], True


def buy_and_hold(close: pd.DataFrame, init_cash: float) -> pd.Series:
    """Equity of an equal-weight buy and hold of every column, bought at each one's first price.

    Each symbol gets ``init_cash / N`` at its first valid close and is held; before that
    its share stays in cash, and a missing close carries the last one forward.
    """
    if close.shape[1] == 0:
        raise InputError("buy_and_hold needs at least one symbol")
    px = close.astype(np.float64).ffill()
    first = px.bfill().iloc[0]
    units = (float(init_cash) / close.shape[1]) / first
    held = px.mul(units, axis=1)
    cash_share = float(init_cash) / close.shape[1]
    value = held.where(px.notna(), cash_share)
    return value.sum(axis=1).rename("buy and hold")


def relative_gap(actual: pd.Series, expected: pd.Series) -> pd.Series:
    """``actual / expected - 1`` on the timestamps both series share (paper against backtest).

    Timestamps only one of them has are dropped; where ``expected`` is zero the gap is NaN.
    """
    a, b = actual.align(expected, join="inner")
    x = a.to_numpy(dtype=np.float64)
    y = b.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(y != 0.0, x / y - 1.0, np.nan)
    return pd.Series(gap, index=a.index, name="relative gap")


def top_rows(table: pd.DataFrame, by: str, n: int, *, ascending: bool = False) -> pd.DataFrame:
    """The ``n`` best rows of ``table`` by column ``by`` (largest first unless ``ascending``).

    Rows whose ``by`` is NaN come last; ties keep the table's order (a stable sort), so the
    first row is the one :func:`harness.registry.log_sweep` logged as best.
    """
    if by not in table.columns:
        raise InputError(f"column {by!r} is not in the table (columns: {', '.join(map(str, table.columns))})")
    if int(n) != n or n < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    return table.sort_values(by, ascending=ascending, na_position="last", kind="stable").head(int(n))


def varying_columns(table: pd.DataFrame, columns: list[str]) -> list[str]:
    """Those of ``columns`` that take more than one value in ``table`` (the grid's axes), in order."""
    return [c for c in columns if c in table.columns and table[c].nunique(dropna=False) > 1]


def grid_pivot(table: pd.DataFrame, x: str, y: str, value: str) -> pd.DataFrame:
    """``value`` as a ``y`` x ``x`` table (rows: sorted ``y`` values, columns: sorted ``x`` values).

    A pair the table lacks (a combination the strategy rejected) is NaN. Each pair must
    occur at most once: a table where other columns vary too is an :class:`InputError`
    (a heatmap would have to hide rows).
    """
    for c in (x, y, value):
        if c not in table.columns:
            raise InputError(f"column {c!r} is not in the table")
    if table.duplicated([x, y]).any():
        first = table[table.duplicated([x, y], keep=False)].iloc[0]
        raise InputError(f"({x}={first[x]}, {y}={first[y]}) occurs more than once: other columns vary too, "
                         "so the grid is not two-dimensional")
    out = table.pivot(index=y, columns=x, values=value).sort_index().sort_index(axis=1)
    return out.astype(np.float64)


def growth(returns: np.ndarray | pd.Series) -> np.ndarray:
    """Growth of 1 compounded from per-bar simple returns: ``prod(1 + r)`` up to each bar.

    A missing (NaN) return counts as flat (0), as the engine's metrics skip it.
    """
    r = np.asarray(returns, dtype=np.float64)
    return np.cumprod(1.0 + np.where(np.isfinite(r), r, 0.0))
