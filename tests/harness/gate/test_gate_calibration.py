"""Fast versions of the calibration in benchmarks/bench_gate.py (fewer seeds).

Each goal is checked with a one-sided binomial tolerance: the observed count of
promotions must not be one that a gate exactly at the goal would reach with less than
1 % probability (``scipy.stats.binom``). With 150 seeds a gate at the no-edge goal of
6.5 % promotes at most 17 (11.3 %) in 99 % of runs; the gate itself promotes about 3 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.gate import GatePolicy, evaluate
from harness.gate._calibration import STATISTICAL_CHECKS, calibrate, simulate


def _at_most(rate_goal: float, n: int) -> int:
    return int(stats.binom.ppf(0.99, n, rate_goal))


def _at_least(rate_goal: float, n: int) -> int:
    return int(stats.binom.ppf(0.01, n, rate_goal))


def test_simulated_cases_have_the_stated_properties():
    ev = simulate("real_edge", 3, n_bars=200_000)
    a, b = ev.challenger_returns, ev.champion_returns
    assert abs(np.corrcoef(a, b)[0, 1] - 0.9) < 0.01
    sr = lambda x: x.mean() / x.std() * math.sqrt(252)  # noqa: E731
    assert abs(sr(b) - 0.5) < 0.1 and abs(sr(a) - sr(b) - 1.0) < 0.1
    assert abs(np.corrcoef(b[1:], b[:-1])[0, 1] - 0.1) < 0.02
    assert stats.kurtosis(b) > 2  # fat tails (Student-t(4) innovations)
    snoop = simulate("snooping", 3)
    assert snoop.n_trials == 100 and snoop.trial_returns.shape == (504, 100)
    np.testing.assert_array_equal(snoop.challenger_returns, snoop.trial_returns[:, snoop.meta["best"]])


def test_same_seed_same_decision_and_p_values():
    policy = GatePolicy(checks=STATISTICAL_CHECKS)
    a = evaluate(simulate("snooping", 11), policy).to_dict()
    b = evaluate(simulate("snooping", 11), policy).to_dict()
    a.pop("time"), b.pop("time")
    assert a == b


@pytest.mark.slow
def test_no_edge_is_rarely_promoted():
    n = 150
    res = calibrate("no_edge", range(10_000, 10_000 + n))
    assert res.promoted <= _at_most(0.05 + 0.015, n), res


@pytest.mark.slow
def test_a_real_edge_is_promoted():
    n = 150
    res = calibrate("real_edge", range(10_000, 10_000 + n))
    assert res.promoted >= _at_least(0.80, n), res


@pytest.mark.slow
def test_snooping_the_best_of_100_is_rarely_promoted():
    n = 60
    res = calibrate("snooping", range(10_000, 10_000 + n), lazy=True)
    assert res.promoted <= _at_most(0.05, n), res
    assert res.peers["naive"] >= n - 1  # what the gate protects against: the best of 100 always "wins"


def test_lazy_calibration_gives_the_full_evaluations_promotions():
    seeds = range(20)
    full = calibrate("zero_gain", seeds)
    lazy = calibrate("zero_gain", seeds, lazy=True)
    assert lazy.promoted == full.promoted and lazy.check_runs["oos_improvement"] == 20
    assert lazy.check_pass["oos_improvement"] == full.check_pass["oos_improvement"]
