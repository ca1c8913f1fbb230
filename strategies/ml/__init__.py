"""The trainable ``mlp`` strategy: point-in-time features, a small PyTorch model, safe weights.

``import strategies.ml`` does not import torch: the networks (``strategies.ml._nets``)
are imported by ``fit`` and by ``FittedModel.save``/``load`` only.

Public API: :func:`fit`, :class:`FittedModel`, :func:`load`, :class:`MLPParams`,
:func:`compute_features`, :data:`FEATURE_NAMES`, and the errors of
:mod:`strategies.ml.errors`. The registered strategy module is ``strategies.ml.strategy``.
"""

from strategies.ml.errors import (
    ModelError,
    ModelFileError,
    ModelMismatchError,
    NotEnoughDataError,
    TamperedModelError,
)
from strategies.ml.features import FEATURE_NAMES, FEATURE_WARMUP, compute_features
from strategies.ml.fitted import FittedModel, load
from strategies.ml.params import MLPParams
from strategies.ml.train import fit

__all__ = [
    "fit",
    "FittedModel",
    "load",
    "MLPParams",
    "compute_features",
    "FEATURE_NAMES",
    "FEATURE_WARMUP",
    "ModelError",
    "ModelFileError",
    "ModelMismatchError",
    "NotEnoughDataError",
    "TamperedModelError",
]
