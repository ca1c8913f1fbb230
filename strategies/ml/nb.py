"""Numba kernels of the trainable strategy: point-in-time features, windows, inference, weights.

Every kernel is a pure function over NumPy arrays. Features at bar ``t`` read bars
``<= t`` only, and every rolling statistic is recomputed from its own window (no
running sums), so a feature's value at ``t`` is bit-identical whether it is computed
on all bars, on a prefix, or on a trailing window that just covers its lookback.
The forward passes evaluate one sample at a time with a fixed summation order, so
a row's prediction does not depend on how many other rows are in the batch.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_WARMUP",
    "VOL_FEATURE",
    "features_nb",
    "valid_windows_nb",
    "gather_windows_nb",
    "mlp_forward_nb",
    "conv_forward_nb",
    "weights_from_scores_nb",
]

#: Names of the features, in the order of the last axis of ``features_nb``'s output.
FEATURE_NAMES: tuple[str, ...] = (
    "ret_1",        # log return over 1 bar
    "ret_5",        # log return over 5 bars
    "ret_20",       # log return over 20 bars
    "vol_20",       # realised volatility: sample std of 1-bar log returns over 20 bars
    "vol_ratio",    # std over 5 bars / std over 60 bars
    "ma_dist_10",   # close / 10-bar mean close - 1
    "ma_dist_50",   # close / 50-bar mean close - 1
    "volume_z_20",  # (volume - 20-bar mean) / 20-bar std (0 when the std is 0)
    "range_1",      # log(high / low) of the bar
)
#: Rows before this index are NaN: the 60-bar volatility needs 61 closes.
FEATURE_WARMUP = 60
#: Index of the realised volatility feature (used for volatility scaling).
VOL_FEATURE = 3
N_FEATURES = len(FEATURE_NAMES)


@njit(cache=True)
def _std_1d_nb(x, end, window):
    """Sample std (ddof=1) of ``x[end-window+1 : end+1]``; NaN if any value is NaN."""
    start = end - window + 1
    if start < 0:
        return np.nan
    s = 0.0
    for i in range(start, end + 1):
        s += x[i]
    if not np.isfinite(s):
        return np.nan
    m = s / window
    ss = 0.0
    for i in range(start, end + 1):
        d = x[i] - m
        ss += d * d
    return np.sqrt(ss / (window - 1))


@njit(cache=True)
def _mean_1d_nb(x, end, window):
    """Mean of ``x[end-window+1 : end+1]``; NaN if the window is incomplete or has a NaN."""
    start = end - window + 1
    if start < 0:
        return np.nan
    s = 0.0
    for i in range(start, end + 1):
        s += x[i]
    return s / window


@njit(cache=True, nogil=True)
def features_nb(high, low, close, volume, out):
    """Write the ``(T, N, F)`` features of ``FEATURE_NAMES`` into ``out``.

    ``high``, ``low``, ``close``, ``volume`` are ``(T, N)`` float64. Non-positive or
    missing prices give NaN; a feature is NaN until its window is complete and for
    as long as its window holds a missing bar.
    """
    T, N = close.shape
    logc = np.empty(T)
    r = np.empty(T)
    for n in range(N):
        for t in range(T):
            c = close[t, n]
            logc[t] = np.log(c) if c > 0.0 else np.nan
        r[0] = np.nan
        for t in range(1, T):
            r[t] = logc[t] - logc[t - 1]
        for t in range(T):
            out[t, n, 0] = r[t]
            out[t, n, 1] = logc[t] - logc[t - 5] if t >= 5 else np.nan
            out[t, n, 2] = logc[t] - logc[t - 20] if t >= 20 else np.nan
            out[t, n, 3] = _std_1d_nb(r, t, 20) if t >= 20 else np.nan
            if t >= 60:
                long_sd = _std_1d_nb(r, t, 60)
                short_sd = _std_1d_nb(r, t, 5)
                if long_sd > 0.0:
                    out[t, n, 4] = short_sd / long_sd
                elif long_sd == 0.0 and short_sd == 0.0:
                    out[t, n, 4] = 1.0
                else:
                    out[t, n, 4] = np.nan
            else:
                out[t, n, 4] = np.nan
            c = close[t, n]
            m10 = _mean_1d_nb(close[:, n], t, 10)
            out[t, n, 5] = c / m10 - 1.0 if m10 > 0.0 and c > 0.0 else np.nan
            m50 = _mean_1d_nb(close[:, n], t, 50)
            out[t, n, 6] = c / m50 - 1.0 if m50 > 0.0 and c > 0.0 else np.nan
            if t >= 19:
                vsd = _std_1d_nb(volume[:, n], t, 20)
                if np.isfinite(vsd):
                    if vsd > 0.0:
                        out[t, n, 7] = (volume[t, n] - _mean_1d_nb(volume[:, n], t, 20)) / vsd
                    else:
                        out[t, n, 7] = 0.0
                else:
                    out[t, n, 7] = np.nan
            else:
                out[t, n, 7] = np.nan
            h = high[t, n]
            lo = low[t, n]
            out[t, n, 8] = np.log(h / lo) if h > 0.0 and lo > 0.0 and h >= lo else np.nan


@njit(cache=True)
def valid_windows_nb(feats, lookback, out):
    """``out[t, n]`` = every feature of rows ``t-lookback+1 .. t`` of symbol ``n`` is finite."""
    T, N, F = feats.shape
    for n in range(N):
        run = 0  # consecutive fully-finite rows ending at t
        for t in range(T):
            ok = True
            for f in range(F):
                if not np.isfinite(feats[t, n, f]):
                    ok = False
                    break
            run = run + 1 if ok else 0
            out[t, n] = run >= lookback


@njit(cache=True)
def gather_windows_nb(feats, rows, cols, lookback, mean, std, out):
    """Standardised windows: ``out[s, j, f] = (feats[rows[s]-lookback+1+j, cols[s], f] - mean[f]) / std[f]``."""
    F = feats.shape[2]
    for s in range(rows.size):
        t0 = rows[s] - lookback + 1
        n = cols[s]
        for j in range(lookback):
            for f in range(F):
                out[s, j, f] = (feats[t0 + j, n, f] - mean[f]) / std[f]


@njit(cache=True)
def mlp_forward_nb(x, flat, shapes, out):
    """Forward pass of the MLP for each sample of ``x`` (``(S, D)``, float64), into ``out`` (``(S,)``).

    ``shapes[k] = (fan_out, fan_in)`` of layer ``k``; ``flat`` holds, layer after layer,
    the weight matrix (row-major) then the bias. ReLU follows every layer but the last.
    """
    S, D = x.shape
    K = shapes.shape[0]
    width = D
    for k in range(K):
        if shapes[k, 0] > width:
            width = shapes[k, 0]
    a = np.empty(width)
    b = np.empty(width)
    for s in range(S):
        for j in range(D):
            a[j] = x[s, j]
        off = 0
        for k in range(K):
            n_out = shapes[k, 0]
            n_in = shapes[k, 1]
            boff = off + n_out * n_in
            for o in range(n_out):
                acc = flat[boff + o]
                row = off + o * n_in
                for i in range(n_in):
                    acc += flat[row + i] * a[i]
                if k < K - 1 and acc < 0.0:
                    acc = 0.0
                b[o] = acc
            off = boff + n_out
            for o in range(n_out):
                a[o] = b[o]
        out[s] = a[0]


@njit(cache=True)
def conv_forward_nb(x, flat, shapes, kernel, out):
    """Forward pass of the causal temporal convolution, per sample, into ``out`` (``(S,)``).

    ``x`` is ``(S, L, F)``. Conv layers ``k < K-1`` have ``shapes[k] = (c_out, c_in)``
    and weights ``(c_out, c_in, kernel)`` then bias, applied with dilation ``2**k``,
    ``(kernel-1) * 2**k`` zeros of left padding and a ReLU; the last layer is linear
    ``(1, c_in)`` on the last time step.
    """
    S, L, F = x.shape
    K = shapes.shape[0]
    width = F
    for k in range(K):
        if shapes[k, 0] > width:
            width = shapes[k, 0]
    a = np.zeros((width, L))
    b = np.zeros((width, L))
    for s in range(S):
        for f in range(F):
            for j in range(L):
                a[f, j] = x[s, j, f]
        off = 0
        for k in range(K - 1):
            dil = 2**k
            c_out = shapes[k, 0]
            c_in = shapes[k, 1]
            boff = off + c_out * c_in * kernel
            for o in range(c_out):
                for j in range(L):
                    acc = flat[boff + o]
                    for i in range(c_in):
                        base = off + (o * c_in + i) * kernel
                        for m in range(kernel):
                            src = j - (kernel - 1 - m) * dil
                            if src >= 0:
                                acc += flat[base + m] * a[i, src]
                    b[o, j] = acc if acc > 0.0 else 0.0
            off = boff + c_out
            for o in range(c_out):
                for j in range(L):
                    a[o, j] = b[o, j]
        c_in = shapes[K - 1, 1]
        acc = flat[off + c_in]
        for i in range(c_in):
            acc += flat[off + i] * a[i, L - 1]
        out[s] = acc


@njit(cache=True)
def weights_from_scores_nb(scores, vol, threshold, target_vol, ann_factor, leverage, long_only, out):
    """Map scores in ``[-1, 1]`` to target weights, ``(T, N)``.

    A symbol is traded when ``|score| > threshold``, in the score's direction, sized
    ``target_vol / (vol * ann_factor)`` (volatility scaling) capped at ``leverage``, and
    divided by ``N`` so the gross exposure never exceeds ``leverage``. NaN scores or
    volatilities give 0; ``long_only`` turns shorts into 0.
    """
    T, N = scores.shape
    for t in range(T):
        for n in range(N):
            s = scores[t, n]
            v = vol[t, n]
            w = 0.0
            if np.isfinite(s) and np.isfinite(v) and abs(s) > threshold:
                ann = v * ann_factor
                size = leverage if ann <= 0.0 else min(target_vol / ann, leverage)
                w = size / N if s > 0.0 else -size / N
                if long_only and w < 0.0:
                    w = 0.0
            out[t, n] = w
