"""A retrain whose trials run on Dask: the exact trial budget, candidates scored on the holdout."""

from __future__ import annotations

import numpy as np
import pytest

from harness.retrain import retrain

from ._helpers import make_spec, store, synthetic


@pytest.mark.slow
def test_a_retrain_on_dask_runs_the_exact_budget_and_scores_its_candidates():
    from distributed import Client, LocalCluster

    bars, _ = synthetic()
    store(bars)
    spec = make_spec(trials=6)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                           silence_logs=40)
    try:
        with Client(cluster) as client:
            res = retrain(spec, reason="manual", registry=None, register=False, audit=False, storage=":memory:",
                          dask=client)
    finally:
        cluster.close()
    assert res.n_trials == 6 and len(res.trial_returns[0]) == 6
    assert res.candidates and all(np.isfinite(c.holdout_returns).all() for c in res.candidates)
