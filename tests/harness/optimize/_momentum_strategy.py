"""A small user strategy for the optimisation tests: long while close > close ``lookback`` bars ago.

Registered by the tests through ``strategies.register`` like any user strategy, so the
optimisation tests do not depend on which built-in strategies exist.
"""

from __future__ import annotations

import numpy as np

from strategies.params import Params as _Params
from strategies.params import param

name = "test_momentum"


class Params(_Params):
    lookback: int = param(10, low=1, high=60, doc="bars to look back")
    threshold: float = param(0.0, low=0.0, high=0.05, doc="minimum trailing return to go long")
    cap: int = param(60, low=1, high=60, search=False, doc="must be >= lookback (validation test)")

    def check(self) -> None:
        if self.lookback > self.cap:
            self.fail("lookback", f"must be <= cap ({self.cap}), got {self.lookback}")


def search_space():
    return Params.search_space()


def warmup(params: Params) -> int:
    return params.lookback


def target_weights(bars, params: Params) -> np.ndarray:
    c = bars.close
    out = np.zeros(c.shape)
    k = params.lookback
    if c.shape[0] > k:
        trail = c[k:] / c[:-k] - 1.0
        out[k:] = np.where(trail > params.threshold, 1.0 / c.shape[1], 0.0)
    return out
