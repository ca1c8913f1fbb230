"""``backtest()`` skips the defensive copy only for a strategy's fresh weights array:
an array the strategy keeps is never clipped in place nor shared with the result."""

from __future__ import annotations

import types

import numpy as np

from harness.engine import BacktestConfig, backtest
from strategies import sma_crossover
from strategies.testing import make_bars


def _bars():
    return make_bars(100 + np.sin(np.arange(120) / 5.0) * 5)


def _holding_strategy(held: np.ndarray) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        name="holds_its_weights", Params=sma_crossover.Params, search_space=sma_crossover.search_space,
        warmup=lambda p: 0, target_weights=lambda bars, params=None: held,
    )


def test_weights_the_strategy_keeps_are_copied_not_clipped_in_place():
    bars = _bars()
    held = np.where(np.arange(120) % 20 < 10, -1.0, 1.0).reshape(-1, 1).copy()  # owns its data
    before = held.copy()
    res = backtest(bars, _holding_strategy(held), config=BacktestConfig(allow_short=False))
    np.testing.assert_array_equal(held, before)  # the strategy's own array is untouched
    assert not np.shares_memory(res.weights, held)
    assert res.weights.min() == 0.0 and res.weights.max() == 1.0  # long-only clipping applied to the copy


def test_fresh_strategy_weights_equal_the_strategy_output():
    bars = _bars()
    res = backtest(bars, "sma_crossover", {"fast": 3, "slow": 8})
    np.testing.assert_array_equal(res.weights, sma_crossover.target_weights(bars, {"fast": 3, "slow": 8}))
    assert res.weights.flags.c_contiguous and res.weights.dtype == np.float64
