"""``max_leverage``: the challenger's largest gross exposure stays within the limit.

``Evidence.exposure`` is the largest ``sum |w|`` (fraction of equity) the challenger
held on the holdout. Passes at ``<= max_leverage`` (default 1: the engine's default
``BacktestConfig.leverage``; a leveraged deployment says so in its ``[gate]`` table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check

__all__ = ["MaxLeverage"]


class MaxLeverage(Check):
    name = "max_leverage"
    threshold_key = "max_leverage"
    op = "<="
    requires = ("exposure",)
    protects = "a version that quietly takes more gross exposure than the deployment allows"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        v = float(evidence.exposure)
        return self.result(policy, self.compare(v, policy), v,
                           f"largest gross exposure {v:.3g} vs limit {policy.max_leverage:g}")
