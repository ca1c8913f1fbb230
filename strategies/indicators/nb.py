"""Numba kernels of the technical indicators every strategy shares.

Conventions (after vectorbt's ``generic/nb.py``):

* ``*_1d_nb`` functions work on one 1-D series and write into a caller-provided ``out``
  (so strategy kernels can reuse one per-column scratch buffer and never allocate
  ``(T x N)`` temporaries); they return ``out``. ``out`` must not alias the input.
* ``*_nb`` functions without ``_1d`` take ``(T, N)`` arrays, apply the 1-D kernel to
  each column and return a new array.
* NaN marks a missing bar (symbol not listed, halted). Rolling windows count the
  non-NaN values among the last ``window`` rows and give NaN while that count is below
  ``minp``, exactly like pandas' ``rolling(window, min_periods=minp)``. Exponential
  averages follow pandas' ``ewm(alpha=..., adjust=..., ignore_na=False)``.
* Output at row ``t`` depends on input rows ``<= t`` only (the prefix property).
* Every rolling window is O(1) per bar: running moments (Welford add/remove) that are
  recomputed exactly every ``window`` bars, so floating error cannot accumulate over
  millions of bars; a window whose values are all equal gives exactly that mean and a
  zero std (as pandas); rolling extremes use a monotonic deque (amortised O(1)).

The thin pandas/NumPy wrappers are in :mod:`strategies.indicators`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "rolling_mean_1d_nb", "rolling_mean_step_nb", "rolling_mean_nb",
    "rolling_mean_std_1d_nb", "rolling_std_1d_nb", "rolling_std_nb",
    "ewm_mean_1d_nb", "ewm_mean_nb",
    "rsi_1d_nb", "rsi_nb",
    "true_range_1d_nb", "atr_1d_nb", "atr_nb",
    "rolling_max_1d_nb", "rolling_min_1d_nb", "donchian_1d_nb", "donchian_nb",
    "zscore_1d_nb", "zscore_nb",
    "count_finite_rows_nb", "scale_by_active_nb",
]


# --------------------------------------------------------------------------- rolling mean
@njit(cache=True, inline="always")
def rolling_mean_step_nb(a, i, window, minp, total, nobs, run, prev, left):
    """One step of :func:`rolling_mean_1d_nb` at row ``i``, for kernels that fuse several
    rolling means into one pass without scratch arrays.

    The state ``(total, nobs, run, prev, left)`` starts as ``(0.0, 0, 0, nan, window)``;
    returns ``(mean_i, total, nobs, run, prev, left)`` with the new state. Calling it for
    ``i = 0, 1, ...`` gives exactly (bit for bit) the values of ``rolling_mean_1d_nb``.
    """
    x = a[i]
    if x == x:
        total += x
        nobs += 1
    if i >= window:
        y = a[i - window]
        if y == y:
            total -= y
            nobs -= 1
    if x == x:
        if x == prev:
            run += 1
        else:
            run = 1
            prev = x
    left -= 1
    if left == 0:  # exact recompute every ``window`` rows: error never builds up
        left = window
        total = 0.0  # never -0.0, so adding +0.0 for a NaN leaves it as skipping would
        for j in range(i + 1 - window, i + 1):
            v = a[j]
            total += v if v == v else 0.0
    if nobs >= minp and nobs > 0:
        m = prev if run >= nobs else total / nobs
    else:
        m = np.nan
    return m, total, nobs, run, prev, left


@njit(cache=True)
def rolling_mean_1d_nb(a, window, minp, out):
    """Rolling mean over the last ``window`` rows (NaN skipped, NaN below ``minp`` values).

    Same as ``pd.Series(a).rolling(window, min_periods=minp).mean()``.
    """
    total = 0.0
    nobs = 0
    run = 0
    prev = np.nan
    left = window
    for i in range(a.shape[0]):
        out[i], total, nobs, run, prev, left = rolling_mean_step_nb(a, i, window, minp, total, nobs, run, prev,
                                                                    left)
    return out


@njit(cache=True)
def rolling_mean_nb(a, window, minp):
    """Column-wise :func:`rolling_mean_1d_nb` of a ``(T, N)`` array."""
    out = np.empty(a.shape, dtype=np.float64)
    for j in range(a.shape[1]):
        rolling_mean_1d_nb(a[:, j], window, minp, out[:, j])
    return out


# ------------------------------------------------------------------ rolling mean and std
@njit(cache=True)
def _exact_moments(a, start, stop):
    total = 0.0
    nobs = 0
    for j in range(start, stop):
        if a[j] == a[j]:
            total += a[j]
            nobs += 1
    if nobs == 0:
        return 0, 0.0, 0.0
    mean = total / nobs
    m2 = 0.0
    for j in range(start, stop):
        if a[j] == a[j]:
            d = a[j] - mean
            m2 += d * d
    return nobs, mean, m2


@njit(cache=True)
def _rolling_moments_1d(a, window, minp, ddof, mean_out, std_out, z_out, want_z):
    """Rolling mean, std and (optionally) z-score in one pass (Welford add/remove).

    The three outputs may be the same array: they are written in that order per row
    and the loop reads only ``a``.
    """
    n = a.shape[0]
    nobs = 0
    mean = 0.0
    m2 = 0.0
    run = 0  # length of the run of identical values ending at the last observation
    prev = np.nan
    for i in range(n):
        if i >= window:
            y = a[i - window]
            if y == y:
                nobs -= 1
                if nobs == 0:
                    mean = 0.0
                    m2 = 0.0
                else:
                    d = y - mean
                    mean -= d / nobs
                    m2 -= d * (y - mean)
        x = a[i]
        if x == x:
            nobs += 1
            d = x - mean
            mean += d / nobs
            m2 += d * (x - mean)
        if x == x:
            if x == prev:
                run += 1
            else:
                run = 1
                prev = x
        if (i + 1) % window == 0:  # exact recompute: error never builds up
            nobs, mean, m2 = _exact_moments(a, i + 1 - window, i + 1)
        if m2 < 0.0:
            m2 = 0.0
        if nobs > 0 and run >= nobs:  # every value in the window is the same: exact
            mean = prev
            m2 = 0.0
        m = np.nan
        s = np.nan
        if nobs >= minp and nobs > 0:
            m = mean
            if nobs > ddof:
                s = np.sqrt(m2 / (nobs - ddof))
        mean_out[i] = m
        std_out[i] = s
        if want_z:
            if s > 0.0:
                z_out[i] = (x - m) / s
            else:
                z_out[i] = np.nan


@njit(cache=True)
def rolling_mean_std_1d_nb(a, window, minp, ddof, mean_out, std_out):
    """Rolling mean and standard deviation in one pass.

    ``std_out`` matches ``pd.Series(a).rolling(window, min_periods=minp).std(ddof=ddof)``
    (NaN where fewer than ``minp`` values or ``nobs <= ddof``); ``mean_out`` the rolling
    mean. Returns ``std_out``.
    """
    _rolling_moments_1d(a, window, minp, ddof, mean_out, std_out, std_out, False)
    return std_out


@njit(cache=True)
def rolling_std_1d_nb(a, window, minp, ddof, out):
    """Rolling standard deviation, like ``pd.Series(a).rolling(window, min_periods=minp).std(ddof=ddof)``."""
    _rolling_moments_1d(a, window, minp, ddof, out, out, out, False)
    return out


@njit(cache=True)
def rolling_std_nb(a, window, minp, ddof):
    """Column-wise :func:`rolling_std_1d_nb` of a ``(T, N)`` array."""
    out = np.empty(a.shape, dtype=np.float64)
    for j in range(a.shape[1]):
        rolling_std_1d_nb(a[:, j], window, minp, ddof, out[:, j])
    return out


@njit(cache=True)
def zscore_1d_nb(a, window, minp, ddof, out):
    """Rolling z-score ``(a - rolling mean) / rolling std``; NaN where the std is 0 or undefined."""
    _rolling_moments_1d(a, window, minp, ddof, out, out, out, True)
    return out


@njit(cache=True)
def zscore_nb(a, window, minp, ddof):
    """Column-wise :func:`zscore_1d_nb` of a ``(T, N)`` array."""
    out = np.empty(a.shape, dtype=np.float64)
    for j in range(a.shape[1]):
        zscore_1d_nb(a[:, j], window, minp, ddof, out[:, j])
    return out


# ---------------------------------------------------------------------------------- EWMA
@njit(cache=True)
def _ewm_step(avg, old_wt, x, keep, new_wt, adjust):
    """One step of pandas' ewma recursion (ignore_na=False)."""
    if avg == avg:
        old_wt *= keep
        if x == x:
            if avg != x:
                avg = (old_wt * avg + new_wt * x) / (old_wt + new_wt)
            if adjust:
                old_wt += new_wt
            else:
                old_wt = 1.0
    elif x == x:
        avg = x
        old_wt = 1.0
    return avg, old_wt


