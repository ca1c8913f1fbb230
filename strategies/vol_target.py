"""Volatility-targeted time-series momentum.

Idea
    Each symbol is held long when its return over the last ``lookback`` bars is
    positive and short when negative (flat with ``long_only``), with a size that
    scales its risk to a target: ``target_vol / realised_vol``, where realised vol is
    the sample standard deviation of the last ``vol_window`` simple returns,
    annualised with ``periods_per_year``. Each symbol's size is capped at
    ``max_leverage``, and symbols share the capital equally, so the gross leverage of
    the book never exceeds ``max_leverage``.

Reference
    Moskowitz, Ooi and Pedersen (2012), "Time series momentum", *Journal of Financial
    Economics* 104(2), 228-250 (12-month lookback, positions scaled by ex-ante
    volatility); Harvey et al. (2018), "The impact of volatility targeting",
    *Journal of Portfolio Management* 45(1).

Weights
    ``sign(trailing return) * min(target_vol / vol, max_leverage) / n_listed``. Rows
    before ``max(lookback, vol_window)`` are 0; O(1) work per bar (running moments).

Example
    >>> import numpy as np
    >>> from strategies import vol_target as s
    >>> from strategies.testing import make_bars
    >>> close = 100 * np.cumprod(np.r_[1.0, np.tile([1.02, 0.99], 10)])  # +1% per 2 bars
    >>> p = s.Params(lookback=4, vol_window=4, target_vol=0.2, max_leverage=2.0)
    >>> w = s.target_weights(make_bars(close), p)[:, 0]
    >>> w[:4].tolist(), w[4:7].round(3).tolist()
    ([0.0, 0.0, 0.0, 0.0], [0.727, 0.727, 0.727])

    The returns alternate +2% / -1% (sample std 0.0173 per bar, 0.275 a year), so the
    long position is 0.2 / 0.275 = 0.727 of capital.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from market_data import Bars
from strategies._base import coerce_params, run_kernel
from strategies.indicators.nb import rolling_std_1d_nb, scale_by_active_nb
from strategies.params import Params as _Params
from strategies.params import param

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "target_weights", "max_leverage",
           "inputs"]

name = "vol_target_momentum"


class Params(_Params):
    """Parameters of volatility-targeted time-series momentum."""

    lookback: int = param(252, low=2, high=2000, doc="trailing-return window for the trend sign (bars)")
    vol_window: int = param(60, low=2, high=2000, doc="window of returns for realised volatility (bars)")
    target_vol: float = param(0.15, low=0.01, high=1.0, doc="annualised volatility target per symbol")
    max_leverage: float = param(2.0, low=0.1, high=10.0, doc="cap on each symbol's size and on the book's gross leverage")
    long_only: bool = param(False, doc="stay flat instead of short when the trend is down")
    periods_per_year: float = param(252.0, low=1.0, high=1e7, search=False,
                                    doc="bars per year, to annualise volatility (252 for daily bars)")


def search_space() -> dict[str, Any]:
    """Optuna distributions of the parameters."""
    return Params.search_space()


def warmup(params: Params) -> int:
    """First row that can hold a weight: the trailing return and the volatility must exist."""
    return max(params.lookback, params.vol_window)


def max_leverage(params: Params) -> float:
    """Gross leverage bound (sum of |weights|)."""
    return params.max_leverage


@njit(cache=True)
def kernel(open, high, low, close, volume, p, out):  # noqa: A002 - protocol argument names
    """Target weights into ``out``
    (``p`` = ``[lookback, vol_window, target_vol, max_leverage, long_only, periods_per_year]``)."""
    lookback = int(p[0])
    vol_window = int(p[1])
    target = p[2]
    cap = p[3]
    long_only = p[4] > 0.5
    ann = np.sqrt(p[5])
    warm = max(lookback, vol_window)
    T, N = close.shape
    r = np.empty(T)
    vol = np.empty(T)
    for j in range(N):
        c = close[:, j]
        r[0] = np.nan
        for t in range(1, T):
            r[t] = c[t] / c[t - 1] - 1.0
        rolling_std_1d_nb(r, vol_window, vol_window, 1, vol)
        for t in range(T):
            w = 0.0
            if t >= warm and np.isfinite(c[t]):
                trend = c[t] / c[t - lookback] - 1.0
                sd = vol[t] * ann
                if trend == trend and sd == sd and sd > 0.0 and trend != 0.0:
                    size = target / sd
                    if size > cap:
                        size = cap
                    if trend > 0.0:
                        w = size
                    elif not long_only:
                        w = -size
            out[t, j] = w
    scale_by_active_nb(out, close, 0)


def target_weights(bars: Bars, params: Params | dict | None = None) -> np.ndarray:
    """``(T, N)`` target weights; row ``t`` uses bars up to ``t``."""
    return run_kernel(kernel, bars, coerce_params(Params, params))


def inputs(bars: Bars, params: Params | dict | None = None):
    """The strategy's inputs (:mod:`strategies.inputs`): the common ones plus ``trend``
    (the ``lookback``-bar simple return whose sign is the signal) and ``realised_vol``
    (annualised sample std of ``vol_window`` simple returns, the sizing denominator),
    with the signal kernel's formulas and kernel."""
    from strategies.indicators.nb import rolling_std_nb
    from strategies.inputs import Inputs, base_inputs, lagged, ratio_minus_one

    p = coerce_params(Params, params)
    c = bars.close
    r = np.full(c.shape, np.nan)
    r[1:] = c[1:] / c[:-1] - 1.0
    vol = rolling_std_nb(r, p.vol_window, p.vol_window, 1) * np.sqrt(p.periods_per_year)
    own = Inputs.from_arrays(bars, ("trend", "realised_vol"), [ratio_minus_one(c, lagged(c, p.lookback)), vol])
    return base_inputs(bars).join(own)
