"""Numba kernels of the validation statistics (pure functions over NumPy arrays).

Conventions, as in Bailey & López de Prado: the Sharpe ratio is per period (not
annualised), ``mean / std`` with the sample standard deviation (``ddof=1``); skewness
and kurtosis are the population moment ratios ``m3 / m2**1.5`` and ``m4 / m2**2``, the
kurtosis *raw* (3 for a normal distribution), not excess.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "moments_1d_nb",
    "block_sums_nb",
    "cscv_nb",
]


@njit(cache=True)
def moments_1d_nb(x):
    """``(n, mean, std_ddof1, skew, kurtosis_raw)`` of the finite values of ``x``.

    NaNs are skipped. With fewer than two finite values std/skew/kurtosis are NaN; a
    constant series has std 0 and NaN skew/kurtosis.
    """
    n = 0
    s = 0.0
    lo = np.inf
    hi = -np.inf
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isnan(v):
            n += 1
            s += v
            lo = min(lo, v)
            hi = max(hi, v)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = s / n
    if n >= 2 and lo == hi:  # exactly constant (the float mean may differ by rounding)
        return n, lo, 0.0, np.nan, np.nan
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isnan(v):
            d = v - mean
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
    if n < 2:
        return n, mean, np.nan, np.nan, np.nan
    std = np.sqrt(m2 / (n - 1))
    m2 /= n
    m3 /= n
    m4 /= n
    d3 = m2 ** 1.5
    d4 = m2 * m2
    if m2 <= 0.0 or d3 <= 0.0 or d4 <= 0.0:  # constant, or so close that the moments underflow
        return n, mean, std if m2 > 0.0 else 0.0, np.nan, np.nan
    return n, mean, std, m3 / d3, m4 / d4


@njit(cache=True)
def block_sums_nb(returns, n_blocks):
    """Per-block ``(count, sum, sum of squares)`` of each column of ``returns`` ``(T, N)``.

    Rows are cut into ``n_blocks`` contiguous blocks of (almost) equal size, the first
    ``T % n_blocks`` blocks one row longer, like ``np.array_split``. NaNs are skipped.
    Returns ``(n_blocks, N, 3)``.
    """
    T, N = returns.shape
    out = np.zeros((n_blocks, N, 3))
    base = T // n_blocks
    extra = T % n_blocks
    start = 0
    for b in range(n_blocks):
        size = base + (1 if b < extra else 0)
        for t in range(start, start + size):
            for j in range(N):
                v = returns[t, j]
                if not np.isnan(v):
                    out[b, j, 0] += 1.0
                    out[b, j, 1] += v
                    out[b, j, 2] += v * v
        start += size
    return out


@njit(cache=True)
def _perf_nb(count, total, total_sq, metric):
    """Performance of one strategy over a set of blocks: 0 = Sharpe (ddof=1), 1 = mean."""
    if count < 2.0:
        return np.nan
    mean = total / count
    if metric == 1:
        return mean
    var = (total_sq - count * mean * mean) / (count - 1.0)
    if var <= 0.0:
        return np.nan
    return mean / np.sqrt(var)


@njit(cache=True)
def _set_perf_nb(bs, in_is, metric, perf_in, perf_out):
    """Performance of every strategy over the blocks with ``in_is`` (``perf_in``) and over
    the others (``perf_out``); each set's blocks are added in ascending order."""
    S, N, _ = bs.shape
    for j in range(N):
        ci = 0.0
        si = 0.0
        qi = 0.0
        co = 0.0
        so = 0.0
        qo = 0.0
        for b in range(S):
            if in_is[b]:
                ci += bs[b, j, 0]
                si += bs[b, j, 1]
                qi += bs[b, j, 2]
            else:
                co += bs[b, j, 0]
                so += bs[b, j, 1]
                qo += bs[b, j, 2]
        perf_in[j] = _perf_nb(ci, si, qi, metric)
        perf_out[j] = _perf_nb(co, so, qo, metric)


@njit(cache=True)
def _cscv_one_nb(perf_is, perf_oos, c, best, is_perf, oos_perf, logit):
    """Combination ``c``'s in-sample best, its performances and its OOS rank logit."""
    N = perf_is.size
    # in-sample best (NaN never wins; first index on ties)
    nstar = -1
    top = -np.inf
    for j in range(N):
        v = perf_is[j]
        if not np.isnan(v) and (nstar < 0 or v > top):
            top = v
            nstar = j
    best[c] = nstar
    if nstar < 0:
        is_perf[c] = np.nan
        oos_perf[c] = np.nan
        logit[c] = np.nan
        return
    is_perf[c] = top
    v = perf_oos[nstar]
    oos_perf[c] = v
    if np.isnan(v):
        logit[c] = np.nan
        return
    below = 0.0
    ties = 0.0
    for j in range(N):
        u = perf_oos[j]
        if np.isnan(u):
            below += 1.0  # a strategy with no OOS value ranks lowest
        elif u < v:
            below += 1.0
        elif u == v:
            ties += 1.0
    rank = below + 0.5 * (ties - 1.0) + 1.0  # 1 = worst, N = best
    w = rank / (N + 1.0)
    logit[c] = np.log(w / (1.0 - w))


@njit(cache=True)
def cscv_nb(block_sums, combos, metric, partner):
    """Combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado & Zhu 2015).

    ``block_sums`` is ``(S, N, 3)`` from :func:`block_sums_nb`; ``combos`` is ``(C, S/2)``
    int64, each row the blocks of one in-sample half (the rest is out-of-sample).
    ``partner[c]`` is the row of ``c``'s complement (its out-of-sample half as an in-sample
    half) or -1 when it is not among ``combos``: a pair shares one pass over the blocks, with
    the roles of its two halves swapped (the same sums, so the same values).
    For each combination: the in-sample best strategy ``n*``, its in-sample and
    out-of-sample performance, and the logit of its out-of-sample relative rank
    ``w = rank / (N + 1)`` (rank 1 = worst). Returns ``(best, is_perf, oos_perf, logit)``.
    Ties in the out-of-sample ranking count half (average rank).
    """
    S, N, _ = block_sums.shape
    C, half = combos.shape
    best = np.empty(C, np.int64)
    is_perf = np.empty(C)
    oos_perf = np.empty(C)
    logit = np.empty(C)
    in_is = np.zeros(S, np.bool_)
    perf_a = np.empty(N)
    perf_b = np.empty(N)
    for c in range(C):
        p = partner[c]
        if 0 <= p < c:
            continue  # done with its partner
        in_is[:] = False
        for k in range(half):
            in_is[combos[c, k]] = True
        _set_perf_nb(block_sums, in_is, metric, perf_a, perf_b)
        _cscv_one_nb(perf_a, perf_b, c, best, is_perf, oos_perf, logit)
        if p > c:
            _cscv_one_nb(perf_b, perf_a, p, best, is_perf, oos_perf, logit)
    return best, is_perf, oos_perf, logit
