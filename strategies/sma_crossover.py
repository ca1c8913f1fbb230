"""Moving-average crossover: long (or long/short) while the fast SMA is above the slow one.

Idea
    A trend filter. When the average price of the last ``fast`` bars is above the
    average of the last ``slow`` bars, prices have been rising: hold the symbol. When it
    is below, be flat, or short with ``long_short=True``. The weight follows the *state*
    (fast above/below slow) from the first bar both averages exist; compare
    :mod:`strategies.sma_reversal`, which only acts on the crossing *events*.

Reference
    Brock, Lakonishok and LeBaron (1992), "Simple Technical Trading Rules and the
    Stochastic Properties of Stock Returns", *Journal of Finance* 47(5), the
    variable-length moving-average rule; Murphy (1999), *Technical Analysis of the
    Financial Markets*, ch. 9.

Weights
    ``+1`` / ``0`` (or ``-1``) per symbol, divided by the number of symbols with a bar at
    that time (equal capital, gross leverage <= 1). Rows before ``slow - 1`` are 0.

Example
    >>> from strategies import sma_crossover as s
    >>> from strategies.testing import make_bars
    >>> bars = make_bars([5, 4, 3, 4, 5, 6, 5, 4, 3, 2.0])
    >>> s.target_weights(bars, s.Params(fast=2, slow=3))[:, 0].tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    >>> s.target_weights(bars, {"fast": 2, "slow": 3, "long_short": True})[:, 0].tolist()
    [0.0, 0.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from market_data import Bars
from strategies._base import coerce_params, run_kernel
from strategies.indicators.nb import rolling_mean_1d_nb, rolling_mean_step_nb, scale_by_active_nb
from strategies.params import Params as _Params
from strategies.params import param

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "target_weights", "max_leverage",
           "inputs"]

name = "sma_crossover"


class Params(_Params):
    """Parameters of the moving-average crossover."""

    fast: int = param(10, low=1, high=250, doc="fast simple moving-average window (bars)")
    slow: int = param(50, low=2, high=1000, doc="slow simple moving-average window (bars), > fast")
    long_short: bool = param(False, doc="short while fast < slow instead of staying flat")

    def check(self) -> None:
        if self.fast >= self.slow:
            self.fail("fast", f"must be below slow ({self.slow}), got {self.fast}")


def search_space() -> dict[str, Any]:
    """Optuna distributions of the parameters."""
    return Params.search_space()


def warmup(params: Params) -> int:
    """First row that can hold a weight: the slow average needs ``slow`` bars."""
    return params.slow - 1


def max_leverage(params: Params) -> float:
    """Gross leverage bound (sum of |weights|)."""
    return 1.0


@njit(cache=True)
def kernel(open, high, low, close, volume, p, out):  # noqa: A002 - protocol argument names
    """Target weights into ``out`` (``p`` = ``[fast, slow, long_short]``).

    No scratch arrays: the fast mean of a symbol goes into its ``out`` column first, then
    one pass steps the slow mean (:func:`~strategies.indicators.nb.rolling_mean_step_nb`,
    bit for bit :func:`~strategies.indicators.nb.rolling_mean_1d_nb`) and overwrites the
    column with the weights.
    """
    fast = int(p[0])
    slow = int(p[1])
    long_short = p[2] > 0.5
    T, N = close.shape
    for j in range(N):
        a = close[:, j]
        col = out[:, j]
        rolling_mean_1d_nb(a, fast, fast, col)
        st = 0.0
        sn = 0
        sr = 0
        sp = np.nan
        sl = slow
        for t in range(T):
            s, st, sn, sr, sp, sl = rolling_mean_step_nb(a, t, slow, slow, st, sn, sr, sp, sl)
            f = col[t]
            # branch-free (comparisons with NaN are false, so NaN means give 0 as they should)
            w = 1.0 if f > s else (-1.0 if long_short and f < s else 0.0)
            if t < slow - 1:
                w = 0.0
            if N == 1 and not np.isfinite(a[t]):  # scale_by_active_nb's rule for one symbol
                w = 0.0
            col[t] = w
    if N > 1:
        scale_by_active_nb(out, close, 0)  # with one symbol the division is by 1: done above


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