@njit(cache=True)
def ewm_mean_1d_nb(a, alpha, minp, adjust, out):
    """Exponentially weighted mean with smoothing ``alpha`` (0 < alpha <= 1).

    Same as ``pd.Series(a).ewm(alpha=alpha, adjust=adjust, min_periods=minp).mean()``
    (``span=s`` is ``alpha = 2 / (s + 1)``; Wilder's smoothing is ``alpha = 1 / n``).
    """
    n = a.shape[0]
    keep = 1.0 - alpha
    new_wt = 1.0 if adjust else alpha
    avg = np.nan
    old_wt = 1.0
    nobs = 0
    for i in range(n):
        x = a[i]
        if x == x:
            nobs += 1
        avg, old_wt = _ewm_step(avg, old_wt, x, keep, new_wt, adjust)
        out[i] = avg if nobs >= minp and nobs > 0 else np.nan
    return out


@njit(cache=True)
def ewm_mean_nb(a, alpha, minp, adjust):
    """Column-wise :func:`ewm_mean_1d_nb` of a ``(T, N)`` array."""
    out = np.empty(a.shape, dtype=np.float64)
    for j in range(a.shape[1]):
        ewm_mean_1d_nb(a[:, j], alpha, minp, adjust, out[:, j])
    return out


# ----------------------------------------------------------------------------------- RSI
@njit(cache=True)
def rsi_1d_nb(close, window, out):
    """Wilder's relative strength index (0..100) over ``window`` bars.

    Gains and losses of ``close.diff()`` are smoothed with Wilder's average
    (``ewm(alpha=1/window, adjust=False, min_periods=window)``);
    ``RSI = 100 - 100 / (1 + avg_gain / avg_loss)``: 100 when there are no losses, 50
    when the price has not moved at all over the smoothing memory.
    """
    n = close.shape[0]
    alpha = 1.0 / window
    keep = 1.0 - alpha
    up = np.nan
    down = np.nan
    wt_up = 1.0
    wt_down = 1.0
    nobs = 0
    for i in range(n):
        if i == 0:
            d = np.nan
        else:
            d = close[i] - close[i - 1]
        if d == d:
            nobs += 1
            g = d if d > 0.0 else 0.0
            loss = -d if d < 0.0 else 0.0
        else:
            g = np.nan
            loss = np.nan
        up, wt_up = _ewm_step(up, wt_up, g, keep, alpha, False)
        down, wt_down = _ewm_step(down, wt_down, loss, keep, alpha, False)
        if nobs >= window:
            if down > 0.0:
                out[i] = 100.0 - 100.0 / (1.0 + up / down)
            elif up > 0.0:
                out[i] = 100.0
            else:
                out[i] = 50.0
        else:
            out[i] = np.nan
    return out


