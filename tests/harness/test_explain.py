"""Feature attributions (harness.explain): permutation importance for every strategy, integrated
gradients for torch models, their determinism, JSON form and input errors.

The planted cases can fail: a bar field or model feature the strategy never reads must get
exactly 0, and a model that decides from one feature only must rank it first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.engine import BacktestConfig
from harness.errors import InputError
from harness.explain import (
    BAR_FIELDS,
    Attributions,
    attributions,
    integrated_gradients,
    permute_log_changes,
    permute_rows,
)
from market_data import Bars
from strategies.testing import random_walk_bars

CONFIG = BacktestConfig(fee_rate=0.0005)
SMA = {"fast": 2, "slow": 4, "long_short": True}


def walk(n: int, n_symbols: int = 2, **kw) -> Bars:
    """:func:`strategies.testing.random_walk_bars` with two symbols by default."""
    return random_walk_bars(n, n_symbols, **kw)


@pytest.fixture(scope="module")
def trend_bars() -> Bars:
    """Trending bars (returns with autocorrelation 0.5): a fast crossover has an edge on them."""
    return walk(700, 2, seed=0, ar=0.5)


FOLDS = [np.arange(400, 500), np.arange(500, 600), np.arange(600, 700)]


# --------------------------------------------------------------------------- permutations
def test_permuted_log_changes_keep_the_level_continuous_and_the_changes_of_the_fold():
    x = walk(60, 2, seed=1).close
    rows = np.arange(20, 40)
    order = np.random.default_rng(0).permutation(rows.size)
    y = permute_log_changes(x, rows, order)
    np.testing.assert_array_equal(y[:20], x[:20])  # before the fold: untouched
    np.testing.assert_array_equal(y[40:], x[40:])  # after it too
    np.testing.assert_allclose(y[39], x[39], rtol=1e-12)  # the changes sum to the same: the fold ends where it did
    dx, dy = np.diff(np.log(x), axis=0)[19:39], np.diff(np.log(y), axis=0)[19:39]
    np.testing.assert_allclose(dy, dx[order], rtol=1e-9, atol=1e-14)  # jointly across symbols
    assert not np.allclose(y[20:39], x[20:39])


def test_permuted_log_changes_keep_missing_values_and_take_zero_volumes():
    v = np.array([[5.0, np.nan], [0.0, np.nan], [3.0, 7.0], [9.0, 2.0], [0.0, 4.0]])
    y = permute_log_changes(v, np.arange(1, 5), np.array([3, 2, 1, 0]), log1p=True)
    assert np.isnan(y[:2, 1]).all() and np.isfinite(y[2:, 1]).all() and np.isfinite(y[:, 0]).all()
    np.testing.assert_allclose(y[4, 0], v[4, 0], atol=1e-12)
    feats = np.arange(24.0).reshape(4, 2, 3)
    out = permute_rows(feats, np.array([1, 2]), np.array([1, 0]), 2)
    np.testing.assert_array_equal(out[[1, 2], :, 2], feats[[2, 1], :, 2])
    np.testing.assert_array_equal(np.delete(out, 2, axis=2), np.delete(feats, 2, axis=2))


# --------------------------------------------------------------------------- rule strategies
def test_sma_crossover_rests_on_the_close_and_every_field_it_never_reads_gets_exactly_zero(trend_bars):
    a = attributions("sma_crossover", SMA, trend_bars, folds=FOLDS, config=CONFIG, seed=1, n_repeats=3)
    assert a.features == BAR_FIELDS and a.n_folds == 3 and a.integrated_gradients is None
    perm = a.permutation.as_mapping()
    for f in ("open", "high", "low", "volume"):
        assert perm[f] == 0.0 and a.permutation.std[BAR_FIELDS.index(f)] == 0.0, f
        assert all(row[BAR_FIELDS.index(f)] == 0.0 for row in a.permutation.per_fold), f
    assert perm["close"] > 1.0 and a.permutation.ranking()[0] == "close"  # its edge is gone without the closes


def test_donchian_decides_from_the_high_and_low_not_the_volume(trend_bars):
    a = attributions("donchian_breakout", {"entry": 15, "exit": 7}, trend_bars, folds=FOLDS, config=CONFIG,
                     n_repeats=2)
    perm = a.permutation.as_mapping()
    assert perm["volume"] == 0.0 and perm["open"] == 0.0
    assert perm["high"] != 0.0 and perm["low"] != 0.0


def test_the_reference_is_each_folds_metric_on_the_true_bars(trend_bars):
    import strategies
    from harness.optimize import FoldEvaluator
    from harness.optimize._folds import metric_of_returns
    from harness.retrain._retrain import FixedSplit
    from market_data.frequency import periods_per_year

    strat = strategies.get("sma_crossover")
    p = strat.Params.from_dict(SMA)
    a = attributions(strat, p, trend_bars, folds=FOLDS, config=CONFIG, n_repeats=1)
    ev = FoldEvaluator(trend_bars, strat, FixedSplit(np.arange(400), np.arange(400, 700)), CONFIG)
    for k, rows in enumerate(FOLDS):
        r = ev.returns_of(rows, lambda b: strat.target_weights(b, p), strat.warmup(p))
        assert a.reference[k] == metric_of_returns(r, "sharpe", periods_per_year("1d"))


def test_same_seed_same_attributions_bit_for_bit_and_another_seed_other_permutations(trend_bars):
    kw = dict(folds=FOLDS, config=CONFIG, n_repeats=2)
    a = attributions("sma_crossover", SMA, trend_bars, seed=4, **kw)
    b = attributions("sma_crossover", SMA, trend_bars, seed=4, **kw)
    c = attributions("sma_crossover", SMA, trend_bars, seed=5, **kw)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    close = BAR_FIELDS.index("close")
    assert [r[close] for r in a.permutation.per_fold] != [r[close] for r in c.permutation.per_fold]
    assert a.reference == c.reference  # the true data do not depend on the seed


def test_attributions_round_trip_through_strict_json(trend_bars):
    a = attributions("sma_crossover", SMA, trend_bars, folds=FOLDS, config=CONFIG, n_repeats=1, metric="calmar")
    text = json.dumps(a.to_dict(), allow_nan=False)
    back = Attributions.from_dict(json.loads(text))
    assert back.to_dict() == a.to_dict() and back.metric == "calmar" and back.fold_sizes == (100, 100, 100)
    assert [r["feature"] for r in back.rows()] == back.permutation.ranking()
    with pytest.raises(InputError, match="format"):
        Attributions.from_dict({"format": "other"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"folds": []}, "non-empty sequence"),
    ({"folds": np.arange(10)}, "wrap it in a list"),
    ({"folds": [np.arange(5), np.array([], dtype=np.int64)]}, "fold 1 must be a non-empty"),
    ({"folds": [np.arange(690, 705)]}, "fold 0 has row 700, outside the bars' rows 0..699"),
    ({"folds": [np.array([-1, 2])]}, "fold 0 has row -1"),
    ({"folds": [np.array([3, 3])]}, "fold 0 repeats a row"),
    ({"folds": [np.array([1.0, 2.0])]}, "integer row positions"),
    ({"n_repeats": 0}, "n_repeats must be an integer >= 1"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"metric": "sharp"}, "unknown metric 'sharp'; did you mean 'sharpe'"),
    ({"config": {"fee_rate": 0.0}}, "config must be a BacktestConfig"),
])
def test_bad_input_is_refused_with_a_message_naming_it(trend_bars, kwargs, message):
    kw = {"folds": FOLDS, "config": CONFIG, **kwargs}
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        attributions("sma_crossover", SMA, trend_bars, **kw)


# --------------------------------------------------------------------------- torch models
K_FEATURE = 0  # ret_1: on a mean-reverting walk, minus the last return predicts the next one


def one_feature_model(k: int = K_FEATURE, *, lookback: int = 2, seed: int = 0):
    """A hand-built mlp whose output is ``-(standardised feature k at the last bar)``; sized at the
    leverage cap, so the volatility feature never changes a weight: every other feature is unread."""
    from strategies.ml import MLPParams
    from strategies.ml.fitted import FittedModel
    from strategies.ml.nb import N_FEATURES

    p = MLPParams(lookback=lookback, hidden=4, layers=1, threshold=0.0, target_vol=1.0, leverage=0.5)
    w0 = np.zeros((4, lookback * N_FEATURES), dtype=np.float32)
    last = (lookback - 1) * N_FEATURES + k
    w0[0, last], w0[1, last] = -1.0, 1.0  # relu(-x) - relu(x) = -x
    state = {"layers.0.weight": w0, "layers.0.bias": np.zeros(4, np.float32),
             "layers.1.weight": np.array([[1.0, -1.0, 0.0, 0.0]], np.float32),
             "layers.1.bias": np.zeros(1, np.float32)}
    rng = np.random.default_rng(seed)
    return FittedModel(params=p, state=state, x_mean=rng.normal(0, 1e-3, N_FEATURES),
                       x_std=np.full(N_FEATURES, 0.01), y_scale=1.0, seed=seed)


@pytest.fixture(scope="module")
def reverting_bars() -> Bars:
    return walk(700, 2, seed=11, ar=-0.4)


def test_a_model_that_reads_one_feature_ranks_it_first_by_both_methods_and_the_others_get_zero(reverting_bars):
    from strategies.ml import FEATURE_NAMES

    model = one_feature_model()
    a = attributions("mlp", model.params, reverting_bars, folds=FOLDS, config=CONFIG, model=model, n_repeats=3)
    assert a.features == FEATURE_NAMES
    perm, ig = a.permutation.as_mapping(), a.integrated_gradients.as_mapping()
    name = FEATURE_NAMES[K_FEATURE]
    assert a.permutation.ranking()[0] == name and perm[name] > 0.5
    assert a.integrated_gradients.ranking()[0] == name and ig[name] > 0.0
    for f in FEATURE_NAMES:
        if f != name:
            assert perm[f] == 0.0 and ig[f] == 0.0, f
    assert a.steps == 64 and a.integrated_gradients.completeness < 0.1 * ig[name]  # the trapezoid gap is small


def test_the_models_reference_is_what_its_own_target_weights_earn(reverting_bars):
    import strategies
    from harness.optimize import FoldEvaluator
    from harness.optimize._folds import metric_of_returns
    from harness.retrain._retrain import FixedSplit

    model = one_feature_model()
    a = attributions("mlp", model.params, reverting_bars, folds=FOLDS, config=CONFIG, model=model, n_repeats=1)
    ev = FoldEvaluator(reverting_bars, strategies.get("mlp"), FixedSplit(np.arange(400), np.arange(400, 700)), CONFIG)
    for k, rows in enumerate(FOLDS):
        r = ev.returns_of(rows, model.target_weights, model.window)
        assert a.reference[k] == metric_of_returns(r, "sharpe", 252.0)


def test_integrated_gradients_of_a_linear_function_are_exact():
    import torch

    w = torch.tensor([[0.5, -2.0, 3.0]], dtype=torch.float64)
    forward = lambda z: (z @ w.T).squeeze(-1) + 0.25  # noqa: E731
    x = np.array([[1.0, 2.0, -1.0], [0.3, 0.0, 4.0]])
    base = np.array([0.5, 1.0, 0.0])
    attr, gap = integrated_gradients(forward, x, base, steps=3)
    np.testing.assert_allclose(attr, (x - base) * w.numpy(), rtol=0, atol=1e-14)  # IG_i = w_i (x_i - x'_i)
    np.testing.assert_allclose(gap, 0.0, atol=1e-14)


def test_integrated_gradients_are_complete_up_to_a_gap_that_shrinks_with_the_steps():
    from strategies.ml import MLPParams
    from strategies.ml.fitted import FittedModel, expected_shapes
    from strategies.ml.nb import N_FEATURES

    p = MLPParams(lookback=3, hidden=8, layers=2)
    rng = np.random.default_rng(2)
    state = {k: rng.normal(0, 0.5, s).astype(np.float32) for k, s in expected_shapes(p).items()}
    model = FittedModel(params=p, state=state, x_mean=np.zeros(N_FEATURES), x_std=np.ones(N_FEATURES), y_scale=1.0,
                        seed=0)
    net = model.torch_network()
    x = rng.normal(0, 1.5, (50, 3, N_FEATURES))
    # a ReLU network is piecewise linear along the path: the trapezoid rule's gap falls like 1 / steps
    gaps = [np.abs(integrated_gradients(net, x, steps=m)[1]).max() for m in (4, 64, 1024)]
    assert gaps[0] > 4 * gaps[1] > 16 * gaps[2] and gaps[2] < 0.01
    attr, _ = integrated_gradients(net, x, steps=1024)
    import torch

    with torch.no_grad():
        fx = net(torch.from_numpy(x)).numpy()
        f0 = net(torch.zeros((1, 3, N_FEATURES), dtype=torch.float64)).numpy()
    np.testing.assert_allclose(attr.reshape(50, -1).sum(axis=1), fx - f0, atol=0.01)


def test_integrated_gradients_refuse_bad_steps():
    with pytest.raises(InputError, match="steps must be a positive integer"):
        integrated_gradients(lambda z: z.sum(dim=1), np.ones((2, 3)), steps=0)


def test_a_fitted_mlp_gets_both_methods_deterministically(reverting_bars):
    from strategies.ml import MLPParams

    p = MLPParams(hidden=8, epochs=4, lookback=3, train_bars=300, threads=1)
    kw = dict(folds=FOLDS, config=CONFIG, n_repeats=2, seed=3)
    a = attributions("mlp", p, reverting_bars, **kw)  # fitted on the 400 bars before the first fold
    b = attributions("mlp", p, reverting_bars, **kw)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    assert a.integrated_gradients is not None and np.isfinite(a.integrated_gradients.importance).all()


def test_the_public_names_are_pinned_and_importing_them_does_not_import_torch():
    import subprocess
    import sys

    import harness.explain

    assert set(harness.explain.__all__) == {
        "attributions", "Attributions", "FeatureImportance", "integrated_gradients", "permute_log_changes",
        "permute_rows", "permutation_order", "BAR_FIELDS", "METHODS", "DEFAULT_STEPS", "FORMAT"}
    code = "import sys, harness.explain; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
