"""Each check against an independent reference (scipy, arch, hand computations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.gate import Evidence, GatePolicy, Shadow
from harness.gate.checks import check_class


def _run(name, ev, **policy):
    return check_class(name)().evaluate(ev, GatePolicy(**policy))


def test_oos_improvement_p_value_agrees_with_the_asymptotic_test_on_iid_normal_returns():
    """iid normal, long sample: the bootstrap p-value ~ the delta-method (Jobson-Korkie/Memmel) one."""
    rng = np.random.default_rng(5)
    T = 3000
    b = rng.normal(0.0003, 0.01, T)
    a = 0.9 * b + rng.normal(0.0, 0.01 * math.sqrt(1 - 0.81), T) + 0.0004
    res = _run("oos_improvement", Evidence(challenger_returns=a, champion_returns=b), bootstrap_reps=4000)
    sa, sb = a.mean() / a.std(ddof=1), b.mean() / b.std(ddof=1)
    rho = np.corrcoef(a, b)[0, 1]
    var = (2 - 2 * rho + 0.5 * (sa ** 2 + sb ** 2 - 2 * sa * sb * rho ** 2)) / T  # Memmel (2003)
    p_ref = stats.norm.sf((sa - sb) / math.sqrt(var))
    assert abs(res.stats["p_value"] - p_ref) < 0.02, (res.stats["p_value"], p_ref)
    assert math.isclose(res.value, (sa - sb) * math.sqrt(252), rel_tol=1e-9)


def test_oos_improvement_needs_both_the_floor_and_significance():
    rng = np.random.default_rng(1)
    b = rng.normal(0.0002, 0.01, 1000)
    a = b + rng.normal(0.0006, 0.003, 1000)
    res = _run("oos_improvement", Evidence(challenger_returns=a, champion_returns=b))
    assert res.passed and res.stats["p_value"] <= 0.05
    high_floor = _run("oos_improvement", Evidence(challenger_returns=a, champion_returns=b),
                      min_sharpe_gain=res.value + 0.5)
    assert not high_floor.passed and res.stats["p_value"] == high_floor.stats["p_value"]
    assert "below min_sharpe_gain" in high_floor.detail


def test_deflated_sharpe_matches_the_formula_by_hand():
    rng = np.random.default_rng(2)
    T, K = 500, 20
    b = rng.normal(0.0002, 0.01, T)
    trials = b[:, None] + rng.normal(0.0, 0.004, (T, K))
    trials[:, 0] += 0.001
    ev = Evidence(challenger_returns=trials[:, 0], champion_returns=b, n_trials=40, trial_returns=trials)
    res = _run("deflated_sharpe", ev)
    act = trials - b[:, None]
    srs = act.mean(0) / act.std(0, ddof=1)
    V = srs.var(ddof=1)
    g = 0.5772156649015329
    sr0 = math.sqrt(V) * ((1 - g) * stats.norm.ppf(1 - 1 / 40) + g * stats.norm.ppf(1 - 1 / (40 * math.e)))
    x = act[:, 0]
    sr = x.mean() / x.std(ddof=1)
    skew, kurt = stats.skew(x), stats.kurtosis(x, fisher=False)
    z = (sr - sr0) * math.sqrt(T - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)
    assert math.isclose(res.value, stats.norm.cdf(z), rel_tol=1e-9)
    assert res.stats["n_trials"] == 40


def test_deflated_sharpe_with_one_trial_is_psr_against_zero():
    rng = np.random.default_rng(3)
    a = rng.normal(0.001, 0.01, 400)
    res = _run("deflated_sharpe", Evidence(challenger_returns=a, champion_returns=np.zeros(400)))
    from harness.validation import probabilistic_sharpe_ratio

    assert math.isclose(res.value, probabilistic_sharpe_ratio(a, 0.0), rel_tol=1e-12)


def test_deflated_sharpe_needs_the_trial_benchmark_when_trials_ran_on_other_bars():
    rng = np.random.default_rng(4)
    ev = Evidence(challenger_returns=rng.normal(0, 0.01, 100), champion_returns=rng.normal(0, 0.01, 100),
                  n_trials=3, trial_returns=rng.normal(0, 0.01, (150, 3)))
    res = _run("deflated_sharpe", ev)
    assert not res.passed and "trial_benchmark_returns" in res.detail


def test_pbo_is_harness_validation_pbo():
    from harness.validation import pbo

    rng = np.random.default_rng(6)
    trials = rng.normal(0, 0.01, (320, 8))
    ev = Evidence(challenger_returns=trials[:, 0], champion_returns=np.zeros(320), n_trials=8, trial_returns=trials)
    res = _run("pbo", ev)
    assert res.value == pbo(trials, n_blocks=16).pbo
    assert _run("pbo", Evidence(challenger_returns=trials[:, 0], champion_returns=np.zeros(320))).passed


def test_reality_check_is_arch_spa_with_the_gate_seed():
    from arch.bootstrap import SPA

    from harness.gate.checks._base import block_length

    rng = np.random.default_rng(7)
    b = rng.normal(0.0002, 0.01, 400)
    trials = b[:, None] + rng.normal(0.0, 0.004, (400, 6))
    ev = Evidence(challenger_returns=trials[:, 0], champion_returns=b, n_trials=6, trial_returns=trials)
    check = check_class("reality_check")()
    policy = GatePolicy(bootstrap_reps=500)
    res = check.evaluate(ev, policy)
    L = max(1, int(round(block_length(trials - b[:, None]))))
    spa = SPA(-b, -trials, block_size=L, reps=500, seed=check.rng(policy))
    spa.compute()
    assert res.value == float(spa.pvalues["consistent"])


def test_reality_check_finds_a_real_edge_and_refuses_a_partial_search():
    rng = np.random.default_rng(8)
    b = rng.normal(0.0002, 0.01, 500)
    trials = b[:, None] + rng.normal(0.0, 0.004, (500, 5))
    trials[:, 2] += 0.002
    ev = Evidence(challenger_returns=trials[:, 2], champion_returns=b, n_trials=5, trial_returns=trials)
    assert _run("reality_check", ev).passed
    partial = ev.replace(n_trials=9)
    res = _run("reality_check", partial)
    assert not res.passed and "5 of the n_trials=9" in res.detail


def test_fold_stability_counts_positive_folds_by_hand():
    r = np.array([0.01, 0.01, -0.03, 0.0, 0.02, -0.01, 0.005, 0.005])
    folds = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    res = _run("fold_stability", Evidence(challenger_returns=r, champion_returns=np.zeros(8), fold_ids=folds))
    # fold returns: +2.01 %, -3 %, +0.98 %, +1.0025 % -> 3 of 4 positive
    assert res.value == 0.75 and res.passed
    assert not _run("fold_stability", Evidence(challenger_returns=r, champion_returns=np.zeros(8),
                                               fold_ids=folds), min_positive_folds=0.8).passed


def test_risk_limits_compare_the_stats():
    ev = Evidence(challenger_returns=np.full(20, 0.001), champion_returns=np.zeros(20), trades=4,
                  turnover=80.0, exposure=1.5, max_drawdown=0.4)
    assert not _run("min_trades", ev).passed and _run("min_trades", ev, min_trades=4).passed
    assert not _run("max_turnover", ev).passed and _run("max_turnover", ev, max_turnover=100).passed
    assert not _run("max_leverage", ev).passed and _run("max_leverage", ev, max_leverage=2).passed
    assert not _run("max_drawdown", ev).passed and _run("max_drawdown", ev, max_drawdown=0.5).passed


def test_max_drawdown_from_returns_when_the_stat_is_absent():
    r = np.array([0.1, -0.5, 0.2])
    res = _run("max_drawdown", Evidence(challenger_returns=r, champion_returns=np.zeros(3)))
    assert math.isclose(res.value, 0.5) and "compounded" in res.detail and not res.passed


def test_lookahead_catches_a_leaking_strategy(full_evidence):
    import sys
    import types

    import strategies
    from strategies import Params, coerce_params

    mod = types.ModuleType("leaky_gate_test")
    mod.name = "leaky_gate_test"

    class P(Params):
        pass

    mod.Params = P
    mod.search_space = lambda: {}
    mod.warmup = lambda p: 0
    mod.kernel = None

    def target_weights(bars, params=None):
        coerce_params(P, params)
        c = bars.close
        w = np.zeros_like(c)
        w[:-1] = (c[1:] > c[:-1]).astype(float)  # tomorrow's close: a leak
        return w

    mod.target_weights = target_weights
    sys.modules[mod.name] = mod
    strategies.register(mod)
    try:
        res = _run("lookahead", full_evidence.replace(strategy="leaky_gate_test", params={}))
        assert not res.passed and "look-ahead" in res.detail
        assert _run("lookahead", full_evidence).passed
    finally:
        strategies.unregister("leaky_gate_test")
        sys.modules.pop(mod.name, None)


def test_shadow_is_pending_then_decides_on_tracking_error():
    rng = np.random.default_rng(9)
    a = rng.normal(0.001, 0.01, 100)
    ev = Evidence(challenger_returns=a, champion_returns=np.zeros(100))
    res = _run("shadow", ev)
    assert res.pending and not res.passed and "0 of 20" in res.detail
    few = ev.replace(shadow=Shadow(returns=a[:5], expected_returns=a[:5]))
    assert _run("shadow", few).pending
    good = ev.replace(shadow=Shadow(returns=a[:40] + rng.normal(0, 1e-4, 40), expected_returns=a[:40]))
    r = _run("shadow", good)
    assert r.passed and math.isclose(r.value, np.std(good.shadow.returns - a[:40], ddof=1) * math.sqrt(252))
    bad = ev.replace(shadow=Shadow(returns=a[:40] + rng.normal(0, 0.01, 40), expected_returns=a[:40]))
    r = _run("shadow", bad)
    assert not r.passed and not r.pending


@pytest.mark.parametrize("name", ["oos_improvement", "reality_check"])
def test_bootstrapped_p_values_depend_on_the_seed_only_through_the_policy(name):
    rng = np.random.default_rng(10)
    b = rng.normal(0, 0.01, 300)
    ev = Evidence(challenger_returns=b + rng.normal(0.0003, 0.004, 300), champion_returns=b)
    p = [_run(name, ev, seed=s).to_dict()["stats"] for s in (0, 0, 1)]
    assert p[0] == p[1] and p[0] != p[2]
