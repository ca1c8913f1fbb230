"""``reality_check``: Hansen's SPA test over the whole search.

``arch.bootstrap.SPA`` (Hansen 2005; White's 2000 reality check with studentised,
consistently re-centred p-values) of **every** trial in ``trial_returns`` against
``trial_benchmark_returns`` (the champion on the trials' bars; by default
``champion_returns``), losses being negative returns, stationary bootstrap with the
block length of :func:`~harness.gate.checks._base.block_length`, ``bootstrap_reps``
resamples, seeded. ``H0``: no trial beats the benchmark. Passes at the consistent
p-value ``<= alpha``. With ``n_trials = 1`` and no ``trial_returns`` the one trial is the
challenger on the evidence bars. ``trial_returns`` must hold every trial run
(``n_trials`` columns): the test is only as honest as the search it sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check, MissingEvidence, block_length

__all__ = ["RealityCheck"]


class RealityCheck(Check):
    name = "reality_check"
    threshold_key = "alpha"
    op = "<="
    requires = ()
    protects = "data snooping: some trial of a large search beats the champion by luck"

    def required_fields(self, evidence: Any) -> tuple[str, ...]:
        return ("trial_returns",) if evidence.n_trials > 1 else ()

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        from arch.bootstrap import SPA

        if evidence.trial_returns is None:
            models = evidence.challenger_returns.reshape(-1, 1)
            bench = evidence.champion_returns
        else:
            models = evidence.trial_returns
            bench = evidence.benchmark_for_trials()
            if bench is None:
                raise MissingEvidence("trial_benchmark_returns",
                                      f"the trials have {models.shape[0]} bars, the evidence {evidence.n_bars}; "
                                      "the champion's returns on the trials' bars are needed")
        k = models.shape[1]
        if k < evidence.n_trials:
            raise MissingEvidence("trial_returns", f"it holds {k} of the n_trials={evidence.n_trials} trials; "
                                  "the SPA test must see every trial the search ran")
        diff = models - bench[:, None]
        # a trial whose return equals the benchmark's plus a constant <= 0 on every bar cannot
        # beat it (arch's SPA would give p = 0 for an all-zero differential)
        dead = (np.ptp(diff, axis=0) == 0) & (diff.mean(axis=0) <= 0)
        reps = int(policy.bootstrap_reps)
        if dead.all():
            return self.result(policy, False, 1.0, f"no trial differs from the benchmark on any bar ({k} trial(s))",
                               n_trial_columns=k, reps=reps)
        models = models[:, ~dead]
        L = block_length(diff[:, ~dead])
        spa = SPA(-bench, -models, block_size=max(1, int(round(L))), reps=reps, bootstrap="stationary",
                  studentize=True, seed=rng)
        spa.compute()
        pv = spa.pvalues
        p = float(pv["consistent"])
        best = int(np.argmax(models.mean(axis=0) - bench.mean()))
        detail = (f"SPA p={p:.4f} (consistent; lower {float(pv['lower']):.4f}, upper {float(pv['upper']):.4f}) "
                  f"over {k} trial(s) vs the benchmark, block {max(1, int(round(L)))}, {reps} reps")
        return self.result(policy, self.compare(p, policy), p, detail, p_lower=float(pv["lower"]),
                           p_upper=float(pv["upper"]), block_length=int(max(1, round(L))), reps=reps,
                           n_trial_columns=k, best_trial=best)
