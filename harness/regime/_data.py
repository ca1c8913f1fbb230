"""From bars to the log returns the detectors take."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.regime._base import RegimeError

if TYPE_CHECKING:
    from market_data import Bars

__all__ = ["returns_from_bars"]


def returns_from_bars(bars: Bars, symbol: str | None = None) -> np.ndarray:
    """Log returns of ``close`` for one symbol, aligned with the bars: ``r[t] = log(c[t] / c[t-1])``.

    ``r[0]`` is NaN, and so is every return touching a missing (NaN) close; detectors
    treat NaN as a missing bar. ``symbol`` may be omitted for single-symbol bars.
    """
    if symbol is None:
        if bars.n_symbols != 1:
            raise RegimeError(f"bars hold {bars.n_symbols} symbols ({', '.join(bars.symbols[:5])}...); pass symbol=")
        close = bars.close[:, 0]
    else:
        close = bars.select(symbol).close[:, 0]
    if np.any(close[np.isfinite(close)] <= 0):
        t = int(np.flatnonzero(close <= 0)[0])
        raise RegimeError(f"close of {symbol or bars.symbols[0]!r} at row {t} is {close[t]}; expected a positive price")
    out = np.full(close.shape, np.nan)
    if close.size > 1:
        out[1:] = np.log(close[1:] / close[:-1])
    return out
