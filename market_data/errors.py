"""The exception hierarchy shared by all three packages.

``market_data`` is the lowest layer and imports nothing of ours, so the root of the
hierarchy lives here; ``harness.errors`` re-exports it and adds the harness' own.
Every exception the harness raises on purpose derives from :class:`HarnessError`;
errors caused by bad input also derive from :class:`ValueError` so that generic
callers (``except ValueError``) keep working.
"""

from __future__ import annotations

__all__ = [
    "HarnessError",
    "InputError",
    "ValidationError",
    "ConflictError",
    "StoreError",
    "SnapshotNotFoundError",
    "FeaturesNotMaterialisedError",
    "FeatureDefinitionChangedError",
]


class HarnessError(Exception):
    """Base of every error the harness raises deliberately."""


class InputError(HarnessError, ValueError):
    """Bad input from the user: a wrong argument, file, parameter or config value."""


class ValidationError(InputError):
    """Market data failed a validation rule; the message names symbol, timestamp and rule."""

    def __init__(self, message: str, *, rule: str | None = None, symbol: str | None = None,
                 timestamp: object | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.symbol = symbol
        self.timestamp = timestamp


class StoreError(HarnessError):
    """The bar store cannot be opened, read or written."""


class ConflictError(StoreError):
    """A write conflicts with data already stored or with a concurrent writer."""


class SnapshotNotFoundError(InputError, KeyError):
    """A snapshot id or tag that the store does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FeaturesNotMaterialisedError(InputError):
    """A feature set was not materialised (from the snapshot asked for)."""


class FeatureDefinitionChangedError(InputError):
    """Stored features (or a model version) were computed with another definition of a feature."""
