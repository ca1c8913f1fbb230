"""The harness exception hierarchy.

The root (:class:`HarnessError`) and the data errors live in ``market_data.errors``
(the lowest layer) and are re-exported here, so ``harness.errors`` is the one place to
catch from. Errors caused by bad input also subclass ``ValueError``.
"""

from __future__ import annotations

from market_data.errors import (
    ConflictError,
    HarnessError,
    InputError,
    SnapshotNotFoundError,
    StoreError,
    ValidationError,
)
from strategies.params import ParamError

__all__ = [
    "HarnessError",
    "InputError",
    "ValidationError",
    "StoreError",
    "ConflictError",
    "SnapshotNotFoundError",
    "ParamError",
    "ConfigError",
    "EnvironmentProblem",
]


class ConfigError(InputError):
    """A configuration file, experiment spec or setting is invalid."""


class EnvironmentProblem(HarnessError):
    """The environment cannot run the harness (home not writable, missing package...)."""
