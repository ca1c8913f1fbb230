"""Numba kernels of the promotion gate (pure functions over NumPy arrays).

The stationary bootstrap (Politis & Romano 1994) here draws exactly what
``arch.bootstrap.StationaryBootstrap`` draws from the same start indices and uniforms
(``tests/harness/gate/test_gate_kernels.py`` checks it index for index); it exists as a
kernel because the gate needs a thousand resamples of a paired statistic per decision,
and arch's generator hands them out one Python call at a time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "stationary_indices_nb",
    "sharpe_1d_nb",
    "sharpe_diff_bootstrap_nb",
    "sharpe_columns_nb",
    "max_drawdown_1d_nb",
]


@njit(cache=True)
def stationary_indices_nb(starts, u, p):
    """Stationary-bootstrap indices ``(R, T)``: row ``r`` starts a new block at
    ``starts[r, i]`` when ``u[r, i] <= p`` (and always at ``i = 0``), else continues the
    previous block by one, wrapping from ``T - 1`` to 0 (arch's ``stationary_bootstrap_sample``)."""
    R, T = starts.shape
    out = starts.copy()
    for r in range(R):
        for i in range(1, T):
            if u[r, i] > p:
                j = out[r, i - 1] + 1
                out[r, i] = 0 if j == T else j
    return out


@njit(cache=True)
def sharpe_1d_nb(x):
    """Per-period Sharpe ratio ``mean / std`` (``ddof=1``); 0 for a constant series (cash)."""
    T = x.shape[0]
    m = 0.0
    lo = np.inf
    hi = -np.inf
    for t in range(T):
        m += x[t]
        lo = min(lo, x[t])
        hi = max(hi, x[t])
    m /= T
    v = 0.0
    for t in range(T):
        d = x[t] - m
        v += d * d
    if T < 2 or v <= 0.0 or lo == hi:  # exactly constant (the float mean may differ by rounding)
        return 0.0
    return m / np.sqrt(v / (T - 1))


@njit(cache=True)
def sharpe_diff_bootstrap_nb(a, b, idx):
    """``Sharpe(a[idx[r]]) - Sharpe(b[idx[r]])`` for every resample row ``r`` (paired rows)."""
    R, T = idx.shape
    out = np.empty(R)
    xa = np.empty(T)
    xb = np.empty(T)
    for r in range(R):
        for t in range(T):
            k = idx[r, t]
            xa[t] = a[k]
            xb[t] = b[k]
        out[r] = sharpe_1d_nb(xa) - sharpe_1d_nb(xb)
    return out


@njit(cache=True)
def sharpe_columns_nb(x):
    """Per-period Sharpe ratio of each column of ``x`` ``(T, K)``; NaN for a constant column."""
    T, K = x.shape
    out = np.empty(K)
    for k in range(K):
        m = 0.0
        lo = np.inf
        hi = -np.inf
        for t in range(T):
            m += x[t, k]
            lo = min(lo, x[t, k])
            hi = max(hi, x[t, k])
        m /= T
        v = 0.0
        for t in range(T):
            d = x[t, k] - m
            v += d * d
        out[k] = m / np.sqrt(v / (T - 1)) if T >= 2 and v > 0.0 and lo != hi else np.nan
    return out


@njit(cache=True)
def max_drawdown_1d_nb(r):
    """Largest peak-to-trough fall of the compounded equity ``prod(1 + r)`` (a fraction, >= 0),
    the starting equity counting as a peak."""
    eq = 1.0
    peak = 1.0
    worst = 0.0
    for t in range(r.shape[0]):
        eq *= 1.0 + r[t]
        if eq > peak:
            peak = eq
        dd = 1.0 - eq / peak
        if dd > worst:
            worst = dd
    return worst
