"""Numba kernels of the drift statistics (pure functions over NumPy arrays).

Inputs are finite float64 values; the wrappers in :mod:`harness.monitor._stats` drop
NaN (missing bars, feature warm-up) and validate before calling. Sorted inputs are
sorted ascending. Binned statistics take the *inner* bin edges (``bins - 1`` values,
the reference quantiles at ``k / bins`` for ``k = 1 .. bins - 1``): a value goes into
bin ``#(inner edges <= value)``, so bins are closed on the left and values outside
the reference range land in the end bins.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "bin_counts_nb",
    "psi_from_counts_nb",
    "js_from_counts_nb",
    "ks_sorted_nb",
    "ks_exact_pvalue_nb",
    "wasserstein_sorted_nb",
    "ips_tau_nb",
    "mean_std_nb",
    "block_bootstrap_nb",
    "rolling_perf_nb",
    "trailing_run_nb",
    "longest_interior_run_nb",
    "binom_two_sided_nb",
    "kolmogorov_sf_nb",
    "ks_pvalue_stephens_nb",
]


@njit(cache=True)
def bin_counts_nb(x, inner_edges, out):
    """Count the values of ``x`` per bin into ``out`` (``len(inner_edges) + 1`` ints).

    Bin of a value = number of inner edges ``<=`` it (binary search, ``side="right"``).
    """
    k = inner_edges.shape[0]
    for b in range(k + 1):
        out[b] = 0
    for i in range(x.shape[0]):
        v = x[i]
        lo = 0
        hi = k
        while lo < hi:  # first edge > v
            mid = (lo + hi) >> 1
            if inner_edges[mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        out[lo] += 1


@njit(cache=True)
def psi_from_counts_nb(ref_counts, n_ref, cur_counts, n_cur, floor):
    """Population stability index ``sum (c - r) * ln(c / r)`` of two count vectors.

    Proportions are ``count / n``; each is replaced by ``max(p, floor)`` (an empty bin
    gets ``floor``), without renormalising.
    """
    s = 0.0
    for b in range(ref_counts.shape[0]):
        r = ref_counts[b] / n_ref
        c = cur_counts[b] / n_cur
        if r < floor:
            r = floor
        if c < floor:
            c = floor
        s += (c - r) * np.log(c / r)
    return s


@njit(cache=True)
def js_from_counts_nb(ref_counts, n_ref, cur_counts, n_cur):
    """Jensen-Shannon *distance*, base 2 (in [0, 1]), of two count vectors.

    ``sqrt(0.5 * KL(p || m) + 0.5 * KL(q || m))`` with ``m = (p + q) / 2`` and
    ``0 * log 0 = 0``; equals ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
    """
    s = 0.0
    for b in range(ref_counts.shape[0]):
        p = ref_counts[b] / n_ref
        q = cur_counts[b] / n_cur
        m = 0.5 * (p + q)
        if p > 0.0:
            s += 0.5 * p * np.log(p / m)
        if q > 0.0:
            s += 0.5 * q * np.log(q / m)
    s /= np.log(2.0)
    if s < 0.0:  # rounding
        s = 0.0
    return np.sqrt(s)


@njit(cache=True)
def ks_sorted_nb(a, b):
    """Two-sided two-sample KS statistic of sorted ``a`` and ``b``: ``(d, d_plus, d_minus)``.

    ``d_plus = max(F_a - F_b)``, ``d_minus = max(F_b - F_a)`` clipped at 0, over the
    right-continuous empirical CDFs at every sample point (scipy's ``searchsorted(...,
    side="right")`` evaluation); ``d = d_minus`` if ``d_minus > d_plus`` else ``d_plus``.
    """
    n1 = a.shape[0]
    n2 = b.shape[0]
    i = 0
    j = 0
    dmax = -np.inf
    dmin = np.inf
    while i < n1 or j < n2:
        if j >= n2:
            v = a[i]
        elif i >= n1:
            v = b[j]
        else:
            v = a[i] if a[i] <= b[j] else b[j]
        while i < n1 and a[i] <= v:
            i += 1
        while j < n2 and b[j] <= v:
            j += 1
        diff = i / n1 - j / n2
        if diff > dmax:
            dmax = diff
        if diff < dmin:
            dmin = diff
    d_minus = -dmin
    if d_minus < 0.0:
        d_minus = 0.0
    if d_minus > 1.0:
        d_minus = 1.0
    d = d_minus if d_minus > dmax else dmax
    return d, dmax, d_minus


@njit(cache=True)
def _prob_outside_square_nb(n, h):
    # P(D_{n,n} >= h/n), Horner-like form of the alternating binomial sum (as scipy)
    p = 0.0
    k = int(np.floor(n / h))
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        p = p1 * (1.0 - p)
        k -= 1
    return 2 * p


@njit(cache=True)
def _outer_prob_inside_nb(m, n, g, h):
    # 1 - P(paths stay strictly inside |x/m - y/n| < h/lcm), Viehmann's (2021) stable
    # recursion for 1 - p over a sliding window of one lattice column (as scipy)
    if m < n:
        m, n = n, m
    mg = m // g
    ng = n // g
    minj = 0
    maxj = min(int(np.ceil(h / mg)), n + 1)
    curlen = maxj - minj
    len_a = min(2 * maxj + 2, n + 1)
    A = np.ones(len_a)
    A[minj:maxj] = 0.0
    for i in range(1, m + 1):
        lastminj = minj
        lastlen = curlen
        minj = max(int(np.floor((ng * i - h) / mg)) + 1, 0)
        minj = min(minj, n)
        maxj = min(int(np.ceil((ng * i + h) / mg)), n + 1)
        if maxj <= minj:
            return 1.0
        val = 0.0 if minj == 0 else 1.0
        for jj in range(maxj - minj):
            j = jj + minj
            val = (A[jj + minj - lastminj] * i + val * j) / (i + j)
            A[jj] = val
        curlen = maxj - minj
        if lastlen > curlen:
            A[maxj - minj:maxj - minj + (lastlen - curlen)] = 1.0
    return A[maxj - minj - 1]


@njit(cache=True)
def ks_exact_pvalue_nb(n1, n2, g, d):
    """scipy's exact two-sided two-sample KS p-value: ``(ok, d_on_lattice, p)``.

    ``d`` is moved onto the lattice ``h / lcm(n1, n2)`` first, as scipy does; ``ok`` is
    False when the result is not a probability (the caller falls back to asymptotics).
    """
    lcm = (n1 // g) * n2
    h = int(np.rint(d * lcm))
    d = h * 1.0 / lcm
    if h == 0:
        return True, d, 1.0
    if n1 == n2:
        p = _prob_outside_square_nb(n1, h)
    else:
        p = _outer_prob_inside_nb(n1, n2, g, h)
    if not (0.0 <= p <= 1.0):
        return False, d, p
    return True, d, p


@njit(cache=True)
def wasserstein_sorted_nb(a, b):
    """First Wasserstein distance ``integral |F_a - F_b|`` of sorted ``a`` and ``b``."""
    n1 = a.shape[0]
    n2 = b.shape[0]
    i = 0
    j = 0
    total = 0.0
    prev = 0.0
    started = False
    while i < n1 or j < n2:
        if j >= n2:
            v = a[i]
        elif i >= n1:
            v = b[j]
        else:
            v = a[i] if a[i] <= b[j] else b[j]
        if started:
            total += abs(i / n1 - j / n2) * (v - prev)
        while i < n1 and a[i] <= v:
            i += 1
        while j < n2 and b[j] <= v:
            j += 1
        prev = v
        started = True
    return total


@njit(cache=True)
def ips_tau_nb(acf):
    """Integrated autocorrelation time ``tau = 1 + 2 sum rho_k`` by Geyer's initial
    monotone sequence: pair sums ``rho_2k + rho_2k+1`` (``rho_0 = 1``) are added while
    positive and forced non-increasing; the sum stops at the first non-positive pair or
    at the end of ``acf``. ``n / tau`` is the effective sample size (Geyer 1992)."""
    L = acf.shape[0]
    tau = -1.0
    prev = np.inf
    k = 0
    while 2 * k + 1 < L:
        pair = acf[2 * k] + acf[2 * k + 1]
        if not pair > 0.0:
            break
        if pair > prev:
            pair = prev
        tau += 2.0 * pair
        prev = pair
        k += 1
    if tau < 1.0:
        tau = 1.0  # never credit anti-correlation with more than n samples
    return tau


@njit(cache=True)
def mean_std_nb(x):
    """``(n, mean, std_ddof1)`` of the finite values of ``x`` (NaN std below 2 values)."""
    n = 0
    s = 0.0
    for i in range(x.shape[0]):
        if np.isfinite(x[i]):
            n += 1
            s += x[i]
    if n == 0:
        return 0, np.nan, np.nan
    mean = s / n
    if n < 2:
        return n, mean, np.nan
    ss = 0.0
    for i in range(x.shape[0]):
        if np.isfinite(x[i]):
            d = x[i] - mean
            ss += d * d
    return n, mean, np.sqrt(ss / (n - 1))


@njit(cache=True)
def block_bootstrap_nb(returns, window, block, n_paths, seed, cum_out, sharpe_out):
    """Predictive circular block bootstrap of ``window``-bar paths from ``returns``.

    Each path strings together blocks of ``block`` consecutive returns starting at
    uniform random positions (wrapping around the end), and is shifted by
    ``m* - m``, where ``m`` is the mean of ``returns`` and ``m*`` the mean of a
    block resample of the whole of them: the band then carries the uncertainty of the
    evidence's own mean, not only the noise of a window (without it, a lucky holdout
    alarms on a model that is as good as it ever was). ``cum_out[p]`` is the path's
    compounded return ``prod(1 + r) - 1``, ``sharpe_out[p]`` its per-bar Sharpe ratio
    ``mean / std`` (``ddof=1``; NaN for a constant path). Deterministic for a seed.
    """
    np.random.seed(seed)  # noqa: NPY002 - Numba supports only the legacy global generator
    n = returns.shape[0]
    m = 0.0
    for i in range(n):
        m += returns[i]
    m /= n
    for p in range(n_paths):
        ms = 0.0
        k = 0
        while k < n:
            start = np.random.randint(0, n)  # noqa: NPY002
            for j in range(block):
                if k >= n:
                    break
                ms += returns[(start + j) % n]
                k += 1
        shift = ms / n - m
        growth = 1.0
        s = 0.0
        ss = 0.0
        k = 0
        while k < window:
            start = np.random.randint(0, n)  # noqa: NPY002
            for j in range(block):
                if k >= window:
                    break
                r = returns[(start + j) % n] + shift
                growth *= 1.0 + r
                s += r
                ss += r * r
                k += 1
        cum_out[p] = growth - 1.0
        mean = s / window
        var = (ss - window * mean * mean) / (window - 1)
        sharpe_out[p] = mean / np.sqrt(var) if var > 0.0 else np.nan


@njit(cache=True)
def rolling_perf_nb(returns, window, cum_out, sharpe_out):
    """Trailing ``window``-bar compounded return and per-bar Sharpe (``ddof=1``) at each bar;
    NaN before the window is full. Each window is recomputed from its own values."""
    n = returns.shape[0]
    for t in range(n):
        if t < window - 1:
            cum_out[t] = np.nan
            sharpe_out[t] = np.nan
            continue
        growth = 1.0
        s = 0.0
        for i in range(t - window + 1, t + 1):
            growth *= 1.0 + returns[i]
            s += returns[i]
        mean = s / window
        ss = 0.0
        for i in range(t - window + 1, t + 1):
            d = returns[i] - mean
            ss += d * d
        sd = np.sqrt(ss / (window - 1))
        cum_out[t] = growth - 1.0
        sharpe_out[t] = mean / sd if sd > 0.0 else np.nan


@njit(cache=True)
def trailing_run_nb(flags):
    """Length of the run of True values that ends at the last element."""
    n = flags.shape[0]
    k = 0
    for i in range(n - 1, -1, -1):
        if not flags[i]:
            break
        k += 1
    return k


@njit(cache=True)
def longest_interior_run_nb(flags):
    """Longest run of True values that is followed by a False one (a burst that ended)
    and preceded by a False one (the symbol was listed before it)."""
    n = flags.shape[0]
    best = 0
    run = 0
    seen_false = False
    for i in range(n):
        if flags[i]:
            if seen_false:
                run += 1
        else:
            if run > best:
                best = run
            run = 0
            seen_false = True
    return best


@njit(cache=True)
def binom_two_sided_nb(k, n, p):
    """Two-sided exact binomial test p-value of ``k`` successes in ``n`` trials at rate ``p``:
    the total probability of outcomes no more likely than ``k`` (relative tolerance 1e-7,
    as ``scipy.stats.binomtest``)."""
    if n == 0:
        return 1.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    lp = np.log(p)
    lq = np.log1p(-p)
    lc = math.lgamma(n + 1.0)
    ref = lc - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + k * lp + (n - k) * lq
    limit = ref + np.log1p(1e-7)
    total = 0.0
    for i in range(n + 1):
        li = lc - math.lgamma(i + 1.0) - math.lgamma(n - i + 1.0) + i * lp + (n - i) * lq
        if li <= limit:
            total += np.exp(li)
    return min(total, 1.0)


@njit(cache=True)
def kolmogorov_sf_nb(x):
    """Survival function of the Kolmogorov distribution, ``P(sup |B(t)| > x)`` for a Brownian bridge."""
    if x <= 0.0:
        return 1.0
    if x < 1.18:  # Jacobi theta form of the CDF converges fast for small x
        w = np.pi * np.pi / (8.0 * x * x)
        s = 0.0
        for k in range(1, 40, 2):
            s += np.exp(-k * k * w)
        return 1.0 - np.sqrt(2.0 * np.pi) / x * s
    s = 0.0
    sign = 1.0
    for k in range(1, 101):
        term = np.exp(-2.0 * k * k * x * x)
        s += sign * term
        if term < 1e-300:
            break
        sign = -sign
    return 2.0 * s


@njit(cache=True)
def ks_pvalue_stephens_nb(d, en):
    """Two-sided KS p-value at effective size ``en`` by Stephens' (1970) finite-sample correction
    of the Kolmogorov limit: ``Q((sqrt(en) + 0.12 + 0.11 / sqrt(en)) d)``."""
    s = np.sqrt(en)
    p = kolmogorov_sf_nb((s + 0.12 + 0.11 / s) * d)
    return min(max(p, 0.0), 1.0)
