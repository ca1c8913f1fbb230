"""Optuna trials on Dask (driver-side ask/tell), and studies on PostgreSQL."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest

from harness import optimize
from harness.errors import InputError
from market_data.synthetic import regime_switching

SPACE = {"fast": [3, 30], "slow": [35, 120]}
CV = "walk-forward:train=300,test=100"


@pytest.fixture(scope="module")
def bars():
    b, _ = regime_switching(1200, 1, seed=21)
    return b


def _cluster(n: int, processes: bool = True):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                           silence_logs=40)
    return cluster, Client(cluster)


def _trials(res):
    t = res.study.trials
    return [(x.number, x.state.name, x.params, x.values) for x in t]


@pytest.mark.slow
def test_a_dask_study_is_exact_in_budget_and_the_same_across_worker_counts(bars, tmp_path):
    out = []
    for n in (1, 2):
        cluster, client = _cluster(n)
        try:
            res = optimize(bars, "sma_crossover", n_trials=10, cv=CV, seed=5, search_space=SPACE, progress=False,
                           storage=f"sqlite:///{tmp_path}/s{n}.db", study_name="dask-study", dask=client,
                           batch_size=4)
        finally:
            client.close()
            cluster.close()
        assert len(res.study.trials) == 10  # exactly the budget
        assert not [t for t in res.study.trials if t.state == optuna.trial.TrialState.RUNNING]
        out.append(res)
    assert _trials(out[0]) == _trials(out[1])
    assert out[0].best_params == out[1].best_params
    for k in out[0].oos_returns:
        assert np.array_equal(out[0].oos_returns[k], out[1].oos_returns[k], equal_nan=True)


@pytest.mark.slow
def test_batch_size_one_on_dask_equals_the_in_process_study_without_pruning(bars):
    cluster, client = _cluster(1, processes=False)
    try:
        remote = optimize(bars, "sma_crossover", n_trials=6, cv=CV, seed=9, search_space=SPACE, progress=False,
                          storage=":memory:", dask=client, batch_size=1)
    finally:
        client.close()
        cluster.close()
    local = optimize(bars, "sma_crossover", n_trials=6, cv=CV, seed=9, search_space=SPACE, progress=False,
                     storage=":memory:", pruner=optuna.pruners.NopPruner())
    assert _trials(remote) == _trials(local)
    assert [t.user_attrs.get("fold_values") for t in remote.study.trials] == \
        [t.user_attrs.get("fold_values") for t in local.study.trials]


@pytest.mark.slow
def test_a_failed_task_is_told_fail_and_nothing_stays_running(bars, monkeypatch):
    from harness.optimize import _dask

    original = _dask._score_on_worker

    def flaky(evaluator, params, objectives, cv, seed):
        if params["fast"] % 2 == 0:
            raise RuntimeError("worker lost")
        return original(evaluator, params, objectives, cv, seed)

    monkeypatch.setattr(_dask, "_score_on_worker", flaky)
    cluster, client = _cluster(1, processes=False)  # threads: the patched function runs in the workers
    try:
        res = optimize(bars, "sma_crossover", n_trials=8, cv=CV, seed=3, search_space=SPACE, progress=False,
                       storage=":memory:", dask=client, batch_size=3)
    finally:
        client.close()
        cluster.close()
    states = {t.state for t in res.study.trials}
    assert len(res.study.trials) == 8 and optuna.trial.TrialState.RUNNING not in states
    failed = [t for t in res.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("worker lost" in t.user_attrs["error"] for t in failed)
    assert all(t.params["fast"] % 2 == 0 for t in failed)


@pytest.mark.slow
def test_running_trials_of_a_crashed_driver_are_failed_when_the_study_resumes(bars, tmp_path):
    url = f"sqlite:///{tmp_path}/crash.db"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="resume", storage=storage, direction="maximize")
    ghost = study.ask()  # a trial the dead driver had in flight
    storage.record_heartbeat(ghost._trial_id)
    time.sleep(2.5)  # its heartbeat is now older than the grace period
    cluster, client = _cluster(1, processes=False)
    try:
        res = optimize(bars, "sma_crossover", n_trials=3, cv=CV, seed=1, search_space=SPACE, progress=False,
                       storage=storage, study_name="resume", dask=client)
    finally:
        client.close()
        cluster.close()
    states = [t.state for t in res.study.trials]
    assert states[0] == optuna.trial.TrialState.FAIL
    assert optuna.trial.TrialState.RUNNING not in states and len(states) == 4


def test_a_bad_batch_size_is_a_clear_error(bars):
    with pytest.raises(InputError, match="batch_size"):
        optimize(bars, "sma_crossover", n_trials=2, cv=CV, seed=1, search_space=SPACE, progress=False,
                 storage=":memory:", dask="local:1", batch_size=0)


@pytest.mark.slow
def test_a_study_on_postgresql_equals_the_same_study_on_sqlite(bars, pg_database, tmp_path):
    kw = dict(n_trials=8, cv=CV, seed=4, search_space=SPACE, progress=False, study_name="pg-vs-sqlite")
    on_pg = optimize(bars, "sma_crossover", storage=pg_database, **kw)
    on_sqlite = optimize(bars, "sma_crossover", storage=f"sqlite:///{tmp_path}/s.db", **kw)
    assert _trials(on_pg) == _trials(on_sqlite)
    again = optimize(bars, "sma_crossover", storage=pg_database, **{**kw, "n_trials": 2})  # resumes
    assert len(again.study.trials) == 10


@pytest.mark.slow
def test_a_dask_study_on_postgresql(bars, pg_database):
    cluster, client = _cluster(2)
    try:
        res = optimize(bars, "sma_crossover", n_trials=6, cv=CV, seed=2, search_space=SPACE, progress=False,
                       storage=pg_database, study_name="pg-dask", dask=client, batch_size=3)
    finally:
        client.close()
        cluster.close()
    loaded = optuna.load_study(study_name="pg-dask", storage=pg_database)
    assert len(loaded.trials) == 6 and len(res.study.trials) == 6
    assert [t.params for t in loaded.trials] == [t.params for t in res.study.trials]
    assert [t.state.name for t in loaded.trials].count("COMPLETE") + \
        [t.state.name for t in loaded.trials].count("PRUNED") == 6