@njit(cache=True)
def rsi_nb(close, window):
    """Column-wise :func:`rsi_1d_nb` of a ``(T, N)`` array."""
    out = np.empty(close.shape, dtype=np.float64)
    for j in range(close.shape[1]):
        rsi_1d_nb(close[:, j], window, out[:, j])
    return out


# ----------------------------------------------------------------------------------- ATR
@njit(cache=True)
def true_range_1d_nb(high, low, close, out):
    """True range: ``max(high - low, |high - prev close|, |low - prev close|)``; ``high - low``
    when there is no previous close."""
    n = high.shape[0]
    for i in range(n):
        hl = high[i] - low[i]
        pc = close[i - 1] if i > 0 else np.nan
        if pc == pc and hl == hl:
            a = abs(high[i] - pc)
            b = abs(low[i] - pc)
            if a > hl:
                hl = a
            if b > hl:
                hl = b
        out[i] = hl
    return out


@njit(cache=True)
def atr_1d_nb(high, low, close, window, out):
    """Wilder's average true range: true range smoothed with
    ``ewm(alpha=1/window, adjust=False, min_periods=window)``."""
    n = high.shape[0]
    keep = 1.0 - 1.0 / window
    alpha = 1.0 / window
    avg = np.nan
    wt = 1.0
    nobs = 0
    for i in range(n):
        hl = high[i] - low[i]
        pc = close[i - 1] if i > 0 else np.nan
        if pc == pc and hl == hl:
            a = abs(high[i] - pc)
            b = abs(low[i] - pc)
            if a > hl:
                hl = a
            if b > hl:
                hl = b
        if hl == hl:
            nobs += 1
        avg, wt = _ewm_step(avg, wt, hl, keep, alpha, False)
        out[i] = avg if nobs >= window else np.nan
    return out


