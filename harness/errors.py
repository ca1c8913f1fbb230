"""The harness exception hierarchy.

The root (:class:`HarnessError`) and the data errors live in ``market_data.errors``
(the lowest layer) and are re-exported here, so ``harness.errors`` is the one place to
catch from. Errors caused by bad input also subclass ``ValueError``.
"""

from __future__ import annotations

from market_data.errors import (
    ConflictError,
    FeatureDefinitionChangedError,
    FeaturesNotMaterialisedError,
    HarnessError,
    InputError,
    SnapshotNotFoundError,
    StoreError,
    ValidationError,
)
from strategies.params import ParamError

__all__ = [
    "RetrainFailed",
    "HarnessError",
    "InputError",
    "ValidationError",
    "StoreError",
    "ConflictError",
    "SnapshotNotFoundError",
    "FeaturesNotMaterialisedError",
    "FeatureDefinitionChangedError",
    "ParamError",
    "ConfigError",
    "EnvironmentProblem",
    "AuditError",
    "AuditTornError",
    "AuditTamperedError",
    "RegistryError",
    "UnknownDeploymentError",
    "UnknownVersionError",
    "UnknownAliasError",
    "UnknownDecisionError",
    "PromotionRefused",
    "ArtifactHashMismatch",
    "LedgerError",
    "LedgerMismatchError",
    "NoChampionError",
    "RunnerBusyError",
    # promotion gate (harness.gate)
    "EvidenceError",
    "ApprovalRefused",
    "StaleDecisionError",
    "ApprovalExpiredError",
    "SelfApprovalError",
    "TrackingError",
    "UnknownRunError",
    "NotReproducibleError",
]


class ConfigError(InputError):
    """A configuration file, experiment spec or setting is invalid."""


class EnvironmentProblem(HarnessError):
    """The environment cannot run the harness (home not writable, missing package...)."""


class AuditError(StoreError):
    """The audit trail cannot be appended to or read: it is torn, tampered with or unreadable."""


class AuditTornError(AuditError):
    """The audit trail ends in a torn line (a process was killed mid-append); `harness audit repair`."""


class AuditTamperedError(AuditError):
    """A record of the audit trail was edited, removed, inserted or reordered."""


class RegistryError(StoreError):
    """The MLflow tracking store or model registry cannot be reached, read or written."""


class UnknownDeploymentError(InputError):
    """A deployment name the registry does not know."""


class UnknownVersionError(InputError):
    """A model version number that a deployment does not have."""


class UnknownAliasError(InputError):
    """An alias (champion, challenger, previous) that is not set, or not a valid alias."""


class UnknownDecisionError(InputError):
    """A gate decision or approval id the registry does not know."""


class PromotionRefused(HarnessError):
    """A promotion without a passing gate decision (and approval, in governed mode) for that version."""


class ArtifactHashMismatch(StoreError):
    """A stored model artifact whose SHA-256 differs from the one registered with its version."""


# --------------------------------------------------------------------- paper trading
class LedgerError(HarnessError):
    """A paper ledger is unreadable, damaged or not a ledger (the message names the file)."""


class LedgerMismatchError(LedgerError, InputError):
    """A paper ledger belongs to another deployment (or another universe of symbols)."""


class NoChampionError(InputError):
    """A deployment has no champion to paper-trade (run ``harness deploy`` first)."""


class RunnerBusyError(HarnessError):
    """Another paper runner of the same deployment holds its lock."""


# --------------------------------------------------------------- promotion gate (harness.gate)
class EvidenceError(InputError):
    """Gate evidence is malformed (wrong shape, non-finite value, tampered file); the message names the field."""


class ApprovalRefused(HarnessError):
    """An approval, rejection or rollback the gate's policy does not allow."""


class StaleDecisionError(ApprovalRefused):
    """The pending decision is void: a newer challenger was registered or the champion changed since."""


class ApprovalExpiredError(ApprovalRefused):
    """The pending decision is older than the policy's ``approval_ttl``."""


class SelfApprovalError(ApprovalRefused):
    """Separation of duties: the person who deployed or last changed the spec may not approve it."""


# --------------------------------------------------------------- tracking and reproduce (harness.registry)
class TrackingError(HarnessError):
    """An MLflow run could not be logged or read (the result it describes is kept)."""


class UnknownRunError(InputError):
    """No MLflow run has this id (or the id is malformed)."""


class NotReproducibleError(InputError):
    """A logged run lacks what ``harness reproduce`` needs (e.g. a backtest of explicit weights)."""


class RetrainFailed(HarnessError):
    """A retrain child process kept failing (``harness watch``); its trigger stays pending."""
