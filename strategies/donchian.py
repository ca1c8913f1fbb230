"""Donchian channel breakout: the trend-following rule of the Turtle traders.

Idea
    Buy when the close breaks above the highest high of the previous ``entry`` bars;
    sell out when it falls below the lowest low of the previous ``exit`` bars. With
    ``long_short``, the mirror image: short below the lowest low of ``entry`` bars,
    cover above the highest high of ``exit`` bars. The channels are those of the bars
    *before* ``t`` (a close can never exceed a high that includes its own bar).

Reference
    Donchian (1960), "High finance in copper", *Financial Analysts Journal* 16(6);
    Faith (2007), *Way of the Turtle*, McGraw-Hill (System 1: 20-day breakout,
    10-day exit).

Weights
    ``+1`` / ``-1`` / ``0`` per symbol, divided by the number of symbols with a bar. A
    missing bar closes the position. Rows before ``max(entry, exit)`` are 0.

Example
    >>> from strategies import donchian as s
    >>> from strategies.testing import make_bars
    >>> bars = make_bars([10, 11, 10, 12, 13, 12, 11, 10, 9, 8, 9.0])
    >>> s.target_weights(bars, s.Params(entry=3, exit=2))[:, 0].tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, -1.0, -1.0, -1.0, -1.0]

    Long at bar 3 (12 > the 3-bar high 11), out at bar 6 (11 < the 2-bar low 12),
    short at bar 7 (10 < the 3-bar low 11).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from market_data import Bars
from strategies._base import coerce_params, run_kernel
from strategies.indicators.nb import rolling_max_1d_nb, rolling_min_1d_nb, scale_by_active_nb
from strategies.params import Params as _Params
from strategies.params import param

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "target_weights", "max_leverage",
           "inputs"]

name = "donchian_breakout"


class Params(_Params):
    """Parameters of the Donchian breakout."""

    entry: int = param(20, low=2, high=500, doc="breakout channel length (bars): enter beyond its extreme")
    exit: int = param(10, low=1, high=500, doc="exit channel length (bars): leave beyond its opposite extreme")
    long_short: bool = param(True, doc="also short downside breakouts (else long only)")


def search_space() -> dict[str, Any]:
    """Optuna distributions of the parameters."""
    return Params.search_space()


def warmup(params: Params) -> int:
    """First row that can hold a weight: both channels of the previous bars must exist."""
    return max(params.entry, params.exit)


def max_leverage(params: Params) -> float:
    """Gross leverage bound (sum of |weights|)."""
    return 1.0


@njit(cache=True)
def kernel(open, high, low, close, volume, p, out):  # noqa: A002 - protocol argument names
    """Target weights into ``out`` (``p`` = ``[entry, exit, long_short]``)."""
    entry = int(p[0])
    exit_ = int(p[1])
    long_short = p[2] > 0.5
    warm = max(entry, exit_)
    T, N = close.shape
    up_in = np.empty(T)
    lo_in = np.empty(T)
    up_out = np.empty(T)
    lo_out = np.empty(T)
    for j in range(N):
        rolling_max_1d_nb(high[:, j], entry, entry, up_in)
        rolling_min_1d_nb(low[:, j], entry, entry, lo_in)
        rolling_max_1d_nb(high[:, j], exit_, exit_, up_out)
        rolling_min_1d_nb(low[:, j], exit_, exit_, lo_out)
        pos = 0.0
        for t in range(T):
            c = close[t, j]
            if t < warm or not np.isfinite(c):
                pos = 0.0
            else:
                # channels of the bars before t (NaN while not enough bars: no signal)
                if pos > 0.0 and c < lo_out[t - 1]:
                    pos = 0.0
                elif pos < 0.0 and c > up_out[t - 1]:
                    pos = 0.0
                if pos == 0.0:
                    if c > up_in[t - 1]:
                        pos = 1.0
                    elif long_short and c < lo_in[t - 1]:
                        pos = -1.0
            out[t, j] = pos
    scale_by_active_nb(out, close, 0)


def target_weights(bars: Bars, params: Params | dict | None = None) -> np.ndarray:
    """``(T, N)`` target weights; row ``t`` uses bars up to ``t``."""
    return run_kernel(kernel, bars, coerce_params(Params, params))


def inputs(bars: Bars, params: Params | dict | None = None):
    """The strategy's inputs (:mod:`strategies.inputs`): the common ones plus the close
    against the previous bars' channels the signal kernel compares it with:
    ``entry_high_gap = close / entry-bar high - 1``, ``entry_low_gap``, ``exit_high_gap``,
    ``exit_low_gap`` (a long entry is ``entry_high_gap > 0``)."""
    from strategies.indicators.nb import donchian_nb
    from strategies.inputs import Inputs, base_inputs, lagged, ratio_minus_one

    p = coerce_params(Params, params)
    up_in, lo_in = donchian_nb(bars.high, bars.low, p.entry, p.entry)
    up_out, lo_out = donchian_nb(bars.high, bars.low, p.exit, p.exit)
    c = bars.close
    own = Inputs.from_arrays(bars, ("entry_high_gap", "entry_low_gap", "exit_high_gap", "exit_low_gap"),
                             [ratio_minus_one(c, lagged(up_in, 1)), ratio_minus_one(c, lagged(lo_in, 1)),
                              ratio_minus_one(c, lagged(up_out, 1)), ratio_minus_one(c, lagged(lo_out, 1))])
    return base_inputs(bars).join(own)
