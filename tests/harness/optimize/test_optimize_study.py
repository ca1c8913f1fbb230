"""optimize(): out-of-sample fold scoring, persistence and resume, seeds, warm start,
multi-objective Pareto fronts, pruning, trainable strategies, and the PBO/DSR helpers.

The tests that take the ``on`` fixture run twice: on the embedded default (in-process
trials, the study in memory or in the home's SQLite file) and on Dask + PostgreSQL (the
driver's ask/tell over a two-worker ``LocalCluster``, the study in a fresh PostgreSQL
database). The cluster's workers are threads: the test strategies here are registered
in this process only, which worker processes could not import (the process-worker path,
pickling included, is covered by ``test_optimize_dask.py`` with built-in strategies).
Under ``CI=true`` a missing PostgreSQL fails these tests (``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import strategies
from harness.engine import BacktestConfig, backtest
from harness.errors import ConfigError, InputError
from harness.optimize import FoldEvaluator, optimize
from harness.optimize._folds import metric_of_returns
from harness.validation import PurgedKFold, WalkForward, deflated_sharpe_ratio, pbo
from market_data.frequency import periods_per_year
from market_data.synthetic import regime_switching

_spec = importlib.util.spec_from_file_location("_momentum_strategy", Path(__file__).with_name("_momentum_strategy.py"))
momentum = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = momentum
_spec.loader.exec_module(momentum)


@pytest.fixture(autouse=True)
def _registered():
    strategies.register(momentum, replace=True)
    yield
    strategies.unregister(momentum.name)


@pytest.fixture(scope="module")
def bars():
    return regime_switching(900, 2, seed=4)[0]


CV = "walk-forward:train=200,test=140"


@pytest.fixture(params=["embedded", "dask+postgresql"])
def on(request):
    """Where the study runs: ``{}`` (the embedded default) or Dask's client and a PostgreSQL URL."""
    if request.param == "embedded":
        return {}
    return {"storage": request.getfixturevalue("pg_database"),
            "dask": request.getfixturevalue("dask_threads_client")}


def _mem(on: dict) -> dict:
    """``on``, with the study in memory where it is embedded (as these tests ran before)."""
    return {"storage": ":memory:", **on}


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_fold_returns_equal_engine_backtest_of_the_test_rows(bars, fill):
    config = BacktestConfig(fee_rate=0.001, slippage_bps=3, fill=fill)
    params = momentum.Params(lookback=7, threshold=0.001)
    ev = FoldEvaluator(bars, momentum, PurgedKFold(4), config)
    full_w = momentum.target_weights(bars, params)  # the strategy has no look-ahead
    for k, (_, test) in enumerate(ev.folds):
        a, b = int(test[0]), int(test[-1]) + 1
        start = a - 1 if fill == "next_open" and a > 0 else a
        res = backtest(bars[start:b], weights=full_w[start:b], config=config)
        eq = np.concatenate(([config.init_cash], res.equity_values))
        expected = (eq[1:] / eq[:-1] - 1.0)[a - start:]  # drop the flat bar before the test block
        got = ev.fold_returns(k, params)
        assert got.shape == (b - a,)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)


def test_trial_value_is_the_objective_of_concatenated_oos_returns(bars, on):
    res = optimize(bars, "test_momentum", n_trials=6, cv=CV, seed=1, progress=False, **_mem(on))
    ppy = periods_per_year(bars.frequency)
    ev = FoldEvaluator(bars, momentum, WalkForward(200, 140), BacktestConfig())
    t = res.study.best_trial
    params = momentum.Params.from_dict(t.params)
    folds = [ev.fold_returns(k, params) for k in range(ev.n_folds)]
    np.testing.assert_array_equal(res.oos_returns[t.number], np.concatenate(folds))
    assert t.value == pytest.approx(metric_of_returns(np.concatenate(folds), "sharpe", ppy), rel=1e-12)
    assert t.user_attrs["fold_values"][0][0] == pytest.approx(metric_of_returns(folds[0], "sharpe", ppy))
    # reported once per fold for pruners in process; on Dask every trial runs every fold, unpruned, unreported
    assert len(t.intermediate_values) == (0 if "dask" in on else ev.n_folds)
    assert res.best_params == t.params and res.best_trial == t.number
    assert (res.lineage["dask"] is not None) == ("dask" in on)  # the backend under test ran the trials
    assert res.lineage["storage"].startswith("postgresql") == ("dask" in on), res.lineage["storage"]
    assert res.oos_returns[t.number].size == 900 - 200


