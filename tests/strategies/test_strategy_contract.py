"""Every registered strategy through the shared contract suite, on synthetic and real data."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import strategies
from market_data import samples
from strategies import testing as st

RULE_BASED = [n for n in strategies.available() if getattr(strategies.get(n), "kernel", None) is not None]
TRAINABLE = [n for n in strategies.available() if n not in RULE_BASED]


@functools.cache
def _data(kind: str):
    if kind == "synthetic":
        return st.contract_bars(500, 4, seed=11)
    if kind == "spx":
        return samples.load("SPX")[-1500:]
    if kind == "stocks":  # GOOG listed in 2004: NaN before
        return samples.load_group("stocks")[-2500:]
    raise KeyError(kind)


def test_every_builtin_strategy_is_registered():
    expected = {"sma_crossover", "bollinger_reversion", "donchian_breakout", "vol_target_momentum",
                "xs_momentum", "sma_reversal"}
    assert expected <= set(strategies.available())


@pytest.mark.parametrize("name", strategies.available())
def test_protocol_params_and_toml(name):
    st.check_protocol(name)
    st.check_param_validation(name)
    st.check_toml_round_trip(name)


@pytest.mark.parametrize("kind", ["synthetic", "spx", "stocks"])
@pytest.mark.parametrize("name", RULE_BASED)
def test_rule_based_strategy_passes_contract(name, kind):
    bars = _data(kind)
    st.check_weights(name, bars)
    st.check_kernel(name, bars)
    st.check_no_lookahead(name, bars, cuts=8)
    st.check_activity(name, bars)


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINABLE)
def test_trainable_strategy_passes_contract_on_synthetic_data(name):
    bars = st.contract_bars(700, 3, seed=5)
    st.check_weights(name, bars)
    st.check_no_lookahead(name, bars, cuts=[350, 600, 699])


class TestContractClassOnABuiltin(st.StrategyContract):
    """The pytest class users subclass, exercised on one built-in with custom params."""

    strategy = "donchian_breakout"
    params = {"entry": 30, "exit": 15, "long_short": False}
    cuts = 6


def test_non_default_params_pass_too():
    bars = _data("stocks")
    st.check_strategy("xs_momentum", bars, {"lookback": 120, "skip": 5, "top_k": 1, "long_short": True,
                                            "rebalance": 5}, cuts=6)
    st.check_strategy("vol_target_momentum", bars, {"lookback": 60, "vol_window": 20, "long_only": True,
                                                    "max_leverage": 1.0}, cuts=6)


def test_weights_are_zero_on_missing_bars_and_nonzero_once_listed():
    bars = _data("stocks")
    goog = bars.symbols.index("GOOG")
    listed = np.flatnonzero(np.isfinite(bars.close[:, goog]))[0]
    w = strategies.get("sma_crossover").target_weights(bars, {"fast": 5, "slow": 20})
    assert np.all(w[:listed, goog] == 0.0)
    assert np.any(w[listed:, goog] != 0.0)


@pytest.mark.parametrize("name,grid", [
    ("sma_crossover", [{"fast": f, "slow": s} for f, s in [(5, 20), (10, 50), (20, 100), (3, 7)]]),
    ("xs_momentum", [{"lookback": lb, "skip": 5, "top_k": k, "rebalance": 10} for lb, k in [(60, 1), (120, 2), (20, 3)]]),
])
def test_kernel_runs_in_a_parallel_fused_loop_with_per_thread_scratch(name, grid):
    from numba import njit, prange

    @njit(parallel=True)
    def sweep(kernel, o, h, lo, c, v, P, outs):
        for i in prange(P.shape[0]):
            kernel(o, h, lo, c, v, P[i], outs[i])

    s = strategies.get(name)
    bars = _data("stocks")
    params = [s.Params(**g) for g in grid]
    P = np.stack([p.to_array() for p in params])
    outs = np.full((len(params), *bars.shape), np.nan)
    sweep(s.kernel, bars.open, bars.high, bars.low, bars.close, bars.volume, P, outs)
    for i, p in enumerate(params):
        np.testing.assert_array_equal(outs[i], s.target_weights(bars, p))
