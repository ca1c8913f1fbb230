"""MLflow-backed lineage: the tracking store, deployments, model versions, aliases and champion history.

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
