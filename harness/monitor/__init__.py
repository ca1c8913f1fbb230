"""Live monitoring: drift statistics, monitors per deployment, alerts and their sinks.

Statistics (pure functions, kernels in :mod:`harness.monitor.nb`): :func:`psi`,
:func:`ks`, :func:`wasserstein`, :func:`jensen_shannon`, and the effective sample size
that accounts for autocorrelation (:func:`autocorrelation_time`).
"""

from harness.monitor._stats import (
    autocorrelation_time,
    effective_fraction,
    jensen_shannon,
    ks,
    ks_pvalue_effective,
    psi,
    quantile_edges,
    wasserstein,
)

__all__ = [
    "psi",
    "ks",
    "wasserstein",
    "jensen_shannon",
    "quantile_edges",
    "autocorrelation_time",
    "effective_fraction",
    "ks_pvalue_effective",
]