def test_same_seed_gives_the_same_study(bars, on):
    runs = [optimize(bars, "test_momentum", n_trials=8, cv=CV, seed=7, progress=False, study_name=f"seed-{k}",
                     **_mem(on)) for k in range(2)]
    a, b = (r.trials[["number", "value", "params_lookback", "params_threshold", "state"]] for r in runs)
    assert a.equals(b)


def test_study_persists_in_home_and_resumes_by_name(bars, harness_home, on):
    first = optimize(bars, "test_momentum", n_trials=4, cv=CV, study_name="resume-me", seed=2, progress=False, **on)
    assert (harness_home / "optuna.db").exists() == ("storage" not in on)  # the home's file, or PostgreSQL
    second = optimize(bars, "test_momentum", n_trials=3, cv=CV, study_name="resume-me", seed=2, progress=False,
                      **on)
    assert len(second.trials) == 7
    assert set(first.oos_returns) <= set(second.oos_returns)  # earlier trials' OOS returns reloaded
    for n, r in first.oos_returns.items():
        np.testing.assert_array_equal(second.oos_returns[n], r)
    assert second.lineage["data_digest"] == bars.digest() and second.lineage["cv"] == WalkForward(200, 140).spec()


def test_resuming_a_study_on_other_data_is_refused(bars, on):
    optimize(bars, "test_momentum", n_trials=1, cv=CV, study_name="pinned", progress=False, **on)
    with pytest.raises(ConfigError, match="data_digest"):
        optimize(bars[:800], "test_momentum", n_trials=1, cv=CV, study_name="pinned", progress=False, **on)


def test_warm_start_params_are_evaluated_first(bars, on):
    res = optimize(bars, "test_momentum", n_trials=3, cv=CV, seed=0, progress=False,
                   warm_start={"lookback": 33, "threshold": 0.01}, **_mem(on))
    first = res.study.trials[0]
    assert first.params == {"lookback": 33, "threshold": 0.01}


def test_multi_objective_returns_the_pareto_front(bars, on):
    res = optimize(bars, "test_momentum", n_trials=10, cv=CV, seed=3, progress=False,
                   objective=("sharpe", "max_drawdown"), **_mem(on))
    assert res.pareto
    values = np.array([t.values for t in res.study.trials if t.values is not None])
    for p in res.pareto:
        v = np.array(p["values"])
        dominated = np.any(np.all(values >= v, axis=1) & np.any(values > v, axis=1))
        assert not dominated
    assert res.best_params == res.pareto[0]["params"]


def test_invalid_parameter_sets_are_pruned_with_the_reason(bars, on):
    res = optimize(bars, "test_momentum", n_trials=8, cv=CV, seed=5, progress=False,
                   search_space={"cap": 20, "lookback": [1, 60]}, **_mem(on))
    invalid = [t for t in res.study.trials if "invalid" in t.user_attrs]
    assert invalid and all("lookback" in t.user_attrs["invalid"] for t in invalid)
    assert all(t.params["lookback"] > 20 for t in invalid)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"objective": "sharp"}, InputError, "did you mean 'sharpe'"),
    ({"search_space": {"lookbak": [1, 5]}}, InputError, "did you mean 'lookback'"),
    ({"cv": "walk-forward:train=5000,test=100"}, InputError, "no fold"),
    ({"study_name": "../escape"}, InputError, "study name"),
])
def test_bad_arguments_are_refused_with_the_argument_named(bars, kwargs, error, match, on):
    with pytest.raises(error, match=match):
        optimize(bars, "test_momentum", n_trials=1, progress=False, **kwargs, **_mem(on))


def test_pbo_and_deflated_sharpe_helpers_use_every_complete_trial(bars, on):
    res = optimize(bars, "test_momentum", n_trials=12, cv=CV, seed=11, progress=False,
                   pruner=__import__("optuna").pruners.NopPruner(), **_mem(on))
    mat, numbers = res.returns_matrix()
    assert mat.shape == (700, 12) and numbers == list(range(12))
    assert res.pbo(n_blocks=8).pbo == pbo(mat, n_blocks=8).pbo
    sharpes = [np.mean(mat[:, j]) / np.std(mat[:, j], ddof=1) for j in range(12)]
    assert res.deflated_sharpe() == pytest.approx(
        deflated_sharpe_ratio(res.best_returns(), sharpes), rel=1e-9)


