"""Bollinger-band mean reversion: buy below the lower band, sell above the upper band.

Idea
    Prices that stray far from their moving average tend to come back. With the
    rolling mean ``m`` and population standard deviation ``sd`` of the last ``window``
    closes and ``z = (close - m) / sd``: go long when ``z < -n_std`` (close below the
    lower band), go short when ``z > n_std`` (with ``long_short``), and close the
    position when ``z`` comes back to ``-exit_std`` (long) or ``+exit_std`` (short);
    ``exit_std = 0`` exits at the moving average.

Reference
    Bollinger (2001), *Bollinger on Bollinger Bands*, McGraw-Hill; Chan (2013),
    *Algorithmic Trading: Winning Strategies and Their Rationale*, Wiley, ch. 3
    (Bollinger bands as a linear mean-reversion trading rule).

Weights
    ``+1`` / ``-1`` / ``0`` per symbol, divided by the number of symbols with a bar. A
    missing bar closes the position. Rows before ``window - 1`` are 0.

Example
    >>> from strategies import bollinger as s
    >>> from strategies.testing import make_bars
    >>> bars = make_bars([10, 10.2, 9.8, 10, 10.1, 9.0, 9.4, 9.9, 10.3, 11.5, 10.8, 10.0])
    >>> from strategies.indicators import zscore
    >>> zscore(bars.close[:, 0], 5).round(2).tolist()
    [nan, nan, nan, nan, 0.6, -1.9, -0.64, 0.53, 1.18, 1.72, 0.58, -0.85]
    >>> s.target_weights(bars, s.Params(window=5, n_std=1.5))[:, 0].tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, -1.0, -1.0, 0.0]

    Long at bar 5 (z = -1.9 < -1.5), out at bar 7 when z is back above 0; short at
    bar 9 (z = 1.72 > 1.5), out at bar 11.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from market_data import Bars
from strategies._base import coerce_params, run_kernel
from strategies.indicators.nb import scale_by_active_nb, zscore_1d_nb
from strategies.params import Params as _Params
from strategies.params import param

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "target_weights", "max_leverage",
           "inputs"]

name = "bollinger_reversion"


class Params(_Params):
    """Parameters of Bollinger-band mean reversion."""

    window: int = param(20, low=2, high=500, doc="moving-average and standard-deviation window (bars)")
    n_std: float = param(2.0, low=0.1, high=5.0, doc="band width: enter beyond this many standard deviations")
    exit_std: float = param(0.0, low=-2.0, high=4.9,
                            doc="exit when z returns within this many std of the mean (0 = at the mean)")
    long_short: bool = param(True, doc="also short above the upper band (else long only)")

    def check(self) -> None:
        if self.exit_std >= self.n_std:
            self.fail("exit_std", f"must be below n_std ({self.n_std}), got {self.exit_std}")


def search_space() -> dict[str, Any]:
    """Optuna distributions of the parameters."""
    return Params.search_space()


def warmup(params: Params) -> int:
    """First row that can hold a weight: the bands need ``window`` bars."""
    return params.window - 1


def max_leverage(params: Params) -> float:
    """Gross leverage bound (sum of |weights|)."""
    return 1.0


@njit(cache=True)
def kernel(open, high, low, close, volume, p, out):  # noqa: A002 - protocol argument names
    """Target weights into ``out`` (``p`` = ``[window, n_std, exit_std, long_short]``)."""
    window = int(p[0])
    n_std = p[1]
    exit_std = p[2]
    long_short = p[3] > 0.5
    T, N = close.shape
    z = np.empty(T)
    for j in range(N):
        zscore_1d_nb(close[:, j], window, window, 0, z)
        pos = 0.0
        for t in range(T):
            zt = z[t]
            if t < window - 1 or not np.isfinite(close[t, j]):
                pos = 0.0
            elif zt == zt:  # zero std (flat window): hold
                if pos > 0.0 and zt >= -exit_std:
                    pos = 0.0
                elif pos < 0.0 and zt <= exit_std:
                    pos = 0.0
                if pos == 0.0:
                    if zt < -n_std:
                        pos = 1.0
                    elif long_short and zt > n_std:
                        pos = -1.0
            out[t, j] = pos
    scale_by_active_nb(out, close, 0)


def target_weights(bars: Bars, params: Params | dict | None = None) -> np.ndarray:
    """``(T, N)`` target weights; row ``t`` uses bars up to ``t``."""
    return run_kernel(kernel, bars, coerce_params(Params, params))


def inputs(bars: Bars, params: Params | dict | None = None):
    """The strategy's inputs (:mod:`strategies.inputs`): the common ones plus ``zscore``,
    the rolling z-score of the close that the signal kernel trades on (same kernel,
    window and ``ddof=0``)."""
    from strategies.indicators.nb import zscore_nb
    from strategies.inputs import Inputs, base_inputs

    p = coerce_params(Params, params)
    own = Inputs.from_arrays(bars, ("zscore",), [zscore_nb(bars.close, p.window, p.window, 0)])
    return base_inputs(bars).join(own)
