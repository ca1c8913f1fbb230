"""The runner's per-bar decisions equal the batch kernel's weights, bit for bit, at bounded cost."""

from __future__ import annotations

import numpy as np
import pytest

import strategies
from harness.paper._decide import History, WindowedDecider
from harness.paper._feed import bars_rows

from ._paper_data import random_bars

CASES = [
    ("sma_crossover", {"fast": 4, "slow": 10}),
    ("sma_reversal", {"fast": 3, "slow": 7}),
    ("donchian_breakout", {"entry": 12, "exit": 5}),
    ("bollinger_reversion", {"window": 9, "n_std": 1.0}),
    ("vol_target_momentum", {"lookback": 15, "vol_window": 6}),
    ("xs_momentum", {"lookback": 20, "skip": 2, "top_k": 1, "rebalance": 5}),
]


def _run(decider, bars):
    hist = History(bars.symbols, bars.frequency)
    rows = []
    for bar in bars_rows(bars):
        hist.append(bar)
        rows.append(np.array(decider.row(hist)))
    return np.vstack(rows)


@pytest.mark.parametrize("name,params", CASES)
@pytest.mark.parametrize("seed", range(3))
def test_runner_weights_equal_batch_weights_bit_for_bit(name, params, seed):
    bars = random_bars(300 + seed, T=400, N=4, missing=0.04)
    strat = strategies.get(name)
    want = strat.target_weights(bars, strat.Params.from_dict(params))
    dec = WindowedDecider(name, params)
    got = _run(dec, bars)
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()  # bit for bit
    assert dec.window_rows < 120  # the cost does not grow with the history


@pytest.mark.parametrize("name,params", [("sma_crossover", {"fast": 4, "slow": 10}),
                                         ("vol_target_momentum", {"lookback": 15, "vol_window": 6}),
                                         ("xs_momentum", {"lookback": 20, "skip": 2, "top_k": 1, "rebalance": 5})])
def test_stateless_kernels_never_fall_back_to_the_full_history(name, params):
    dec = WindowedDecider(name, params)
    _run(dec, random_bars(9, T=300, N=3))
    assert dec.fallbacks == 0


def test_rolling_mean_reanchoring_needs_the_aligned_origin():
    """A trailing window that ignores the origin gives different bits (why the alignment exists)."""
    bars = random_bars(5, T=400, N=1, missing=0)
    strat = strategies.get("sma_crossover")
    p = strat.Params(fast=7, slow=11)
    from strategies.indicators.nb import rolling_mean_1d_nb

    a = bars.close[:, 0]
    full = rolling_mean_1d_nb(a, 11, 11, np.empty(400))
    shifted = rolling_mean_1d_nb(a[3:], 11, 11, np.empty(397))
    assert not np.array_equal(full[3 + 60:], shifted[60:])  # same maths, other anchors, other bits
    dec = WindowedDecider(strat, p)
    got = _run(dec, bars)
    assert got.tobytes() == strat.target_weights(bars, p).tobytes()


def test_mlp_runner_weights_equal_batch_weights():
    bars = random_bars(21, T=300, N=2, missing=0)
    params = {"train_bars": 170, "epochs": 2, "hidden": 4, "lookback": 3}
    strat = strategies.get("mlp")
    want = strat.target_weights(bars, strat.Params.from_dict(params))
    got = _run(WindowedDecider("mlp", params), bars)
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()
