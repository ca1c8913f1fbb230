"""A strategy's inputs: the per-bar quantities its decisions are made from.

One function per strategy computes them, ``inputs(bars, params) -> Inputs`` in the
strategy's module, and :func:`compute_inputs` is the one entry point every consumer
calls (training, the paper runner's decisions, the drift monitor; later the feature
store, which can back this function with stored values without changing callers):

- ``mlp``: its model features, :func:`strategies.ml.features.compute_features`, the
  very function its training and inference read (no second implementation);
- rule strategies: the common inputs (:func:`base_inputs`: 1-bar log return, 20-bar
  realised volatility, volume z-score and log volume, from the same Numba kernel as
  the mlp's features) plus the strategy's own indicators, computed with the same
  indicator kernels and parameters as its signal kernel;
- a user strategy without an ``inputs`` function gets :func:`base_inputs`.

Inputs are point-in-time (row ``t`` uses bars ``<= t`` only), ``NaN`` during warm-up
and where a window holds a missing bar. Computing them never changes a strategy's
weights: the signal kernels are untouched and tests pin that the weights are the
documented function of these inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from market_data import Bars
from market_data.errors import InputError

__all__ = ["Inputs", "compute_inputs", "base_inputs", "BASE_INPUT_NAMES"]

#: The common inputs of every rule strategy, in order.
BASE_INPUT_NAMES: tuple[str, ...] = ("ret_1", "vol_20", "volume_z_20", "log_volume")


@dataclass(frozen=True, eq=False)
class Inputs:
    """``values[t, n, f]`` is input ``names[f]`` of symbol ``symbols[n]`` at ``timestamps[t]``."""

    names: tuple[str, ...]
    values: np.ndarray
    timestamps: np.ndarray
    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        T, N = self.timestamps.shape[0], len(self.symbols)
        if self.values.shape != (T, N, len(self.names)):
            raise InputError(f"Inputs.values must have shape {(T, N, len(self.names))} "
                             f"(bars, symbols, inputs), got {self.values.shape}")
        if len(set(self.names)) != len(self.names):
            raise InputError(f"Inputs.names must be unique, got {self.names}")

    def __getitem__(self, name: str) -> np.ndarray:
        """The ``(T, N)`` values of one input."""
        try:
            return self.values[:, :, self.names.index(name)]
        except ValueError:
            raise InputError(f"no input named {name!r}; the inputs are {', '.join(self.names)}") from None

    def frame(self, symbol: str | None = None):
        """One symbol's inputs (default: the first) as a pandas DataFrame indexed by time (UTC)."""
        import pandas as pd

        sym = self.symbols[0] if symbol is None else symbol
        if sym not in self.symbols:
            raise InputError(f"symbol {sym!r} is not in these inputs ({', '.join(self.symbols)})")
        index = pd.to_datetime(self.timestamps, utc=True)
        return pd.DataFrame(self.values[:, self.symbols.index(sym), :], index=index, columns=list(self.names))

    @classmethod
    def from_arrays(cls, bars: Bars, names: Sequence[str], arrays: Sequence[np.ndarray]) -> Inputs:
        """Stack ``(T, N)`` arrays of ``bars`` into ``Inputs``."""
        values = np.stack([np.asarray(a, dtype=np.float64) for a in arrays], axis=2) if arrays else \
            np.empty(bars.shape + (0,))
        return cls(tuple(names), values, np.asarray(bars.timestamps), tuple(bars.symbols))

    def join(self, other: Inputs) -> Inputs:
        """These inputs followed by ``other``'s (same bars)."""
        if other.values.shape[:2] != self.values.shape[:2]:
            raise InputError("cannot join inputs of different bars")
        return Inputs(self.names + other.names, np.concatenate([self.values, other.values], axis=2),
                      self.timestamps, self.symbols)


def _check_bars(bars: Any) -> Bars:
    if not isinstance(bars, Bars):
        raise InputError(f"inputs expect market_data.Bars, got {type(bars).__name__}")
    return bars


def base_inputs(bars: Bars) -> Inputs:
    """The common inputs (:data:`BASE_INPUT_NAMES`): ``ret_1``, ``vol_20`` and ``volume_z_20``
    are the mlp features of the same names (one kernel, :func:`strategies.ml.features.compute_features`);
    ``log_volume = log(1 + volume)``."""
    from strategies.ml.features import FEATURE_NAMES, compute_features

    bars = _check_bars(bars)
    feats = compute_features(bars)
    arrays = [feats[:, :, FEATURE_NAMES.index(n)] for n in BASE_INPUT_NAMES[:3]]
    with np.errstate(invalid="ignore", divide="ignore"):
        vol = np.where(bars.volume >= 0, bars.volume, np.nan)
        arrays.append(np.log1p(vol))
    return Inputs.from_arrays(bars, BASE_INPUT_NAMES, arrays)


def compute_inputs(strategy: Any, bars: Bars, params: Any = None, *, store: Any = None) -> Inputs:
    """The inputs of ``strategy`` (a registered name or object) on ``bars`` with ``params``.

    Calls the strategy's own ``inputs(bars, params)`` when it has one, else
    :func:`base_inputs`. Unknown strategies and invalid params raise as ``get`` and
    ``Params`` do.

    ``store`` (a ``market_data.BarStore``): read the inputs from the feature store
    instead when they were materialised there from ``bars.snapshot_id`` with the same
    definitions (:func:`strategies.features.inputs_from_store`: the strategy's feature
    set, or ``mlp``), and ``bars`` are the stored rows from the first one on; otherwise
    compute them. Both give the same values, bit for bit.
    """
    import strategies

    strat = strategies.get(strategy)
    bars = _check_bars(bars)
    if store is not None and getattr(bars, "snapshot_id", None):
        from strategies.features import inputs_from_store, strategy_set

        stored = inputs_from_store(store, strategy_set(strat, params), bars)
        if stored is not None:
            return stored
    fn = getattr(strat, "inputs", None)
    if fn is None:
        return base_inputs(bars)
    result = fn(bars, params)
    if not isinstance(result, Inputs):
        raise InputError(f"strategy {strat.name!r}: inputs() must return strategies.inputs.Inputs, "
                         f"got {type(result).__name__}")
    return result


def ratio_minus_one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b - 1`` where both are positive and finite, else NaN (a helper of the strategies' inputs)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (a > 0) & (b > 0) & np.isfinite(a) & np.isfinite(b)
        return np.where(ok, a / np.where(ok, b, 1.0) - 1.0, np.nan)


def lagged(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` shifted down by ``k`` rows (row ``t`` holds ``a[t - k]``; NaN above)."""
    out = np.full(a.shape, np.nan)
    if k < a.shape[0]:
        out[k:] = a[: a.shape[0] - k]
    return out
