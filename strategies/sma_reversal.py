"""SMA crossover reversal: always in the market, closing and reversing on each cross.

Idea
    The textbook baseline (backtesting.py's ``SmaCross`` example). Stay flat until the
    first cross of the fast SMA over the slow one; from then on hold +1 after the fast
    average crosses *above* the slow one and -1 after it crosses *below*, reversing
    the whole position at each cross. A cross at bar ``t`` means
    ``fast[t-1] < slow[t-1]`` and ``fast[t] > slow[t]`` (strict on both sides, as
    ``backtesting.lib.crossover``), or the mirror image.

Reference
    Kaufman (2013), *Trading Systems and Methods*, 5th ed., ch. 8 (moving-average
    crossover systems, "stop and reverse"); the ``SmaCross`` strategy of the
    backtesting.py tutorial (Kernc, 2019).

Weights
    ``+1`` / ``-1`` per symbol after its first cross, divided by the number of symbols
    with a bar. A missing bar makes the averages undefined: the position is closed and
    waits for the next cross. Rows before ``slow`` are 0.

Example
    >>> from strategies import sma_reversal as s
    >>> from strategies.testing import make_bars
    >>> bars = make_bars([5, 5, 5, 6, 7, 6, 5, 4, 5, 6.0])
    >>> s.target_weights(bars, s.Params(fast=2, slow=3))[:, 0].tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0, -1.0, 1.0]

    At bar 3 the fast average rises above the slow one, but at bar 2 they were equal,
    so that is not a cross; the first cross is downward, at bar 6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from market_data import Bars
from strategies._base import coerce_params, run_kernel
from strategies.indicators.nb import rolling_mean_1d_nb, scale_by_active_nb
from strategies.params import Params as _Params
from strategies.params import param

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "target_weights", "max_leverage",
           "inputs"]

name = "sma_reversal"


class Params(_Params):
    """Parameters of the stop-and-reverse SMA crossover."""

    fast: int = param(10, low=1, high=250, doc="fast simple moving-average window (bars)")
    slow: int = param(20, low=2, high=1000, doc="slow simple moving-average window (bars), > fast")

    def check(self) -> None:
        if self.fast >= self.slow:
            self.fail("fast", f"must be below slow ({self.slow}), got {self.fast}")


def search_space() -> dict[str, Any]:
    """Optuna distributions of the parameters."""
    return Params.search_space()


def warmup(params: Params) -> int:
    """First row that can hold a weight: a cross needs both averages on two bars."""
    return params.slow


def max_leverage(params: Params) -> float:
    """Gross leverage bound (sum of |weights|)."""
    return 1.0


@njit(cache=True)
def kernel(open, high, low, close, volume, p, out):  # noqa: A002 - protocol argument names
    """Target weights into ``out`` (``p`` = ``[fast, slow]``)."""
    fast = int(p[0])
    slow = int(p[1])
    T, N = close.shape
    f = np.empty(T)
    s = np.empty(T)
    for j in range(N):
        rolling_mean_1d_nb(close[:, j], fast, fast, f)
        rolling_mean_1d_nb(close[:, j], slow, slow, s)
        pos = 0.0
        for t in range(T):
            if t < slow or not (f[t] == f[t] and s[t] == s[t] and f[t - 1] == f[t - 1] and s[t - 1] == s[t - 1]):
                pos = 0.0
            elif f[t - 1] < s[t - 1] and f[t] > s[t]:
                pos = 1.0
            elif f[t - 1] > s[t - 1] and f[t] < s[t]:
                pos = -1.0
            out[t, j] = pos
    scale_by_active_nb(out, close, 0)


def target_weights(bars: Bars, params: Params | dict | None = None) -> np.ndarray:
    """``(T, N)`` target weights; row ``t`` uses bars up to ``t``."""
    return run_kernel(kernel, bars, coerce_params(Params, params))


def inputs(bars: Bars, params: Params | dict | None = None):
    """The strategy's inputs (:mod:`strategies.inputs`): the common ones plus
    ``sma_fast_gap = close / fast SMA - 1``, ``sma_slow_gap = close / slow SMA - 1`` and
    ``sma_spread = fast SMA / slow SMA - 1`` (the sign of the spread is the signal)."""
    from strategies.indicators.nb import rolling_mean_nb
    from strategies.inputs import Inputs, base_inputs, ratio_minus_one

    p = coerce_params(Params, params)
    fast = rolling_mean_nb(bars.close, p.fast, p.fast)
    slow = rolling_mean_nb(bars.close, p.slow, p.slow)
    own = Inputs.from_arrays(bars, ("sma_fast_gap", "sma_slow_gap", "sma_spread"),
                             [ratio_minus_one(bars.close, fast), ratio_minus_one(bars.close, slow),
                              ratio_minus_one(fast, slow)])
    return base_inputs(bars).join(own)
