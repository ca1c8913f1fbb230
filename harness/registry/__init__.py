"""MLflow-backed lineage: the tracking store, deployments, model versions, aliases and champion history.

Tracking (``_tracking``): :func:`log_run` logs one MLflow run (the retrain pipeline calls
it per retrain) and :func:`log_backtest` / :func:`log_sweep` / :func:`log_optimization` /
:func:`log_fit` log a result; :func:`fit` fits a trainable strategy (``track=True``);
:func:`reproduce` reruns a logged run from its lineage.

Nothing here imports mlflow at import time; names resolve on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY: dict[str, str] = {
    "tracking_uri": "harness.registry._mlflow:tracking_uri",
    "artifact_root": "harness.registry._mlflow:artifact_root",
    "client": "harness.registry._mlflow:client",
    "retry_locked": "harness.registry._mlflow:retry_locked",
    "ensure_experiment": "harness.registry._mlflow:ensure_experiment",
    "Registry": "harness.registry._registry:Registry",
    "DeploymentInfo": "harness.registry._registry:DeploymentInfo",
    "ModelVersion": "harness.registry._registry:ModelVersion",
    "DeployedStrategy": "harness.registry._registry:DeployedStrategy",
    "MODES": "harness.registry._registry:MODES",
    "artifact_digest": "harness.registry._registry:artifact_digest",
    "ALIASES": "harness.registry._names:ALIASES",
    "check_deployment_name": "harness.registry._names:check_deployment_name",
    # tracking: one MLflow run per backtest, sweep, optimize, run, fit, retrain (tracking helper)
    "log_run": "harness.registry._tracking:log_run",
    "log_backtest": "harness.registry._tracking:log_backtest",
    "log_sweep": "harness.registry._tracking:log_sweep",
    "log_optimization": "harness.registry._tracking:log_optimization",
    "log_fit": "harness.registry._tracking:log_fit",
    "fit": "harness.registry._tracking:fit",
    "metric_key": "harness.registry._tracking:metric_key",
    "get_run": "harness.registry._tracking:get_run",
    "RUN_KINDS": "harness.registry._tracking:RUN_KINDS",
    "reproduce": "harness.registry._reproduce:reproduce",
    "Reproduction": "harness.registry._reproduce:Reproduction",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'harness.registry' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
