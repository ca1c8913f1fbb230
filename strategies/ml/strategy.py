"""The ``mlp`` strategy: a small PyTorch network on point-in-time features (trainable).

Protocol (see :mod:`strategies._base`): ``name``, ``Params``, ``search_space()``,
``warmup(params)``, ``kernel = None`` (not fusable into sweeps), ``trainable = True``,
``fit(bars, params, seed) -> FittedModel`` and ``target_weights(bars, params)``.

The optimiser fits per walk-forward fold and trades the fold with
``model.target_weights(bars)``. The module-level ``target_weights(bars, params)`` is the
self-contained form: it fits on the first ``params.train_bars`` bars (seed
``params.seed``) and trades after them, with zero weights before, so it honours the
warmup and the prefix test like any rule-based strategy. Fits are memoised by the
digest of the training bars, the params and the seed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from market_data import Bars
from market_data.errors import InputError
from strategies.ml.fitted import FittedModel
from strategies.ml.params import MLPParams
from strategies.ml.train import _as_params
from strategies.ml.train import fit as _fit

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "trainable", "fit", "target_weights", "inputs",
           "max_leverage"]

name = "mlp"
Params = MLPParams
kernel = None
trainable = True

_CACHE: OrderedDict[tuple, FittedModel] = OrderedDict()
_CACHE_SIZE = 8


def search_space() -> dict[str, Any]:
    """Optuna distributions of the searchable hyperparameters."""
    return MLPParams.search_space()


def warmup(params: MLPParams | None = None) -> int:
    """Bars before the first weight of ``target_weights(bars, params)``: the fit window."""
    return _as_params(params).train_bars


def max_leverage(params: MLPParams | None = None) -> float:
    """Gross leverage bound (sum of |weights|): ``params.leverage``."""
    return _as_params(params).leverage


def fit(bars: Bars, params: MLPParams | None = None, seed: int = 0) -> FittedModel:
    """Train on ``bars`` (chronological split, embargo, early stopping); see :func:`strategies.ml.train.fit`."""
    return _fit(bars, params, seed)


def _fitted_on(train_bars: Bars, params: MLPParams) -> FittedModel:
    key = (train_bars.digest(), tuple(sorted(params.to_dict().items())))
    model = _CACHE.get(key)
    if model is None:
        model = _fit(train_bars, params, params.seed)
        _CACHE[key] = model
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return model


def target_weights(bars: Bars, params: MLPParams | None = None) -> np.ndarray:
    """``(T, N)`` weights: zero for the first ``train_bars`` bars, then the model fitted on them."""
    params = _as_params(params)
    if not isinstance(bars, Bars):
        raise InputError(f"target_weights expects market_data.Bars, got {type(bars).__name__}")
    out = np.zeros(bars.shape)
    w = params.train_bars
    if bars.n_bars <= w or bars.n_symbols == 0:
        return out
    model = _fitted_on(bars[:w], params)
    start = max(0, w - model.window + 1)  # enough history for the first traded bar's features
    out[w:] = model.target_weights(bars[start:])[w - start:]
    return out


def inputs(bars: Bars, params: MLPParams | None = None):
    """The model's inputs (:mod:`strategies.inputs`): its features, from
    :func:`strategies.ml.features.compute_features`, the function training and inference
    read (names :data:`strategies.ml.FEATURE_NAMES`)."""
    from strategies.inputs import Inputs
    from strategies.ml.features import FEATURE_NAMES, compute_features

    _as_params(params)
    if not isinstance(bars, Bars):
        raise InputError(f"inputs expects market_data.Bars, got {type(bars).__name__}")
    return Inputs(tuple(FEATURE_NAMES), compute_features(bars), np.asarray(bars.timestamps), tuple(bars.symbols))
