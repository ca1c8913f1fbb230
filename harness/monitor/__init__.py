"""Live monitoring: drift statistics, monitors per deployment, alerts and their sinks.

Statistics (pure functions, kernels in :mod:`harness.monitor.nb`): :func:`psi`,
:func:`ks`, :func:`wasserstein`, :func:`jensen_shannon`, and the effective sample size
that accounts for autocorrelation (:func:`autocorrelation_time`).

Monitors (one module each, base :class:`Monitor`, data :class:`MonitorData`, results
:class:`Reading`): ``feature_drift``, ``decision_drift``, ``performance``,
``data_quality``, ``tracking_error``. :class:`DeploymentMonitor` runs them on the
``[monitor]`` schedule (:class:`MonitorConfig`), de-duplicates :class:`Alert` s and
delivers them to the sinks.
"""

from harness.monitor._alerts import (
    Alert,
    AlertBook,
    AuditSink,
    HookSink,
    JsonlSink,
    LogSink,
    MlflowSink,
    Sink,
    retrain_alerts,
    retrain_reason,
)
from harness.monitor._base import (
    ALERT,
    INSUFFICIENT,
    OK,
    STATES,
    WARN,
    Monitor,
    MonitorData,
    Reading,
    monitor_class,
)
from harness.monitor._config import MONITOR_NAMES, RETRAIN_ON, RETRAIN_REASONS, MonitorConfig
from harness.monitor._deployment import DeploymentMonitor, alerts, alerts_path, status, status_path
from harness.monitor._ledger import LedgerMonitor
from harness.monitor._schedule import Schedule
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
    "MonitorConfig",
    "MONITOR_NAMES",
    "RETRAIN_REASONS",
    "RETRAIN_ON",
    "Monitor",
    "MonitorData",
    "Reading",
    "monitor_class",
    "STATES",
    "OK",
    "WARN",
    "ALERT",
    "INSUFFICIENT",
    "Schedule",
    "Alert",
    "AlertBook",
    "Sink",
    "LogSink",
    "JsonlSink",
    "HookSink",
    "AuditSink",
    "MlflowSink",
    "retrain_alerts",
    "retrain_reason",
    "DeploymentMonitor",
    "LedgerMonitor",
    "status",
    "alerts",
    "status_path",
    "alerts_path",
]
