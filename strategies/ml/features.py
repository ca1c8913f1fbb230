"""Point-in-time features of bars for the trainable strategy (wrapper over ``strategies.ml.nb``)."""

from __future__ import annotations

import numpy as np

from market_data import Bars
from market_data.errors import InputError
from strategies.ml.nb import FEATURE_NAMES, FEATURE_WARMUP, N_FEATURES, VOL_FEATURE, features_nb

__all__ = ["FEATURE_NAMES", "FEATURE_WARMUP", "VOL_FEATURE", "compute_features", "features_frame"]


def compute_features(bars: Bars) -> np.ndarray:
    """The ``(T, N, F)`` float64 features of ``bars``, in the order of :data:`FEATURE_NAMES`.

    Row ``t`` uses bars ``<= t`` only; rows before :data:`FEATURE_WARMUP` are NaN, and
    so is any feature whose window holds a missing bar.
    """
    if not isinstance(bars, Bars):
        raise InputError(f"compute_features expects market_data.Bars, got {type(bars).__name__}")
    T, N = bars.shape
    out = np.empty((T, N, N_FEATURES), dtype=np.float64)
    if T and N:
        features_nb(bars.high, bars.low, bars.close, bars.volume, out)
    return out


def features_frame(bars: Bars, symbol: str | None = None):
    """The features of one symbol (default: the first) as a pandas DataFrame indexed by time."""
    import pandas as pd

    sym = bars.symbols[0] if symbol is None else symbol
    one = bars.select(sym)
    return pd.DataFrame(compute_features(one)[:, 0, :], index=one.index(), columns=list(FEATURE_NAMES))
