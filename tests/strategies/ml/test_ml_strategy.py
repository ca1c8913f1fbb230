"""The registered ``mlp`` strategy: protocol and contract suite, no look-ahead, single-bar inference,
weight mapping (threshold, volatility scaling, leverage cap)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import strategies
from strategies.ml import fit
from strategies.ml.nb import weights_from_scores_nb
from strategies.testing import StrategyContract, check_no_lookahead


class TestMLPContract(StrategyContract):
    strategy = "mlp"
    params = {"epochs": 6, "hidden": 8}


def test_mlp_is_registered_trainable_and_not_a_fusable_kernel():
    s = strategies.get("mlp")
    assert "mlp" in strategies.available()
    assert s.trainable is True and s.kernel is None
    space = s.search_space()
    assert {"lookback", "hidden", "layers", "dropout", "learning_rate", "weight_decay", "epochs",
            "threshold", "model_kind", "train_fraction", "embargo"} <= set(space)
    assert not {"seed", "threads", "train_bars"} & set(space)
    assert s.warmup(s.Params(train_bars=400)) == 400


def test_importing_the_packages_and_the_strategy_does_not_import_torch():
    code = ("import sys, strategies, market_data, strategies.ml, strategies.ml.strategy;"
            "strategies.get('mlp'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _Fitted:
    """A fitted model seen as a strategy, so the shared look-ahead checker can test it."""

    def __init__(self, model):
        self.model = model
        self.name = "mlp_fitted"
        self.Params = strategies.get("mlp").Params

    def search_space(self):
        return {}

    def warmup(self, params):
        return self.model.window - 1

    def target_weights(self, bars, params):
        return self.model.target_weights(bars)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_a_fitted_models_weights_pass_the_prefix_and_perturbation_tests(walk_bars, tiny_params, kind):
    model = fit(walk_bars[:300], tiny_params.replace(model_kind=kind, threshold=0.0), seed=0)
    w = model.target_weights(walk_bars)
    assert np.count_nonzero(w[model.window:]) > 0.9 * w[model.window:].size
    report = check_no_lookahead(_Fitted(model), walk_bars, tiny_params, cuts=10)
    assert report.n_cuts >= 10


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_single_bar_inference_equals_the_batch_weight_at_that_bar(walk_bars, tiny_params, kind):
    model = fit(walk_bars[:300], tiny_params.replace(model_kind=kind, threshold=0.0), seed=4)
    batch = model.target_weights(walk_bars)
    for t in (model.window - 1, 320, 417, walk_bars.n_bars - 1):
        trailing = walk_bars[t + 1 - model.window: t + 1]  # just the bars one inference needs
        assert np.array_equal(model.latest_weights(trailing), batch[t])
        assert np.array_equal(model.latest_weights(walk_bars[: t + 1]), batch[t])
    assert np.all(batch[: model.window - 1] == 0.0)


def test_module_target_weights_fit_on_the_warmup_bars_and_trade_after(walk_bars, tiny_params):
    s = strategies.get("mlp")
    w = s.target_weights(walk_bars, tiny_params)
    warm = s.warmup(tiny_params)
    assert np.all(w[:warm] == 0.0) and np.any(w[warm:] != 0.0)
    model = fit(walk_bars[:warm], tiny_params, seed=tiny_params.seed)
    assert np.array_equal(w[warm:], model.target_weights(walk_bars)[warm:])
    assert np.array_equal(s.target_weights(walk_bars[:warm], tiny_params), np.zeros((warm, 2)))


def _reference_weights(scores, vol, threshold, target_vol, ann, leverage, long_only):
    T, N = scores.shape
    out = np.zeros((T, N))
    for t in range(T):
        for n in range(N):
            s, v = scores[t, n], vol[t, n]
            if math.isnan(s) or math.isnan(v) or abs(s) <= threshold:
                continue
            with np.errstate(over="ignore"):  # a tiny volatility: the size is capped at the leverage
                size = leverage if v * ann <= 0 else min(target_vol / (v * ann), leverage)
            w = math.copysign(size, s) / N
            out[t, n] = 0.0 if long_only and w < 0 else w
    return out


@settings(max_examples=40, deadline=None)
@given(scores=arrays(np.float64, (6, 3), elements=st.one_of(st.floats(-1, 1), st.just(np.nan))),
       vol=arrays(np.float64, (6, 3), elements=st.one_of(st.floats(0, 0.1), st.just(np.nan))),
       threshold=st.floats(0, 0.9), target_vol=st.floats(0.01, 1.0), leverage=st.floats(0, 10),
       long_only=st.booleans())
def test_weights_follow_threshold_volatility_scaling_and_the_leverage_cap(scores, vol, threshold, target_vol,
                                                                         leverage, long_only):
    ann = math.sqrt(252)
    out = np.empty_like(scores)
    weights_from_scores_nb(scores, vol, threshold, target_vol, ann, leverage, long_only, out)
    np.testing.assert_allclose(out, _reference_weights(scores, vol, threshold, target_vol, ann, leverage,
                                                        long_only), rtol=1e-12, atol=0)
    assert np.all(np.abs(out).sum(axis=1) <= leverage * (1 + 1e-12))
    assert np.all(out[np.abs(np.nan_to_num(scores)) <= threshold] == 0.0)


def test_demo_step_fits_saves_and_reloads_the_model_under_the_home(harness_home):
    from harness import config
    from harness._demo import STEPS

    step = dict(STEPS)["trainable strategy (mlp): fit, save, reload"]
    ctx = {"paths": config.paths().ensure()}
    summary = step(ctx)
    assert "reloaded with SHA-256 check" in summary
    assert ctx["mlp_model"] == harness_home / "artifacts" / "mlp-demo"
    assert (ctx["mlp_model"] / "manifest.json").is_file()
