"""``shadow``: the challenger ran in paper shadow and tracked its backtest.

Shadow bars cannot exist at retrain time: without a :class:`~harness.gate.Shadow`
record, or with fewer than ``min_shadow_bars`` bars in it, the check is *pending* and a
decision whose other checks pass is ``pending_shadow`` (the paper runner starts the
shadow run; the gate re-evaluates once enough bars have passed). With enough bars it
passes when the annualised tracking error between the shadow returns and the
challenger's backtest returns on the same bars is ``<= max_tracking_error``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.gate.checks._base import Check

__all__ = ["ShadowCheck"]


class ShadowCheck(Check):
    name = "shadow"
    threshold_key = "max_tracking_error"
    op = "<="
    requires = ()
    protects = "a version whose live behaviour (data, timing, fills) differs from what its backtest promised"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        from market_data.frequency import periods_per_year

        sh = evidence.shadow
        need = int(policy.min_shadow_bars)
        if sh is None or sh.n_bars < need:
            have = 0 if sh is None else sh.n_bars
            return self.result(policy, False, None, f"pending: {have} of {need} paper shadow bars", pending=True,
                               n_bars=have, min_shadow_bars=need)
        diff = sh.returns - sh.expected_returns
        te = float(np.std(diff, ddof=1) * math.sqrt(periods_per_year(evidence.frequency))) if sh.n_bars > 1 else 0.0
        return self.result(policy, self.compare(te, policy), te,
                           f"tracking error {te:.3%} a year over {sh.n_bars} shadow bars "
                           f"(cumulative gap {float(np.sum(diff)):+.3%})", n_bars=sh.n_bars)
