"""Point-in-time features of bars for the trainable strategy (wrapper over ``strategies.ml.nb``)."""

from __future__ import annotations

import contextvars

import numpy as np

from market_data import Bars
from market_data.errors import InputError
from strategies.ml.nb import FEATURE_NAMES, FEATURE_WARMUP, N_FEATURES, VOL_FEATURE, features_nb

__all__ = ["FEATURE_NAMES", "FEATURE_WARMUP", "VOL_FEATURE", "compute_features", "features_frame"]


#: The bar store whose materialised ``mlp`` features :func:`compute_features` reads when they exist for
#: ``bars.snapshot_id`` (set with :func:`strategies.features.use_store`; None: always compute).
_STORE: contextvars.ContextVar = contextvars.ContextVar("strategies.ml.features.store", default=None)


def _stored_features(bars: Bars) -> np.ndarray | None:
    """The materialised ``mlp`` features of exactly ``bars`` (bit for bit what the kernel computes), or None."""
    from strategies.features import inputs_from_store

    got = inputs_from_store(_STORE.get(), "mlp", bars)
    return None if got is None else np.ascontiguousarray(got.values)


_stored_features.__feature_identity__ = False  # plumbing: same values either way, not part of any hash


def compute_features(bars: Bars) -> np.ndarray:
    """The ``(T, N, F)`` float64 features of ``bars``, in the order of :data:`FEATURE_NAMES`.

    Row ``t`` uses bars ``<= t`` only; rows before :data:`FEATURE_WARMUP` are NaN, and
    so is any feature whose window holds a missing bar. Inside
    ``strategies.features.use_store(store)`` they are read from the store when the
    ``mlp`` set was materialised from ``bars.snapshot_id`` (same values).
    """
    if not isinstance(bars, Bars):
        raise InputError(f"compute_features expects market_data.Bars, got {type(bars).__name__}")
    if _STORE.get() is not None and bars.snapshot_id:
        stored = _stored_features(bars)
        if stored is not None:
            return stored
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