class _TrainedSign:
    """Fitted model of the trainable test strategy: long when the training drift was positive."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def target_weights(self, bars):
        return np.full(bars.shape, self.weight / bars.n_symbols)


class _Trainable:
    name = "test_trainable"
    Params = momentum.Params
    trainable = True
    seen: list = []

    def search_space(self):
        return momentum.Params.search_space()

    def warmup(self, params):
        return 0

    def target_weights(self, bars, params):
        raise AssertionError("a trainable strategy is scored through its fitted model")

    def fit(self, bars, params, seed):
        self.seen.append((int(bars.timestamps[0]), int(bars.timestamps[-1]), seed))
        drift = np.nanmean(np.diff(np.log(bars.close), axis=0))
        return _TrainedSign(1.0 if drift > 0 else 0.0)


def test_trainable_strategy_is_fitted_on_each_training_window_only(bars, on):
    strat = _Trainable()
    strat.seen.clear()
    res = optimize(bars, strat, n_trials=2, cv=CV, seed=9, progress=False, **_mem(on))
    folds = list(WalkForward(200, 140).split(bars))
    assert len(strat.seen) == 2 * len(folds)
    # each fit saw exactly its fold's training window (which ends before the test block), with the study's seed;
    # Dask's workers fit the two trials' folds at the same time, so there the calls agree as a multiset
    want = [(int(bars.timestamps[tr[0]]), int(bars.timestamps[tr[-1]]), 9) for tr, _ in folds * 2]
    assert all(tr[-1] < te[0] for tr, te in folds)
    if "dask" in on:
        assert sorted(strat.seen) == sorted(want)
    else:
        assert strat.seen == want
    assert len(res.oos_returns) == 2


def test_importing_harness_optimize_and_the_cli_does_not_import_optuna():
    code = ("import harness, harness.optimize, harness.validation, harness.experiments, harness.cli, sys; "
            "print('optuna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_harness_optimize_is_callable_even_after_the_subpackage_is_imported(bars):
    import harness
    import harness.optimize as sub

    assert callable(harness.optimize) and callable(sub)
    res = harness.optimize(bars, "test_momentum", n_trials=1, cv=CV, storage=":memory:", progress=False)
    assert len(res.trials) == 1


def test_cpcv_objective_is_the_mean_over_backtest_paths(bars, on):
    from harness.validation import CombinatorialPurgedCV

    cv = CombinatorialPurgedCV(5, 2, embargo=3, label_horizon=1)
    res = optimize(bars, "test_momentum", n_trials=2, cv=cv, seed=4, progress=False, **_mem(on))
    t = res.study.best_trial
    ev = FoldEvaluator(bars, momentum, cv, BacktestConfig())
    parts = [ev.fold_returns(k, momentum.Params.from_dict(t.params)) for k in range(ev.n_folds)]
    paths = cv.assemble_paths(bars.n_bars, parts)
    ppy = periods_per_year(bars.frequency)
    assert t.value == pytest.approx(np.mean([metric_of_returns(p, "sharpe", ppy) for p in paths]), rel=1e-12)
    np.testing.assert_allclose(res.oos_returns[t.number], paths.mean(axis=0), rtol=0, atol=1e-15)
    assert len(t.user_attrs["path_values"]) == cv.n_paths == 4


def test_parallel_trials_score_the_same_as_sequential_ones(bars):
    res = optimize(bars, "test_momentum", n_trials=4, cv=CV, storage=":memory:", seed=0, progress=False, n_jobs=2)
    assert len(res.trials) == 4
    ev = FoldEvaluator(bars, momentum, WalkForward(200, 140), BacktestConfig())
    ppy = periods_per_year(bars.frequency)
    for t in res.study.trials:
        if t.value is not None:
            r = np.concatenate([ev.fold_returns(k, momentum.Params.from_dict(t.params)) for k in range(ev.n_folds)])
            assert t.value == pytest.approx(metric_of_returns(r, "sharpe", ppy), rel=1e-12)
