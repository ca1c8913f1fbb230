"""Errors of the trainable strategy (all derive from ``market_data.errors.HarnessError``)."""

from __future__ import annotations

from market_data.errors import HarnessError, InputError

__all__ = ["ModelError", "NotEnoughDataError", "ModelFileError", "TamperedModelError", "ModelMismatchError"]


class ModelError(HarnessError):
    """A trainable model cannot be fitted, saved or loaded."""


class NotEnoughDataError(ModelError, InputError):
    """The bars given to ``fit`` are too few for the feature warmup, lookback, embargo and split."""


class ModelFileError(ModelError, InputError):
    """A saved model is missing, unreadable or not in the expected format."""


class TamperedModelError(ModelFileError):
    """The weights file does not match the SHA-256 recorded in its manifest."""


class ModelMismatchError(ModelFileError):
    """The saved weights do not fit the architecture, features or data the manifest (or caller) names."""
