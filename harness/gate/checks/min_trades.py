"""``min_trades``: enough trades on the holdout for its statistics to mean anything."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check

__all__ = ["MinTrades"]


class MinTrades(Check):
    name = "min_trades"
    threshold_key = "min_trades"
    op = ">="
    requires = ("trades",)
    protects = "a verdict resting on a handful of trades (one lucky position decides the Sharpe ratio)"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        n = int(evidence.trades)
        return self.result(policy, self.compare(n, policy), n, f"{n} trades on the holdout vs at least "
                           f"{policy.min_trades}")
