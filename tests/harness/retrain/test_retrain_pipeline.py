"""The retrain pipeline without a registry: determinism, the trigger-bar boundary, paired evidence."""

from __future__ import annotations

import numpy as np
import pytest

from harness.engine import backtest
from harness.retrain import Champion, retrain

from ._helpers import make_spec, store, synthetic


def _run(spec, **kw):
    kw.setdefault("storage", ":memory:")
    return retrain(spec, reason="manual", registry=None, register=False, audit=False, **kw)


@pytest.fixture
def stored():
    bars, _ = synthetic()
    store(bars)
    return bars


def test_same_snapshot_spec_and_seed_give_identical_candidates_and_evidence(stored):
    spec = make_spec(trials=10)
    a, b = _run(spec), _run(spec)
    assert [c.params for c in a.candidates] == [c.params for c in b.candidates]
    assert [c.value for c in a.candidates] == [c.value for c in b.candidates]
    for name, arr in a.arrays().items():
        assert np.array_equal(arr, b.arrays()[name]), name  # bit for bit
    assert a.summary()["candidates"] == b.summary()["candidates"] and a.n_trials == b.n_trials == 10


def test_bars_appended_after_the_trigger_give_identical_candidates(stored):
    spec = make_spec(trials=6)
    trigger = {"timestamp": int(stored.timestamps[1500])}
    before = _run(spec, trigger=trigger)
    from harness._bars import home_store

    extra, _ = synthetic(2100)
    home_store().write(extra[1800:], message="later bars")
    after = _run(spec, trigger=trigger)
    assert before.snapshot_id != after.snapshot_id
    assert before.window.describe() == after.window.describe() and before.data_digest == after.data_digest
    for name, arr in before.arrays().items():
        assert np.array_equal(arr, after.arrays()[name]), name


def test_the_evidence_is_paired_on_the_holdout_and_covers_every_trial(stored):
    spec = make_spec(trials=8)
    res = _run(spec)
    h = res.window.holdout
    assert res.champion.name == "buy_and_hold" and res.champion_returns.shape == (h,)
    assert all(c.holdout_returns.shape == (h,) for c in res.candidates) and len(res.candidates) == 2
    np.testing.assert_array_equal(res.holdout_times, res.window.bars.timestamps[-h:])
    assert res.trial_returns.shape == (res.trial_fold_ids.size, 8) == (res.trial_benchmark_returns.size, 8)
    assert res.holdout_times[0] > res.trial_times[-1]  # no trial saw a holdout bar
    assert sorted(set(res.trial_fold_ids.tolist())) == list(range(res.stats["n_folds"]))
    # the best candidate is the study's best trial and its OOS column is in the matrix
    best = res.candidates[0]
    assert best.trial == res.study.best_trial
    np.testing.assert_array_equal(res.trial_returns[:, res.trial_numbers.index(best.trial)],
                                  res.study.oos_returns[best.trial])


class _Deployed:
    """A stand-in for the registry's DeployedStrategy: fixed params of a rule-based strategy."""

    def __init__(self, params):
        import strategies

        self.strategy = strategies.get("sma_crossover")
        self.params = self.strategy.Params.from_dict(params)
        self.version = None

    def target_weights(self, bars):
        return self.strategy.target_weights(bars, self.params)


def test_the_champions_holdout_returns_equal_a_backtest_of_its_weights(stored, monkeypatch):
    from harness.retrain import _retrain

    champ = Champion(kind="version", name="v1", deployed=_Deployed({"fast": 10, "slow": 60}))
    monkeypatch.setattr(_retrain, "champion_of", lambda registry, name, baseline: champ)
    spec = make_spec(trials=5)
    res = _run(spec)
    w = res.window
    a = w.holdout_start
    warm = 60
    block = w.bars[a - 1 - warm:]  # the warmup bars, the decision bar before the holdout, the holdout
    weights = champ.deployed.target_weights(block)[warm:]
    bt = backtest(w.bars[a - 1:], weights=weights, config=spec.costs)
    eq = bt.equity.to_numpy()
    np.testing.assert_allclose(res.champion_returns, eq[1:] / eq[:-1] - 1.0, rtol=0, atol=1e-12)
    assert bt.positions.to_numpy()[0].sum() == 0  # the block starts flat
    # and on the trials' bars, fold by fold, the same convention
    from harness.optimize import FoldEvaluator

    ev = FoldEvaluator(w.train_bars, champ.deployed.strategy, spec.cv.splitter(), spec.costs)
    expect = np.concatenate([ev.fold_returns(k, champ.deployed.params) for k in range(ev.n_folds)])
    np.testing.assert_array_equal(res.trial_benchmark_returns, expect)
    # warm start: the champion's params were the first trial
    assert res.study.study.trials[0].params == {"fast": 10, "slow": 60}


def test_a_champion_equal_to_the_best_candidate_is_no_change(stored, monkeypatch):
    from harness.retrain import _retrain

    spec = make_spec(trials=6)
    best = _run(spec).candidates[0].params
    champ = Champion(kind="version", name="v1", deployed=_Deployed(best))
    monkeypatch.setattr(_retrain, "champion_of", lambda registry, name, baseline: champ)
    res = _run(spec)
    assert res.outcome == "no_change" and res.challenger is None


def test_a_timeout_uses_the_trials_that_finished_and_says_so(stored):
    from harness.deploy import loads_deployment

    from ._helpers import spec_text

    spec = loads_deployment(spec_text(trials=100_000).replace("top_k = 2", "top_k = 2\ntimeout = 1"),
                            source="t")
    res = _run(spec)
    assert res.timed_out and 1 <= res.stats["n_trials_in_study"] < 100_000
    assert res.n_trials == res.trial_returns.shape[1] and res.candidates


def test_trials_are_honoured_exactly(stored):
    res = _run(make_spec(trials=3))
    assert not res.timed_out and res.stats["n_trials_in_study"] == 3 and res.n_trials == 3


def test_cpcv_evidence_has_group_fold_ids_and_the_champion_on_the_same_paths(stored):
    from harness.deploy import loads_deployment

    from ._helpers import spec_text

    text = spec_text(trials=4).replace('scheme = "walk-forward"\ntrain = 300\ntest = 100',
                                       'scheme = "cpcv"\nn_groups = 4\nn_test_groups = 2\nembargo = 5')
    res = _run(loads_deployment(text, source="t"))
    n = res.window.train_bars.n_bars
    assert res.trial_returns.shape == (n, 4) and res.trial_benchmark_returns.shape == (n,)
    assert res.trial_fold_ids.tolist() == sorted(res.trial_fold_ids.tolist()) and set(res.trial_fold_ids) == {0, 1, 2, 3}
    np.testing.assert_array_equal(res.trial_times, res.window.train_bars.timestamps)
