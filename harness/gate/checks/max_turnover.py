"""``max_turnover``: the challenger does not trade more than the mandate can pay for.

``Evidence.turnover`` is one-way traded notional per year in multiples of equity
(``sum |order value| / mean equity / years``). Passes at ``<= max_turnover``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check

__all__ = ["MaxTurnover"]


class MaxTurnover(Check):
    name = "max_turnover"
    threshold_key = "max_turnover"
    op = "<="
    requires = ("turnover",)
    protects = "a version whose edge is eaten by costs the backtest under-states (capacity, impact)"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        v = float(evidence.turnover)
        return self.result(policy, self.compare(v, policy), v,
                           f"turnover {v:.3g}x equity per year vs limit {policy.max_turnover:g}x")
