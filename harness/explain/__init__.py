"""Feature attributions of a strategy (and its fitted model) on out-of-sample folds.

:func:`attributions` measures what a strategy's decisions rest on: permutation importance
for every strategy (bar fields for rule strategies, model features for the ``mlp``) and
integrated gradients for torch models. The retrain pipeline computes them for each
candidate on its holdout blocks; every registered version carries them
(``ModelVersion.attributions``). torch is imported only when integrated gradients run.
"""

from __future__ import annotations

from harness.explain._attributions import (
           BAR_FIELDS,
           FORMAT,
           METHODS,
           Attributions,
           FeatureImportance,
           attributions,
)
from harness.explain._gradients import DEFAULT_STEPS, integrated_gradients
from harness.explain._permutation import permutation_order, permute_log_changes, permute_rows

__all__ = ["attributions", "Attributions", "FeatureImportance", "integrated_gradients", "permute_log_changes",
           "permute_rows", "permutation_order", "BAR_FIELDS", "METHODS", "DEFAULT_STEPS", "FORMAT"]