@njit(cache=True)
def atr_nb(high, low, close, window):
    """Column-wise :func:`atr_1d_nb` of ``(T, N)`` arrays."""
    out = np.empty(close.shape, dtype=np.float64)
    for j in range(close.shape[1]):
        atr_1d_nb(high[:, j], low[:, j], close[:, j], window, out[:, j])
    return out


# ------------------------------------------------------------------ rolling extremes
@njit(cache=True)
def _rolling_extreme_1d(a, window, minp, out, sign):
    """Rolling max (sign=+1) or min (sign=-1) with a monotonic deque of indices."""
    n = a.shape[0]
    dq = np.empty(window + 1, dtype=np.int64)  # circular buffer
    cap = window + 1
    head = 0
    size = 0
    nobs = 0
    for i in range(n):
        x = a[i]
        if x == x:
            nobs += 1
            # drop values that can never be the extreme again
            while size > 0:
                back = dq[(head + size - 1) % cap]
                if sign * a[back] <= sign * x:
                    size -= 1
                else:
                    break
            dq[(head + size) % cap] = i
            size += 1
        if i >= window:
            y = a[i - window]
            if y == y:
                nobs -= 1
        while size > 0 and dq[head] <= i - window:
            head = (head + 1) % cap
            size -= 1
        if nobs >= minp and nobs > 0 and size > 0:
            out[i] = a[dq[head]]
        else:
            out[i] = np.nan
    return out


@njit(cache=True)
def rolling_max_1d_nb(a, window, minp, out):
    """Rolling maximum, like ``pd.Series(a).rolling(window, min_periods=minp).max()``."""
    return _rolling_extreme_1d(a, window, minp, out, 1.0)


@njit(cache=True)
def rolling_min_1d_nb(a, window, minp, out):
    """Rolling minimum, like ``pd.Series(a).rolling(window, min_periods=minp).min()``."""
    return _rolling_extreme_1d(a, window, minp, out, -1.0)


@njit(cache=True)
def donchian_1d_nb(high, low, window, minp, upper_out, lower_out):
    """Donchian channel: highest high and lowest low of the last ``window`` bars
    (the current bar included)."""
    _rolling_extreme_1d(high, window, minp, upper_out, 1.0)
    _rolling_extreme_1d(low, window, minp, lower_out, -1.0)


@njit(cache=True)
def donchian_nb(high, low, window, minp):
    """Column-wise :func:`donchian_1d_nb`; returns ``(upper, lower)``."""
    upper = np.empty(high.shape, dtype=np.float64)
    lower = np.empty(low.shape, dtype=np.float64)
    for j in range(high.shape[1]):
        donchian_1d_nb(high[:, j], low[:, j], window, minp, upper[:, j], lower[:, j])
    return upper, lower


# ------------------------------------------------------------------ portfolio helpers
@njit(cache=True)
def count_finite_rows_nb(close, t):
    """Number of symbols with a (finite) close at row ``t``."""
    c = 0
    for j in range(close.shape[1]):
        if np.isfinite(close[t, j]):
            c += 1
    return c


@njit(cache=True)
def scale_by_active_nb(out, close, start):
    """Divide each row ``t >= start`` of ``out`` by the number of symbols with a bar at
    ``t`` (equal capital per listed symbol), and zero weights of symbols without a bar."""
    for t in range(start, out.shape[0]):
        c = count_finite_rows_nb(close, t)
        for j in range(out.shape[1]):
            if c == 0 or not np.isfinite(close[t, j]):
                out[t, j] = 0.0
            elif out[t, j] != 0.0:
                out[t, j] = out[t, j] / c
