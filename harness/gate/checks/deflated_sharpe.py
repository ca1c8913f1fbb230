"""``deflated_sharpe``: the challenger's edge survives the number of trials that were run.

The deflated Sharpe ratio (Bailey & López de Prado 2014, :func:`harness.validation.
deflated_sharpe_ratio`) of the challenger's **active return over the champion**
(``challenger - champion`` per bar: its information ratio; against the ``cash``
baseline this is the challenger's own Sharpe ratio, the classic DSR). ``N`` is
``n_trials``, every trial the search evaluated; ``V`` is the variance of the trials'
active Sharpe ratios (each trial's ``trial_returns`` column minus the trial benchmark),
so the benchmark Sharpe is the expected maximum of ``N`` skill-less trials. With one
trial there is no selection and the DSR is the PSR against 0. Passes at ``DSR >= min_dsr``.

Why the active return: the gate asks whether the challenger is better than the
champion. The active series' Sharpe is measured on the paired bars, so the champion's
own noise (shared with a 0.9-correlated challenger) does not count against it; the
challenger's absolute Sharpe would demand the champion-level evidence twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate import nb
from harness.gate.checks._base import Check, MissingEvidence, annualise

__all__ = ["DeflatedSharpe"]


class DeflatedSharpe(Check):
    name = "deflated_sharpe"
    threshold_key = "min_dsr"
    op = ">="
    requires = ("challenger_returns", "champion_returns")
    protects = "selection bias: the best of many trials looks skilful by chance (and fat tails inflate it)"

    def required_fields(self, evidence: Any) -> tuple[str, ...]:
        return self.requires + (("trial_returns",) if evidence.n_trials > 1 else ())

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        from harness.validation import deflated_sharpe_ratio, expected_max_sharpe, sharpe_stats

        active = evidence.challenger_returns - evidence.champion_returns
        n = evidence.n_trials
        variance = 0.0
        k = 0
        if n > 1:
            bench = evidence.benchmark_for_trials()
            if bench is None:
                raise MissingEvidence("trial_benchmark_returns",
                                      "the trials ran on other bars than the evidence; their champion returns "
                                      "are needed for the trials' active Sharpe ratios")
            srs = nb.sharpe_columns_nb(np.ascontiguousarray(evidence.trial_returns - bench[:, None]))
            srs = srs[np.isfinite(srs)]
            k = int(srs.size)
            if k < 2:
                raise MissingEvidence("trial_returns", f"n_trials={n} needs at least 2 non-constant trial "
                                      f"columns for the variance of the trial Sharpe ratios, got {k}")
            variance = float(np.var(srs, ddof=1))
        dsr = deflated_sharpe_ratio(active, n_trials=n, sr_variance=variance)
        s = sharpe_stats(active)
        sr0 = expected_max_sharpe(n, variance)
        detail = (f"active Sharpe {annualise(s.sr, evidence):.3f} (annualised) vs expected best of {n} "
                  f"skill-less trials {annualise(sr0, evidence):.3f}: DSR {dsr:.4f}")
        if n > 1:
            detail += f" (trial Sharpe variance from {k} trials)"
        return self.result(policy, self.compare(dsr, policy), dsr, detail, n_trials=n, sr_variance=variance,
                           sr=s.sr, sr_benchmark=sr0, skew=s.skew, kurtosis=s.kurtosis, n_trial_columns=k)
