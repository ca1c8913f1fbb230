"""``max_drawdown``: the challenger's holdout drawdown stays within the limit.

Uses ``Evidence.max_drawdown`` (the backtest's figure, a fraction) when given, else the
drawdown of the compounded ``challenger_returns``. Passes at ``<= max_drawdown``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate import nb
from harness.gate.checks._base import Check

__all__ = ["MaxDrawdown"]


class MaxDrawdown(Check):
    name = "max_drawdown"
    threshold_key = "max_drawdown"
    op = "<="
    requires = ("challenger_returns",)
    protects = "a version whose out-of-sample losses exceed the drawdown the mandate allows"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        if evidence.max_drawdown is not None:
            dd, source = evidence.max_drawdown, "the backtest's max_drawdown"
        else:
            dd, source = float(nb.max_drawdown_1d_nb(evidence.challenger_returns)), "compounded challenger_returns"
        return self.result(policy, self.compare(dd, policy), dd,
                           f"max drawdown {dd:.2%} (from {source}) vs limit {policy.max_drawdown:.2%}", source=source)
