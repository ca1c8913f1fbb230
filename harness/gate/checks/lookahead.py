"""``lookahead``: the candidate's strategy passes the prefix test on the evidence bars.

Runs :func:`strategies.testing.check_no_lookahead` on ``Evidence.strategy`` (a name or a
strategy object) with ``Evidence.params`` over ``Evidence.bars``: weights computed on a
prefix of the bars must equal those computed on all of them, and scrambling the future
must not change the past. A code change that leaks the future cannot be promoted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check

__all__ = ["Lookahead"]


class Lookahead(Check):
    name = "lookahead"
    threshold_key = None
    op = None
    requires = ("strategy", "bars")
    protects = "a strategy (or a code change to it) whose weights use bars after the decision bar"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        from strategies.testing import ContractError, check_no_lookahead

        try:
            report = check_no_lookahead(evidence.strategy, evidence.bars, evidence.params, seed=int(policy.seed) % 2**32)
        except ContractError as exc:
            return self.result(policy, False, None, str(exc), error=type(exc).__name__)
        return self.result(policy, True, report.n_cuts,
                           f"{report.strategy}: weights unchanged at {report.n_cuts} cuts of {report.n_bars} bars "
                           "(prefix and perturbed future)", n_bars=report.n_bars)
