"""``pbo``: the search's selection holds up out of sample (CSCV).

The probability of backtest overfitting (Bailey, Borwein, López de Prado & Zhu 2017,
:func:`harness.validation.pbo`) of the study's ``trial_returns``: over every split of
``pbo_blocks`` blocks into halves, how often the in-sample best trial ranks at or below
the out-of-sample median. A search with no real differences between trials gives about
0.5; one whose best trial is genuinely better gives near 0. Passes at ``PBO <= max_pbo``
(default 0.3, see the README). A single trial has no selection to overfit: passed,
value none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check, MissingEvidence

__all__ = ["PBO"]


class PBO(Check):
    name = "pbo"
    threshold_key = "max_pbo"
    op = "<="
    requires = ()
    protects = "a search whose in-sample winner is no better than a random trial out of sample"

    def required_fields(self, evidence: Any) -> tuple[str, ...]:
        return ("trial_returns",) if evidence.n_trials > 1 else ()

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        from harness.validation import pbo

        if evidence.n_trials == 1:
            return self.result(policy, True, None, "one trial: no selection, nothing to overfit", n_trials=1)
        tr = evidence.trial_returns
        if tr.shape[1] < 2:
            raise MissingEvidence("trial_returns", f"n_trials={evidence.n_trials} but only {tr.shape[1]} "
                                  "trial column; PBO needs the returns of at least 2 trials")
        res = pbo(tr, n_blocks=int(policy.pbo_blocks), metric="sharpe")
        detail = (f"PBO {res.pbo:.3f} over {res.n_combinations} CSCV splits of {res.n_blocks} blocks, "
                  f"{tr.shape[1]} trials; P(OOS loss) {res.prob_loss:.3f}")
        return self.result(policy, self.compare(res.pbo, policy), res.pbo, detail,
                           prob_loss=res.prob_loss, degradation_slope=res.degradation_slope,
                           n_combinations=res.n_combinations, n_blocks=res.n_blocks, n_trial_columns=tr.shape[1])
