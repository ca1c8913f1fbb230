"""Each strategy's inputs: point-in-time, the mlp's own features, and the quantities its weights follow."""

from __future__ import annotations

import numpy as np
import pytest

import strategies
from strategies.inputs import BASE_INPUT_NAMES, Inputs, base_inputs, compute_inputs
from strategies.testing import contract_bars, make_bars

RULES = ["sma_crossover", "bollinger_reversion", "donchian_breakout", "vol_target_momentum", "xs_momentum",
         "sma_reversal"]
SMALL = {"sma_crossover": {"fast": 5, "slow": 20, "long_short": True}, "sma_reversal": {"fast": 5, "slow": 20},
         "bollinger_reversion": {"window": 15, "n_std": 1.0}, "donchian_breakout": {"entry": 15, "exit": 7},
         "vol_target_momentum": {"lookback": 30, "vol_window": 20}, "xs_momentum": {"lookback": 40, "skip": 5,
                                                                                    "top_k": 1}}


@pytest.fixture(scope="module")
def bars():
    return contract_bars(400, 3, seed=11)


@pytest.mark.parametrize("name", RULES)
def test_rule_strategy_inputs_are_the_common_ones_plus_its_indicators(name, bars):
    inp = compute_inputs(name, bars, SMALL[name])
    assert isinstance(inp, Inputs)
    assert inp.names[: len(BASE_INPUT_NAMES)] == BASE_INPUT_NAMES and len(inp.names) > len(BASE_INPUT_NAMES)
    assert inp.values.shape == bars.shape + (len(inp.names),)
    assert np.isfinite(inp.values[-50:]).all(), "every input exists after the warm-up"


@pytest.mark.parametrize("name", [*RULES, "mlp"])
def test_inputs_at_bar_t_use_bars_up_to_t_only(name, bars):
    params = SMALL.get(name)
    full = compute_inputs(name, bars, params).values
    for k in (61, 150, 333):
        cut = compute_inputs(name, bars[:k], params).values
        np.testing.assert_array_equal(cut, full[:k], err_msg=f"{name}: inputs change when bars after {k} are cut")


def test_mlp_inputs_are_its_training_features(bars):
    from strategies.ml import FEATURE_NAMES, compute_features

    inp = compute_inputs("mlp", bars)
    assert inp.names == FEATURE_NAMES
    np.testing.assert_array_equal(inp.values, compute_features(bars))


def test_common_inputs_are_the_mlp_features_of_the_same_name(bars):
    from strategies.ml import FEATURE_NAMES, compute_features

    feats, inp = compute_features(bars), base_inputs(bars)
    for name in ("ret_1", "vol_20", "volume_z_20"):
        np.testing.assert_array_equal(inp[name], feats[:, :, FEATURE_NAMES.index(name)])
    np.testing.assert_array_equal(inp["log_volume"], np.log1p(bars.volume))


def test_sma_crossover_weight_follows_the_sign_of_the_spread(bars):
    s = strategies.get("sma_crossover")
    one = bars.select(bars.symbols[0])
    p = SMALL["sma_crossover"]
    w = s.target_weights(one, p)[:, 0]
    spread = compute_inputs(s, one, p)["sma_spread"][:, 0]
    after = np.arange(one.shape[0]) >= p["slow"] - 1
    np.testing.assert_array_equal(w[after], np.sign(spread[after]))


def test_bollinger_positions_follow_its_zscore_input(bars):
    s = strategies.get("bollinger_reversion")
    one = bars.select(bars.symbols[1])
    p = s.Params(**SMALL["bollinger_reversion"])
    z = compute_inputs(s, one, p)["zscore"][:, 0]
    pos, expected = 0.0, []
    for t, zt in enumerate(z):  # the documented rule, replayed on the input
        if t < p.window - 1:
            pos = 0.0
        elif zt == zt:
            if (pos > 0 and zt >= -p.exit_std) or (pos < 0 and zt <= p.exit_std):
                pos = 0.0
            if pos == 0.0:
                pos = 1.0 if zt < -p.n_std else (-1.0 if p.long_short and zt > p.n_std else 0.0)
        expected.append(pos)
    np.testing.assert_array_equal(s.target_weights(one, p)[:, 0], expected)
    assert np.abs(expected).sum() > 0


def test_vol_target_weight_is_target_over_its_realised_vol_input(bars):
    s = strategies.get("vol_target_momentum")
    one = bars.select(bars.symbols[2])
    p = s.Params(**SMALL["vol_target_momentum"])
    inp = compute_inputs(s, one, p)
    trend, vol = inp["trend"][:, 0], inp["realised_vol"][:, 0]
    t = np.arange(one.shape[0]) >= max(p.lookback, p.vol_window)
    expected = np.where(t, np.sign(trend) * np.minimum(p.target_vol / vol, p.max_leverage), 0.0)
    expected = np.where(np.isfinite(expected) & np.isfinite(one.close[:, 0]), expected, 0.0)  # no bar: no weight
    assert np.isfinite(vol[t]).mean() > 0.8
    np.testing.assert_array_equal(s.target_weights(one, p)[:, 0], expected)


def test_donchian_entries_follow_its_channel_gap_inputs(bars):
    s = strategies.get("donchian_breakout")
    one = bars.select(bars.symbols[0])
    p = s.Params(**SMALL["donchian_breakout"])
    inp = compute_inputs(s, one, p)
    w = s.target_weights(one, p)[:, 0]
    entries = np.flatnonzero((w[1:] > 0) & (w[:-1] <= 0)) + 1
    assert entries.size and (inp["entry_high_gap"][entries, 0] > 0).all()
    exits = np.flatnonzero((w[1:] == 0) & (w[:-1] > 0)) + 1
    assert (inp["exit_low_gap"][exits, 0] < 0).all()


def test_xs_momentum_holds_the_symbol_with_the_highest_momentum_input(bars):
    s = strategies.get("xs_momentum")
    p = s.Params(**SMALL["xs_momentum"])
    w = s.target_weights(bars, p)
    mom = compute_inputs(s, bars, p)["momentum"]
    checked = 0
    for t in range(p.lookback, bars.shape[0], p.rebalance):
        ranked = np.isfinite(mom[t]) & np.isfinite(bars.close[t])  # the kernel ranks symbols with a bar
        if ranked.any():
            assert w[t, int(np.argmax(np.where(ranked, mom[t], -np.inf)))] > 0
            checked += 1
    assert checked > 5


def test_a_user_strategy_without_inputs_gets_the_common_ones():
    class Plain:
        name = "plain_inputs_test"
        Params = strategies.get("sma_crossover").Params

        def search_space(self):
            return {}

        def warmup(self, params):
            return 0

        def target_weights(self, bars, params=None):
            return np.zeros(bars.shape)

    bars = make_bars(np.linspace(10, 20, 30))
    inp = compute_inputs(Plain(), bars)
    assert inp.names == BASE_INPUT_NAMES


def test_unknown_input_and_bad_bars_are_named(bars):
    from market_data.errors import InputError

    with pytest.raises(InputError, match="no input named 'nope'"):
        compute_inputs("sma_crossover", bars)["nope"]
    with pytest.raises(InputError, match="expect market_data.Bars"):
        compute_inputs("sma_crossover", np.ones((3, 3)))
