"""Numba kernels of the regime detectors.

Every kernel is a pure function over NumPy arrays that *advances* a detector's state
over a block of returns and writes one output per bar. The batch ``run`` calls a kernel
once over the whole series from a fresh state; the streaming ``update`` calls the same
kernel over a block of one bar with the persisted state. Both faces therefore execute
exactly the same floating-point operations, bar for bar.

State is kept in float64 vectors (integers stored as floats: exact below 2**53) so that
it serialises to JSON and back bit for bit.

Common outputs per bar ``t`` (all computed from returns ``<= t``):

``vol``     the detector's volatility estimate (per-bar std of log returns)
``label``   0 low, 1 normal, 2 high (vs the trailing median of ``log vol``)
``change``  1 where the detector detected a change at this bar, else 0
``score``   detector-specific strength of the evidence for a change

A NaN return (missing bar) leaves the state untouched and repeats the previous outputs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# ---------------------------------------------------------------------------------------
# Classifier shared by every detector: trailing median of log-vol + hysteresis bands.
# cls_state = [n_in_window, write_pos, label, n_seen]
# ring (W,) holds the last W log vols in arrival order, srt (W,) the same values sorted.
C_N, C_POS, C_LABEL, C_SEEN = 0, 1, 2, 3
CLS_STATE_SIZE = 4


@njit(cache=True)
def _sorted_remove_nb(srt, n, value):
    """Remove one occurrence of ``value`` from the sorted prefix ``srt[:n]``."""
    lo, hi = 0, n
    while lo < hi:  # leftmost index with srt[i] >= value
        mid = (lo + hi) // 2
        if srt[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    for i in range(lo, n - 1):
        srt[i] = srt[i + 1]


@njit(cache=True)
def _sorted_insert_nb(srt, n, value):
    """Insert ``value`` into the sorted prefix ``srt[:n]`` (which has room for one more)."""
    i = n
    while i > 0 and srt[i - 1] > value:
        srt[i] = srt[i - 1]
        i -= 1
    srt[i] = value


@njit(cache=True)
def classify_step_nb(log_vol, ring, srt, cst, warmup, hi_enter, hi_exit, lo_enter, lo_exit):
    """Add ``log_vol`` to the trailing window and return ``(label, log_ratio)``.

    ``log_ratio = log_vol - median(window)``; the label moves with hysteresis:
    normal -> high above ``log(hi_enter)``, high -> normal below ``log(hi_exit)``,
    normal -> low below ``-log(lo_enter)``, low -> normal above ``-log(lo_exit)``.
    Until ``warmup`` values have been seen the label stays normal (1).
    """
    w = ring.shape[0]
    n = int(cst[C_N])
    pos = int(cst[C_POS])
    if n == w:
        _sorted_remove_nb(srt, n, ring[pos])
        n -= 1
    _sorted_insert_nb(srt, n, log_vol)
    n += 1
    ring[pos] = log_vol
    pos = (pos + 1) % w
    cst[C_N] = n
    cst[C_POS] = pos
    cst[C_SEEN] += 1
    if n % 2 == 1:
        med = srt[n // 2]
    else:
        med = 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    x = log_vol - med
    label = int(cst[C_LABEL])
    if cst[C_SEEN] < warmup:
        cst[C_LABEL] = 1.0
        return 1, x
    if label == 2:
        if x < math.log(hi_exit):
            label = 0 if x < -math.log(lo_enter) else 1
    elif label == 0:
        if x > -math.log(lo_exit):
            label = 2 if x > math.log(hi_enter) else 1
    else:
        if x > math.log(hi_enter):
            label = 2
        elif x < -math.log(lo_enter):
            label = 0
    cst[C_LABEL] = float(label)
    return label, x


# ---------------------------------------------------------------------------------------
# EWMA volatility. state = [var, n_obs, last_vol, last_score]
# p = [lam, warmup, hi_enter, hi_exit, lo_enter, lo_exit]


@njit(cache=True)
def ewma_advance_nb(returns, p, st, ring, srt, cst, out_vol, out_label, out_change, out_score):
    """Advance the EWMA-volatility detector over ``returns``; change = label transition."""
    lam = p[0]
    for t in range(returns.shape[0]):
        r = returns[t]
        if math.isnan(r):
            out_vol[t] = st[2]
            out_label[t] = int(cst[C_LABEL])
            out_change[t] = 0
            out_score[t] = st[3]
            continue
        st[1] += 1.0
        w = max(1.0 - lam, 1.0 / st[1])  # running mean first, EWMA once past 1/(1-lam) bars
        st[0] += w * (r * r - st[0])
        vol = math.sqrt(st[0])
        prev = int(cst[C_LABEL])
        label, x = classify_step_nb(math.log(max(vol, 1e-300)), ring, srt, cst, p[1], p[2], p[3], p[4], p[5])
        st[2] = vol
        st[3] = x
        out_vol[t] = vol
        out_label[t] = label
        out_change[t] = 1 if label != prev else 0
        out_score[t] = x


# ---------------------------------------------------------------------------------------
# Two-sided CUSUM of the variance (scale) log-likelihood ratio, Gaussian or Student-t.
# state = [ref_var, n_ref, s_up, s_dn, sum_up, n_up, sum_dn, n_dn, last_vol, last_score,
#          scale2, cand_up, cand_dn]
# p = [rho, h, ref_window, min_ref, warmup, hi_enter, hi_exit, lo_enter, lo_exit, nu]
CUSUM_STATE_SIZE = 13


@njit(cache=True)
def cusum_llr_nb(z, rho, nu):
    """Log-likelihood ratios ``(up, down)`` of one standardised square ``z = r**2 / s**2``.

    Up: scale**2 ``rho * s**2`` against ``s**2``; down: ``s**2 / rho`` against ``s**2``.
    Gaussian when ``nu <= 0``: ``0.5*(1 - 1/rho)*z - 0.5*log(rho)`` and
    ``0.5*(1 - rho)*z + 0.5*log(rho)``. Student-t with ``nu`` degrees of freedom and scale
    ``s`` otherwise: ``-0.5*log(rho) - (nu+1)/2 * (log(1 + z/(nu*rho)) - log(1 + z/nu))``
    (and ``rho -> 1/rho``), which is bounded in ``z``: one outlier adds at most
    ``nu/2 * log(rho)``.
    """
    c = 0.5 * math.log(rho)
    if nu <= 0.0:
        return 0.5 * (1.0 - 1.0 / rho) * z - c, 0.5 * (1.0 - rho) * z + c
    k = 0.5 * (nu + 1.0)
    base = math.log1p(z / nu)
    return -c - k * (math.log1p(z / (nu * rho)) - base), c - k * (math.log1p(z * rho / nu) - base)


@njit(cache=True)
def t_scale_step_nb(s2, r2, nu, n):
    """One step of the online Student-t scale M-estimate: ``s2 += (w*r2 - s2) / n`` with the
    t likelihood's weight ``w = (nu + 1) / (nu + r2 / s2)`` (its fixed point is the MLE scale;
    an outlier's weight falls as ``1/r2``, so its pull is bounded). ``nu <= 0``: ``w = 1``,
    the running mean of ``r**2``."""
    if nu <= 0.0:
        return s2 + (r2 - s2) / n
    return s2 + ((nu + 1.0) * r2 / (nu + r2 / s2) - s2) / n


@njit(cache=True)
def cusum_advance_nb(returns, p, st, ring, srt, cst, out_vol, out_label, out_change, out_score):
    """Advance the CUSUM detector.

    ``z = r**2 / scale2`` is the squared return standardised by the current regime's
    scale. The up-CUSUM accumulates the log-likelihood ratio of scale**2 ``rho*scale2``
    against ``scale2``, the down-CUSUM that of ``scale2/rho`` (:func:`cusum_llr_nb`:
    Student-t with ``nu`` degrees of freedom, or Gaussian when ``nu <= 0``). Either
    exceeding ``h`` is a change: the new regime's statistics are those of the bars since
    the alarming CUSUM last left zero (the estimated change point), both CUSUMs restart,
    and they stay at zero until the new regime has ``min_ref`` bars.

    Two per-regime estimates are kept: ``scale2``, the Student-t M-estimate of the scale
    (:func:`t_scale_step_nb`; the plain mean of ``r**2`` when ``nu <= 0``), which
    standardises the CUSUMs, and ``ref_var``, the mean of ``r**2``, whose square root is
    the reported volatility (a per-bar standard deviation) and feeds the labels. Both
    are running means over the regime (EWMA of span ``ref_window`` once it is that
    long); while a CUSUM is above zero its candidate scale starts at ``scale2 * rho``
    (``/ rho``) as one pseudo-observation and follows the bars of the excursion.
    With ``nu <= 0`` the kernel performs exactly the Gaussian CUSUM's operations.
    """
    rho, h, ref_window, min_ref, nu = p[0], p[1], p[2], p[3], p[9]
    for t in range(returns.shape[0]):
        r = returns[t]
        if math.isnan(r):
            out_vol[t] = st[8]
            out_label[t] = int(cst[C_LABEL])
            out_change[t] = 0
            out_score[t] = st[9]
            continue
        r2 = r * r
        change = 0
        scale2 = st[0] if nu <= 0.0 else st[10]
        if st[1] >= min_ref and scale2 > 0.0:
            up, dn = cusum_llr_nb(r2 / scale2, rho, nu)
            st[2] += up
            if st[2] <= 0.0:
                st[2] = 0.0
                st[4] = 0.0
                st[5] = 0.0
            else:
                if nu > 0.0:
                    if st[5] == 0.0:
                        st[11] = scale2 * rho
                    st[11] = t_scale_step_nb(st[11], r2, nu, st[5] + 2.0)
                st[4] += r2
                st[5] += 1.0
            st[3] += dn
            if st[3] <= 0.0:
                st[3] = 0.0
                st[6] = 0.0
                st[7] = 0.0
            else:
                if nu > 0.0:
                    if st[7] == 0.0:
                        st[12] = scale2 / rho
                    st[12] = t_scale_step_nb(st[12], r2, nu, st[7] + 2.0)
                st[6] += r2
                st[7] += 1.0
            if st[2] > h or st[3] > h:
                if st[2] >= st[3]:
                    st[0] = st[4] / st[5]
                    st[1] = st[5]
                    st[10] = st[11]
                else:
                    st[0] = st[6] / st[7]
                    st[1] = st[7]
                    st[10] = st[12]
                for k in range(2, 8):
                    st[k] = 0.0
                change = 1
        if change == 0:
            st[1] += 1.0
            n = min(st[1], ref_window)
            st[0] += (r2 - st[0]) / n
            if nu > 0.0:
                if st[10] > 0.0:
                    st[10] = t_scale_step_nb(st[10], r2, nu, n)
                elif r2 > 0.0:
                    st[10] = r2
        score = max(st[2], st[3]) / h
        vol = math.sqrt(st[0])
        label, _ = classify_step_nb(math.log(max(vol, 1e-300)), ring, srt, cst, p[4], p[5], p[6], p[7], p[8])
        st[8] = vol
        st[9] = score
        out_vol[t] = vol
        out_label[t] = label
        out_change[t] = change
        out_score[t] = score


# ---------------------------------------------------------------------------------------
# Bayesian online change-point detection (Adams & MacKay 2007), Normal-Gamma model.
# Run-length arrays (R,) : prob, mu, kappa, alpha, beta. Index k = run of the last k
# observations; index R-1 = "R-1 or longer" (the dominant hypothesis' statistics kept).
# state = [n_obs, long_var, seg_start, last_vol, last_score, t]
# p = [hazard, threshold, guard, kappa0, alpha0, long_lam, warmup_obs,
#      cls_warmup, hi_enter, hi_exit, lo_enter, lo_exit, window]


@njit(cache=True)
def _student_t_pdf_nb(x, mu, kappa, alpha, beta, lg_ratio):
    """Student-t predictive of a Normal-Gamma posterior; ``lg_ratio = lgamma(alpha+.5) - lgamma(alpha)``."""
    two_beta_k = 2.0 * beta * (kappa + 1.0) / kappa  # nu * scale**2
    d = (x - mu) * (x - mu) / two_beta_k
    logp = lg_ratio - 0.5 * math.log(math.pi * two_beta_k) - (alpha + 0.5) * math.log1p(d)
    return math.exp(logp)


def lgamma_ratio_table(alpha0: float, size: int) -> np.ndarray:
    """``lgamma(a + 0.5) - lgamma(a)`` for ``a = alpha0 + 0.5 * k``, ``k = 0..size-1``."""
    a = alpha0 + 0.5 * np.arange(size)
    return np.array([math.lgamma(v + 0.5) - math.lgamma(v) for v in a])


@njit(cache=True)
def bocpd_advance_nb(returns, p, st, prob, mu, kappa, alpha, beta, scratch, lg_tab,
                     ring, srt, cst, out_vol, out_label, out_change, out_score):
    """Advance BOCPD with a bounded run length ``R = prob.shape[0]``.

    The prior of a new run is Normal-Gamma(mu=0, kappa0, alpha0, beta0) with
    ``beta0 = alpha0 * long_var`` (``long_var``: a slow EWMA of ``r**2``, so the prior
    scale follows the data without looking ahead). The change score at ``t`` is the
    posterior probability that the current run started after ``seg_start + guard``
    (the last detected change plus a guard); above ``threshold`` a change is detected
    and ``seg_start`` moves to the start of the most probable run. The volatility is the
    posterior mean of ``sigma`` under the current segment's run. ``lg_tab`` caches
    :func:`lgamma_ratio_table` (runs whose ``alpha`` is ``alpha0 + k/2`` use it).
    """
    hazard, thr, guard = p[0], p[1], p[2]
    kappa0, alpha0, long_lam, warmup_obs = p[3], p[4], p[5], p[6]
    window = int(p[12])
    R = prob.shape[0]
    new_p = scratch[0]
    new_mu = scratch[1]
    new_k = scratch[2]
    new_a = scratch[3]
    new_b = scratch[4]
    for t in range(returns.shape[0]):
        x = returns[t]
        tt = st[5]
        st[5] += 1.0
        if math.isnan(x):
            out_vol[t] = st[3]
            out_label[t] = int(cst[C_LABEL])
            out_change[t] = 0
            out_score[t] = st[4]
            continue
        st[0] += 1.0
        w = max(1.0 - long_lam, 1.0 / st[0])
        if st[0] == 1.0:
            # first observation: the run-length distribution starts as "new run, no data"
            for k in range(R):
                prob[k] = 0.0
            prob[0] = 1.0
            mu[0] = 0.0
            kappa[0] = kappa0
            alpha[0] = alpha0
            beta[0] = alpha0 * x * x if x != 0.0 else alpha0 * 1e-8
            st[1] = x * x
            st[2] = tt
        beta0 = alpha0 * max(st[1], 1e-300)
        # growth and change
        total_change = 0.0
        for k in range(R):
            new_p[k] = 0.0
            new_mu[k] = 0.0
            new_k[k] = kappa0
            new_a[k] = alpha0
            new_b[k] = beta0
        for k in range(R):
            pk = prob[k]
            if pk <= 0.0:
                continue
            ak = alpha[k]
            if k < lg_tab.shape[0] and ak == alpha0 + 0.5 * k:
                lgr = lg_tab[k]
            else:
                lgr = math.lgamma(ak + 0.5) - math.lgamma(ak)
            lik = _student_t_pdf_nb(x, mu[k], kappa[k], ak, beta[k], lgr)
            m = pk * lik
            total_change += m * hazard
            g = m * (1.0 - hazard)
            dst = k + 1 if k + 1 < R else R - 1
            kk = kappa[k]
            mu_n = (kk * mu[k] + x) / (kk + 1.0)
            b_n = beta[k] + kk * (x - mu[k]) * (x - mu[k]) / (2.0 * (kk + 1.0))
            if dst == R - 1 and new_p[dst] > 0.0:
                # merging into the top bucket: keep the statistics of the dominant run
                if g > new_p[dst]:
                    new_mu[dst] = mu_n
                    new_k[dst] = kk + 1.0
                    new_a[dst] = alpha[k] + 0.5
                    new_b[dst] = b_n
                new_p[dst] += g
            else:
                new_p[dst] = g
                new_mu[dst] = mu_n
                new_k[dst] = kk + 1.0
                new_a[dst] = alpha[k] + 0.5
                new_b[dst] = b_n
        new_p[0] = total_change
        new_mu[0] = 0.0
        new_k[0] = kappa0
        new_a[0] = alpha0
        new_b[0] = beta0
        z = 0.0
        for k in range(R):
            z += new_p[k]
        if not (z > 0.0) or math.isinf(z):
            # numerically lost (an extreme outlier under every run): restart the posterior
            for k in range(R):
                new_p[k] = 0.0
            new_p[0] = 1.0
            z = 1.0
        for k in range(R):
            prob[k] = new_p[k] / z
            mu[k] = new_mu[k]
            kappa[k] = new_k[k]
            alpha[k] = new_a[k]
            beta[k] = new_b[k]
        st[1] += w * (x * x - st[1])
        # change score: mass on runs that started after seg_start + guard
        age = tt - st[2]  # bars since the segment start (this bar is age + 1-th)
        kmax = int(age - guard)
        score = 0.0
        best_k = -1
        best_p = -1.0
        if kmax >= 1:
            top = min(kmax, R - 2, window)
            for k in range(1, top + 1):
                score += prob[k]
                if prob[k] > best_p:
                    best_p = prob[k]
                    best_k = k
        change = 0
        if st[0] > warmup_obs and score > thr and best_k >= 1:
            st[2] = tt - best_k + 1.0
            change = 1
        # volatility of the current segment's run
        k_seg = int(tt - st[2] + 1.0)
        if k_seg > R - 1:
            k_seg = R - 1
        if k_seg < 1 or prob[k_seg] <= 0.0:
            k_seg = 0
            best = -1.0
            for k in range(R):
                if prob[k] > best:
                    best = prob[k]
                    k_seg = k
        a = alpha[k_seg]
        var = beta[k_seg] / (a - 1.0) if a > 1.0 else beta[k_seg] / a
        vol = math.sqrt(var)
        label, _ = classify_step_nb(math.log(max(vol, 1e-300)), ring, srt, cst, p[7], p[8], p[9], p[10], p[11])
        st[3] = vol
        st[4] = score
        out_vol[t] = vol
        out_label[t] = label
        out_change[t] = change
        out_score[t] = score


# ---------------------------------------------------------------------------------------
# GARCH(1,1) filter with fixed parameters (the fit happens in Python with `arch`).
# state = [sigma2_next, n_obs, last_vol, last_score, ring_pos, ring_n, t]
# p = [omega, alpha, beta, warmup, hi_enter, hi_exit, lo_enter, lo_exit] (returns in %)


@njit(cache=True)
def garch_filter_var_nb(x, omega, alpha, beta, sigma2_0):
    """Conditional variance for the bar after ``x`` (percent returns), starting at ``sigma2_0``."""
    s2 = sigma2_0
    for t in range(x.shape[0]):
        if not math.isnan(x[t]):
            s2 = omega + alpha * x[t] * x[t] + beta * s2
    return s2


@njit(cache=True)
def garch_advance_nb(returns, p, st, window, ring, srt, cst, out_vol, out_label, out_change, out_score):
    """Advance the GARCH(1,1) filter: ``sigma2[t+1] = omega + alpha*x[t]**2 + beta*sigma2[t]``.

    Before the first fit (``omega`` NaN) the variance is the running mean of ``x**2``.
    Every return also enters the trailing ``window`` ring used by the next refit. The
    volatility at bar ``t`` is the one-step-ahead forecast made at ``t``.
    """
    omega, alpha, beta = p[0], p[1], p[2]
    W = window.shape[0]
    for t in range(returns.shape[0]):
        r = returns[t]
        st[6] += 1.0
        if math.isnan(r):
            out_vol[t] = st[2]
            out_label[t] = int(cst[C_LABEL])
            out_change[t] = 0
            out_score[t] = st[3]
            continue
        x = 100.0 * r
        pos = int(st[4])
        window[pos] = r
        st[4] = (pos + 1) % W
        st[5] = min(st[5] + 1.0, W)
        st[1] += 1.0
        if math.isnan(omega):
            st[0] += (x * x - st[0]) / st[1]
        else:
            st[0] = omega + alpha * x * x + beta * st[0]
        vol = math.sqrt(st[0]) / 100.0
        prev = int(cst[C_LABEL])
        label, xr = classify_step_nb(math.log(max(vol, 1e-300)), ring, srt, cst, p[3], p[4], p[5], p[6], p[7])
        st[2] = vol
        st[3] = xr
        out_vol[t] = vol
        out_label[t] = label
        out_change[t] = 1 if label != prev else 0
        out_score[t] = xr


def empty_outputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output arrays for ``n`` bars: vol, label, change, score."""
    return (np.empty(n), np.empty(n, np.int64), np.empty(n, np.int8), np.empty(n))
