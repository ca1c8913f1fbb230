"""Cross-sectional momentum: long the recent winners (and short the losers) of a universe.

Idea
    Every ``rebalance`` bars, rank the symbols that have a bar by their return from
    ``lookback`` bars ago to ``skip`` bars ago (``skip`` leaves out the most recent
    bars, whose short-term reversal works against momentum: the classic "12-1"
    momentum is ``lookback=252, skip=21``). Hold the ``top_k`` best equally; with
    ``long_short``, also short the ``top_k`` worst, dollar-neutral. Positions are held
    until the next rebalance; a symbol that loses its bar is sold at once.

Reference
    Jegadeesh and Titman (1993), "Returns to Buying Winners and Selling Losers:
    Implications for Stock Market Efficiency", *Journal of Finance* 48(1), 65-91;
    Asness, Moskowitz and Pedersen (2013), "Value and Momentum Everywhere",
    *Journal of Finance* 68(3).

Weights
    Long-only: ``leverage / k`` on each of the ``k = min(top_k, n_ranked)`` winners.
    Long/short: ``+leverage / (2k)`` on winners and ``-leverage / (2k)`` on losers with
    ``k = min(top_k, n_ranked // 2)``, so the gross leverage is ``leverage``. Ties
    rank by column order. Rows before ``lookback`` are 0. Ranking is a stable sort,
    O(N log N) per rebalance, with per-call scratch of size N.

Example
    >>> import numpy as np
    >>> from strategies import xs_momentum as s
    >>> from strategies.testing import make_bars
    >>> close = np.array([[10, 10, 10], [11, 10, 9], [12, 10, 8], [12, 11, 9], [12, 13, 10.0]])
    >>> p = s.Params(lookback=2, skip=0, top_k=1, rebalance=1, long_short=True)
    >>> s.target_weights(make_bars(close), p).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, -0.5], [0.0, 0.5, -0.5], [-0.5, 0.5, 0.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from market_data import Bars
from strategies._base import coerce_params, run_kernel
from strategies.params import Params as _Params
from strategies.params import param

__all__ = ["name", "Params", "search_space", "warmup", "kernel", "target_weights", "max_leverage",
           "inputs"]

name = "xs_momentum"


class Params(_Params):
    """Parameters of cross-sectional momentum."""

    lookback: int = param(252, low=2, high=2000, doc="ranking return starts this many bars ago")
    skip: int = param(21, low=0, high=1999, doc="ranking return ends this many bars ago (< lookback)")
    top_k: int = param(3, low=1, high=1000, doc="number of winners held (and losers shorted)")
    long_short: bool = param(False, doc="also short the top_k worst performers (dollar-neutral)")
    rebalance: int = param(21, low=1, high=1000, doc="bars between rebalances (positions held in between)")
    leverage: float = param(1.0, low=0.1, high=10.0, search=False, doc="gross leverage of the book")

    def check(self) -> None:
        if self.skip >= self.lookback:
            self.fail("skip", f"must be below lookback ({self.lookback}), got {self.skip}")


def search_space() -> dict[str, Any]:
    """Optuna distributions of the parameters."""
    return Params.search_space()


def warmup(params: Params) -> int:
    """First row that can hold a weight: the ranking return needs ``lookback`` bars."""
    return params.lookback


def max_leverage(params: Params) -> float:
    """Gross leverage bound (sum of |weights|)."""
    return params.leverage


@njit(cache=True)
def kernel(open, high, low, close, volume, p, out):  # noqa: A002 - protocol argument names
    """Target weights into ``out``
    (``p`` = ``[lookback, skip, top_k, long_short, rebalance, leverage]``)."""
    lookback = int(p[0])
    skip = int(p[1])
    top_k = int(p[2])
    long_short = p[3] > 0.5
    rebalance = int(p[4])
    leverage = p[5]
    T, N = close.shape
    scores = np.empty(N)
    idx = np.empty(N, dtype=np.int64)
    for t in range(T):
        if t < lookback:
            for j in range(N):
                out[t, j] = 0.0
            continue
        if (t - lookback) % rebalance != 0:
            for j in range(N):
                if np.isfinite(close[t, j]):
                    out[t, j] = out[t - 1, j]
                else:
                    out[t, j] = 0.0
            continue
        m = 0
        for j in range(N):
            out[t, j] = 0.0
            now = close[t, j]
            end = close[t - skip, j]
            start = close[t - lookback, j]
            if np.isfinite(now) and np.isfinite(end) and np.isfinite(start) and start > 0.0:
                scores[m] = end / start - 1.0
                idx[m] = j
                m += 1
        k = min(top_k, m // 2) if long_short else min(top_k, m)
        if k == 0:
            continue
        order = np.argsort(scores[:m], kind="mergesort")  # ascending, stable
        w = leverage / (2 * k) if long_short else leverage / k
        for q in range(k):
            out[t, idx[order[m - 1 - q]]] = w
        if long_short:
            for q in range(k):
                out[t, idx[order[q]]] = -w


def target_weights(bars: Bars, params: Params | dict | None = None) -> np.ndarray:
    """``(T, N)`` target weights; row ``t`` uses bars up to ``t``."""
    return run_kernel(kernel, bars, coerce_params(Params, params))


def inputs(bars: Bars, params: Params | dict | None = None):
    """The strategy's inputs (:mod:`strategies.inputs`): the common ones plus ``momentum``,
    the ranking return ``close[t - skip] / close[t - lookback] - 1``."""
    from strategies.inputs import Inputs, base_inputs, lagged, ratio_minus_one

    p = coerce_params(Params, params)
    c = bars.close
    own = Inputs.from_arrays(bars, ("momentum",), [ratio_minus_one(lagged(c, p.skip), lagged(c, p.lookback))])
    return base_inputs(bars).join(own)
