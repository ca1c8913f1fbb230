"""Technical indicators: thin NumPy/pandas wrappers over the Numba kernels in :mod:`.nb`.

Every function takes a 1-D or 2-D (bars x symbols) NumPy array, a pandas ``Series`` or
a ``DataFrame`` and returns the same kind (same index and columns for pandas). NaN is
a missing bar; windows count the non-NaN values (pandas' ``min_periods`` semantics).
Row ``t`` of every output uses input rows ``<= t`` only.

>>> import numpy as np
>>> from strategies import indicators as ind
>>> ind.rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
[nan, 1.5, 2.5, 3.5]
>>> ind.rsi(np.array([1.0, 2.0, 3.0, 2.0, 3.0]), 2).round(1).tolist()
[nan, nan, 100.0, 50.0, 75.0]

Strategy kernels call the ``*_1d_nb`` kernels directly, column by column, with one
reusable scratch buffer (see :mod:`strategies.sma_crossover`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from market_data.errors import InputError
from strategies.indicators import nb

__all__ = ["rolling_mean", "rolling_std", "ewm_mean", "rsi", "true_range", "atr", "donchian",
           "zscore", "nb"]


def _window(value: Any, name: str = "window") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer number of bars, got {value!r}")
    return int(value)


def _minp(min_periods: Any, window: int) -> int:
    if min_periods is None:
        return window
    if isinstance(min_periods, bool) or not isinstance(min_periods, (int, np.integer)) or not 0 <= min_periods <= window:
        raise InputError(f"min_periods must be an integer in 0..window ({window}), got {min_periods!r}")
    return int(min_periods)


def _as_2d(x: Any, name: str = "x") -> tuple[np.ndarray, Any]:
    """(T, N) float64 array and a function that puts a (T, N) result back into x's form."""
    module = type(x).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(x, pd.Series):
            arr = x.to_numpy(dtype=np.float64).reshape(-1, 1)
            return arr, lambda r: pd.Series(r[:, 0], index=x.index, name=x.name)
        if isinstance(x, pd.DataFrame):
            arr = x.to_numpy(dtype=np.float64)
            return arr, lambda r: pd.DataFrame(r, index=x.index, columns=x.columns)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric (an array, Series or DataFrame), got {type(x).__name__}") from None
    if arr.ndim == 1:
        return arr.reshape(-1, 1), lambda r: r[:, 0]
    if arr.ndim == 2:
        return arr, lambda r: r
    raise InputError(f"{name} must be 1-D or 2-D (bars x symbols), got shape {arr.shape}")


def _same_shape(arrays: dict[str, np.ndarray]) -> None:
    shapes = {k: a.shape for k, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise InputError("inputs must have the same shape, got " + ", ".join(f"{k} {s}" for k, s in shapes.items()))


def rolling_mean(x: Any, window: int, min_periods: int | None = None) -> Any:
    """Simple moving average over ``window`` bars (``min_periods`` defaults to ``window``)."""
    w = _window(window)
    a, back = _as_2d(x)
    return back(nb.rolling_mean_nb(a, w, _minp(min_periods, w)))


def rolling_std(x: Any, window: int, min_periods: int | None = None, ddof: int = 1) -> Any:
    """Moving standard deviation (``ddof=1``: sample std, as pandas; ``ddof=0``: population)."""
    w = _window(window)
    a, back = _as_2d(x)
    return back(nb.rolling_std_nb(a, w, _minp(min_periods, w), int(ddof)))


def ewm_mean(x: Any, *, span: float | None = None, alpha: float | None = None,
             min_periods: int = 0, adjust: bool = False) -> Any:
    """Exponentially weighted moving average; give ``span`` (``alpha = 2/(span+1)``) or ``alpha``.

    ``adjust=False`` is the recursive form ``y_t = (1-alpha) y_{t-1} + alpha x_t``.
    """
    if (span is None) == (alpha is None):
        raise InputError("ewm_mean needs exactly one of span= or alpha=")
    if span is not None:
        if not np.isfinite(span) or span < 1:
            raise InputError(f"span must be >= 1, got {span!r}")
        alpha = 2.0 / (float(span) + 1.0)
    if not (0.0 < float(alpha) <= 1.0):
        raise InputError(f"alpha must be in (0, 1], got {alpha!r}")
    if isinstance(min_periods, bool) or not isinstance(min_periods, (int, np.integer)) or min_periods < 0:
        raise InputError(f"min_periods must be a non-negative integer, got {min_periods!r}")
    a, back = _as_2d(x)
    return back(nb.ewm_mean_nb(a, float(alpha), int(min_periods), bool(adjust)))


def rsi(close: Any, window: int = 14) -> Any:
    """Wilder's RSI (0..100) over ``window`` bars; first value at row ``window``."""
    w = _window(window)
    a, back = _as_2d(close, "close")
    return back(nb.rsi_nb(a, w))


def true_range(high: Any, low: Any, close: Any) -> Any:
    """True range of each bar (``high - low`` widened to the previous close)."""
    h, back = _as_2d(high, "high")
    lo, _ = _as_2d(low, "low")
    c, _ = _as_2d(close, "close")
    _same_shape({"high": h, "low": lo, "close": c})
    out = np.empty(h.shape)
    for j in range(h.shape[1]):
        nb.true_range_1d_nb(h[:, j], lo[:, j], c[:, j], out[:, j])
    return back(out)


def atr(high: Any, low: Any, close: Any, window: int = 14) -> Any:
    """Wilder's average true range over ``window`` bars; first value at row ``window - 1``."""
    w = _window(window)
    h, back = _as_2d(high, "high")
    lo, _ = _as_2d(low, "low")
    c, _ = _as_2d(close, "close")
    _same_shape({"high": h, "low": lo, "close": c})
    return back(nb.atr_nb(h, lo, c, w))


def donchian(high: Any, low: Any, window: int = 20, min_periods: int | None = None) -> tuple[Any, Any]:
    """Donchian channel ``(upper, lower)``: highest high and lowest low of the last ``window``
    bars, the current bar included (compare today's close with yesterday's channel)."""
    w = _window(window)
    h, back = _as_2d(high, "high")
    lo, _ = _as_2d(low, "low")
    _same_shape({"high": h, "low": lo})
    upper, lower = nb.donchian_nb(h, lo, w, _minp(min_periods, w))
    return back(upper), back(lower)


def zscore(x: Any, window: int, min_periods: int | None = None, ddof: int = 0) -> Any:
    """Rolling z-score ``(x - mean) / std`` over ``window`` bars; NaN where the std is 0."""
    w = _window(window)
    a, back = _as_2d(x)
    return back(nb.zscore_nb(a, w, _minp(min_periods, w), int(ddof)))
