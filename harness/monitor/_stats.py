"""Drift statistics: PSI, Kolmogorov-Smirnov, Wasserstein, Jensen-Shannon, effective sample size.

All four take a ``reference`` sample (the training window) and a ``current`` one (the
live window), 1-D and numeric. NaN values are dropped (a missing bar or a feature's
warm-up is not an observation); an infinite value, a non-numeric input or a sample
with no finite value raises :class:`~harness.errors.InputError` naming the argument.

PSI convention (a contract: alerts, thresholds and stored values depend on it)
    1. bin edges are the reference's quantiles at ``k / bins`` (``k = 0 .. bins``),
       computed with :func:`numpy.quantile`'s default (``method="linear"``);
    2. bins are closed on the left: a value equal to an edge falls in the bin above it
       (repeated edges of a tied reference make empty bins, which contribute 0);
    3. values outside the reference range fall in the end bins (below the minimum in
       the first, at or above the maximum in the last);
    4. proportions are ``count / n``; an empty bin's proportion is floored at ``1e-4``
       (every proportion ``p`` becomes ``max(p, 1e-4)``; nothing is renormalised);
    5. ``PSI = sum over bins of (c - r) * ln(c / r)``, ``r`` the reference's and ``c``
       the current sample's proportion.

Jensen-Shannon uses the same bins (without the floor: ``0 * log 0 = 0``) and returns
the Jensen-Shannon *distance* in base 2, ``sqrt(JSD)`` in ``[0, 1]``, as
``scipy.spatial.distance.jensenshannon(r, c, base=2)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.monitor import nb

__all__ = ["psi", "ks", "wasserstein", "jensen_shannon", "quantile_edges", "autocorrelation_time",
           "effective_fraction", "ks_pvalue_effective", "PSI_FLOOR", "KS_EXACT_MAX_N"]

#: Floor of an empty bin's proportion in :func:`psi`.
PSI_FLOOR = 1e-4
#: ``ks`` computes the exact p-value up to this sample size (scipy's ``method="auto"``).
KS_EXACT_MAX_N = 10_000


def _sample(x: Any, name: str) -> np.ndarray:
    """Finite float64 values of a 1-D sample (NaN dropped)."""
    module = type(x).__module__
    if module.startswith("pandas"):
        x = x.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric (an array or Series), got {type(x).__name__}") from None
    if a.ndim != 1:
        if a.ndim == 2 and 1 in a.shape:
            a = a.reshape(-1)
        else:
            raise InputError(f"{name} must be 1-D, got shape {a.shape}")
    a = a[~np.isnan(a)]
    if np.isinf(a).any():
        i = int(np.flatnonzero(np.isinf(a))[0])
        raise InputError(f"{name} holds an infinite value ({a[i]}); expected finite numbers (NaN is dropped)")
    if a.size == 0:
        raise InputError(f"{name} has no finite value; a drift statistic needs at least one observation")
    return np.ascontiguousarray(a)


def _bins(bins: Any) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise InputError(f"bins must be an integer >= 2, got {bins!r}")
    return int(bins)


def quantile_edges(reference: Any, bins: int = 10) -> np.ndarray:
    """The ``bins + 1`` PSI bin edges of ``reference``: its quantiles at ``k / bins``
    (``np.quantile``, linear interpolation)."""
    ref = _sample(reference, "reference")
    b = _bins(bins)
    return np.quantile(ref, np.arange(b + 1) / b)


def _counts(x: np.ndarray, inner: np.ndarray) -> np.ndarray:
    out = np.zeros(inner.size + 1, dtype=np.int64)
    nb.bin_counts_nb(x, inner, out)
    return out


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (convention in the
    module docstring: reference-quantile bins, left-closed, 1e-4 floor)."""
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    b = _bins(bins)
    inner = np.ascontiguousarray(np.quantile(ref, np.arange(b + 1) / b)[1:-1])
    return float(nb.psi_from_counts_nb(_counts(ref, inner), ref.size, _counts(cur, inner), cur.size, PSI_FLOOR))


