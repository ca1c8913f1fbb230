"""``fold_stability``: the challenger makes money in most folds, not in one lucky stretch.

``Evidence.fold_ids`` labels each evidence bar with its block (fold); the check counts
the folds whose compounded challenger return is positive. Passes when that share is
``>= min_positive_folds``. At least two folds are needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.gate.checks._base import Check, MissingEvidence

__all__ = ["FoldStability"]


class FoldStability(Check):
    name = "fold_stability"
    threshold_key = "min_positive_folds"
    op = ">="
    requires = ("fold_ids",)
    protects = "an out-of-sample gain made in one regime or one event and lost everywhere else"

    def compute(self, evidence: Any, policy: Any, rng: np.random.Generator):
        folds = evidence.fold_ids
        labels = np.unique(folds)
        if labels.size < 2:
            raise MissingEvidence("fold_ids", f"it holds {labels.size} fold; fold_stability needs at least 2")
        logr = np.log1p(evidence.challenger_returns)
        per_fold = np.array([np.expm1(logr[folds == f].sum()) for f in labels])
        share = float(np.mean(per_fold > 0))
        return self.result(policy, self.compare(share, policy), share,
                           f"{int(np.sum(per_fold > 0))} of {labels.size} folds positive "
                           f"(worst {per_fold.min():+.2%}, best {per_fold.max():+.2%})",
                           n_folds=int(labels.size), fold_returns=per_fold.tolist())
