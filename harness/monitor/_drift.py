"""Column-wise two-sample drift tests with autocorrelation and multiple-testing control.

Used by the feature and decision drift monitors. For each column (one symbol's input)
the reference (training window) is prepared once: finite values sorted, PSI bin edges
and counts, and the integrated autocorrelation time ``tau`` (Geyer's initial monotone
sequence on the reference series, in time order). A comparison with a live window
gives per column the KS statistic, its p-value and the PSI:

- ``autocorrelation="ess"``: the p-value is the asymptotic two-sample KS p-value with
  both sample sizes divided by ``tau`` (``kstwo.sf(d, round(n1 n2 / ((n1 + n2) tau)))``).
  For AR(1) with coefficient phi, ``tau = (1 + phi) / (1 - phi)``: 39 at 0.95, so 500
  live bars count as 13 independent ones;
- ``"none"``: the plain ``ks`` p-value (scipy's ``ks_2samp``), valid for i.i.d. data only.

The family of tested columns is corrected by Bonferroni (``p_adj = min(1, m p)``) or
Benjamini-Hochberg (step-up adjusted p-values); a column is significant when
``p_adj <= alpha``. Columns with too few finite values are left out of the family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.monitor import nb
from harness.monitor._stats import PSI_FLOOR, autocorrelation_time

__all__ = ["DriftReference", "DriftResult", "adjust_pvalues"]


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values of a family (NaN entries are not part of it and stay NaN)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, q * m)
    elif method == "bh":
        order = np.argsort(q)
        ranked = q[order] * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(ranked[::-1])[::-1]
        res = np.empty(m)
        res[order] = np.minimum(1.0, adj)
        out[ok] = res
    else:
        raise ValueError(f"unknown correction {method!r}")
    return out


@dataclass
class DriftResult:
    n_ref: np.ndarray
    n_cur: np.ndarray
    ks: np.ndarray
    pvalue: np.ndarray
    padj: np.ndarray
    psi: np.ndarray
    tau: np.ndarray
    tested: np.ndarray


class DriftReference:
    """A prepared reference: ``(T, C)`` columns in time order (NaN = no value)."""

    def __init__(self, reference: np.ndarray, *, bins: int = 10) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim == 1:
            ref = ref[:, None]
        self.bins = bins
        self.columns = ref.shape[1]
        self.sorted: list[np.ndarray] = []
        self.inner: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.tau = np.ones(self.columns)
        for c in range(self.columns):
            x = ref[:, c]
            x = x[np.isfinite(x)]
            self.sorted.append(np.sort(x))
            if x.size:
                inner = np.ascontiguousarray(np.quantile(x, np.arange(bins + 1) / bins)[1:-1])
                counts = np.zeros(bins, dtype=np.int64)
                nb.bin_counts_nb(x, inner, counts)
                self.tau[c] = autocorrelation_time(x) if x.size >= 4 else 1.0
            else:
                inner, counts = np.zeros(bins - 1), np.zeros(bins, dtype=np.int64)
            self.inner.append(inner)
            self.counts.append(counts)
        self.n = np.array([s.size for s in self.sorted], dtype=np.int64)

    def compare(self, current: np.ndarray, *, min_samples: int, alpha: float, correction: str = "bonferroni",
                autocorrelation: str = "ess") -> DriftResult:
        from harness.monitor._stats import ks as ks_exact
        from harness.monitor._stats import ks_pvalue_effective

        cur = np.asarray(current, dtype=np.float64)
        if cur.ndim == 1:
            cur = cur[:, None]
        C = self.columns
        n_cur = np.zeros(C, dtype=np.int64)
        d = np.full(C, np.nan)
        psi = np.full(C, np.nan)
        p = np.full(C, np.nan)
        tested = np.zeros(C, dtype=bool)
        counts = np.zeros(self.bins, dtype=np.int64)
        for c in range(C):
            x = cur[:, c]
            x = np.sort(x[np.isfinite(x)])
            n_cur[c] = x.size
            if x.size == 0 or self.n[c] == 0:
                continue
            d[c] = nb.ks_sorted_nb(self.sorted[c], x)[0]
            nb.bin_counts_nb(x, self.inner[c], counts)
            psi[c] = nb.psi_from_counts_nb(self.counts[c], self.n[c], counts, x.size, PSI_FLOOR)
            if x.size >= min_samples and self.n[c] >= 4 * min_samples:
                tested[c] = True
                if autocorrelation == "none":
                    p[c] = ks_exact(self.sorted[c], x)[1]
        if tested.any() and autocorrelation == "ess":
            idx = np.flatnonzero(tested)
            p[idx] = ks_pvalue_effective(d[idx], self.n[idx], n_cur[idx], 1.0 / self.tau[idx])
        padj = adjust_pvalues(np.where(tested, p, np.nan), correction)
        return DriftResult(self.n, n_cur, d, p, padj, psi, self.tau, tested)


def finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