def jensen_shannon(reference: Any, current: Any, bins: int = 10) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of the two samples over the PSI bins."""
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    b = _bins(bins)
    inner = np.ascontiguousarray(np.quantile(ref, np.arange(b + 1) / b)[1:-1])
    return float(nb.js_from_counts_nb(_counts(ref, inner), ref.size, _counts(cur, inner), cur.size))


def _ks_asymptotic_pvalue(d: float, n1: int, n2: int) -> float:
    from scipy.stats import kstwo

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(kstwo.sf(d, np.round(en)))


def ks(reference: Any, current: Any) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: ``(statistic, pvalue)``.

    Equal to ``scipy.stats.ks_2samp(reference, current)`` (``method="auto"``): the
    exact p-value when both samples hold at most 10,000 values, else the asymptotic
    one (``scipy.stats.kstwo.sf(d, round(n1 n2 / (n1 + n2)))``), with scipy's fallback
    to the asymptotic form when the exact computation is not a probability.
    """
    ref = np.sort(_sample(reference, "reference"))
    cur = np.sort(_sample(current, "current"))
    n1, n2 = ref.size, cur.size
    d, _, _ = nb.ks_sorted_nb(ref, cur)
    d = float(d)
    if max(n1, n2) <= KS_EXACT_MAX_N:
        ok, d_exact, p = nb.ks_exact_pvalue_nb(n1, n2, math.gcd(n1, n2), d)
        if ok:
            return float(d_exact), float(min(max(p, 0.0), 1.0))
        d = float(d_exact)
    return d, float(min(max(_ks_asymptotic_pvalue(d, n1, n2), 0.0), 1.0))


def wasserstein(reference: Any, current: Any) -> float:
    """First Wasserstein (earth mover's) distance, ``scipy.stats.wasserstein_distance``."""
    ref = np.sort(_sample(reference, "reference"))
    cur = np.sort(_sample(current, "current"))
    return float(nb.wasserstein_sorted_nb(ref, cur))


def autocorrelation_time(x: Any, max_lag: int | None = None) -> float:
    """Integrated autocorrelation time ``tau`` of a series (``n / tau`` = effective sample size).

    The sample autocorrelations (biased estimator, by FFT) up to ``max_lag`` (default
    ``n // 2``) are summed with Geyer's (1992) initial monotone sequence estimator
    (:func:`~harness.monitor.nb.ips_tau_nb`); ``tau >= 1``. A constant series has
    ``tau = 1``. The series must be in time order; NaN values are dropped first.
    """
    a = _sample(x, "x")
    n = a.size
    if n < 4:
        return 1.0
    lag = n // 2 if max_lag is None else int(max_lag)
    if lag < 1:
        raise InputError(f"max_lag must be a positive integer, got {max_lag!r}")
    d = a - a.mean()
    c0 = float(d @ d)
    if c0 <= 0.0:
        return 1.0
    size = 1 << int(2 * n - 1).bit_length()
    f = np.fft.rfft(d, size)
    acf = np.fft.irfft(f * np.conj(f), size)[: min(lag, n - 1) + 1] / c0
    return float(nb.ips_tau_nb(np.ascontiguousarray(acf)))


def effective_fraction(x: Any, max_lag: int | None = None) -> float:
    """``1 / tau``: the fraction of a series' observations that count as independent."""
    return 1.0 / autocorrelation_time(x, max_lag)


def ks_pvalue_effective(d: Any, n_reference: Any, n_current: Any, fraction: Any) -> np.ndarray:
    """KS p-values at effective sample sizes (vectorised over features).

    With ``en = f * n1 * n2 / (n1 + n2)`` (``f`` the effective fraction, at least one
    effective observation), the two-sided p-value is Stephens' (1970) finite-sample form
    of the Kolmogorov limit, ``Q((sqrt(en) + 0.12 + 0.11 / sqrt(en)) d)``: within a few
    percent of scipy's ``kstwo.sf(d, round(en))`` (tested) at a hundredth of its cost,
    which matters when it runs on every bar.
    """
    d = np.atleast_1d(np.asarray(d, dtype=np.float64))
    n1 = np.asarray(n_reference, dtype=np.float64)
    n2 = np.asarray(n_current, dtype=np.float64)
    f = np.asarray(fraction, dtype=np.float64)
    en = np.broadcast_to(np.maximum(f * n1 * n2 / (n1 + n2), 1.0), d.shape)
    out = np.empty(d.shape)
    for i in range(d.size):
        out.flat[i] = nb.ks_pvalue_stephens_nb(float(d.flat[i]), float(en.flat[i]))
    return out
