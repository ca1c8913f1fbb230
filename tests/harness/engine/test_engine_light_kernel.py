"""``simulate_signals_1_nb`` (one symbol, no stops; compiles in a fraction of ``simulate_nb``'s
time) gives exactly what ``simulate_nb`` gives, and ``simulate_kernel`` picks it only where it applies."""

from __future__ import annotations

import numpy as np
import pytest

from harness.engine import BacktestConfig, backtest, nb, order_dt

from ._engine_data import random_bars, random_weights

_CONFIGS = [
    BacktestConfig(),
    BacktestConfig(fee_rate=0.002, fixed_fee=1.0, slippage_bps=7, size_granularity=1.0),
    BacktestConfig(fill="close", leverage=2.5, rebalance_every=9, init_cash=5_000.0),
    BacktestConfig(fee_rate=0.001, allow_short=False, rebalance_every=4),
]


@pytest.mark.parametrize("cfg", _CONFIGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_light_kernel_is_bit_identical_to_simulate_nb(cfg, seed):
    bars = random_bars(seed, T=700, N=1)
    w = random_weights(seed, 700, 1, gross=2.0 if cfg.leverage > 1 else 1.0)
    if not cfg.allow_short:
        w = np.where(w < 0, 0.0, w)
    p, T = cfg.fill_params(), bars.n_bars
    outs = []
    for fn in (nb.simulate_nb, nb.simulate_signals_1_nb):
        eq, cash, pos, orders = np.empty(T), np.empty(T), np.empty((T, 1)), np.empty(2 * T + 1, dtype=order_dt)
        n = fn(bars.open, bars.high, bars.low, bars.close, w, cfg.fill_at_open, int(cfg.rebalance_every or 0),
               cfg.init_cash, p, eq, cash, pos, orders)
        outs.append((n, eq, cash, pos, orders[:n]))
    (n0, *a), (n1, *b) = outs
    assert n0 == n1 and n0 > 10
    for x, y in zip(a[:3], b[:3], strict=True):  # equity, cash, positions
        assert np.array_equal(x, y, equal_nan=True)
    assert a[3].tobytes() == b[3].tobytes()  # the order records, bit for bit


def test_light_kernel_refuses_stops_and_several_symbols_and_the_chooser_knows():
    stops = BacktestConfig(stop_loss=0.05).fill_params()
    plain = BacktestConfig().fill_params()
    assert nb.simulate_kernel(1, plain) is nb.simulate_signals_1_nb
    assert nb.simulate_kernel(1, stops) is nb.simulate_nb
    assert nb.simulate_kernel(3, plain) is nb.simulate_nb
    bars = random_bars(2, T=50, N=2)
    w = random_weights(2, 50, 2)
    e0 = np.empty(0, dtype=order_dt)
    with pytest.raises(ValueError, match="one symbol without stops"):
        nb.simulate_signals_1_nb(bars.open, bars.high, bars.low, bars.close, w, True, 0, 1e5, plain, np.empty(50),
                                 np.empty(0), np.empty((0, 2)), e0)
    one = random_bars(2, T=50, N=1)
    with pytest.raises(ValueError, match="one symbol without stops"):
        nb.simulate_signals_1_nb(one.open, one.high, one.low, one.close, w[:, :1].copy(), True, 0, 1e5, stops,
                                 np.empty(50), np.empty(0), np.empty((0, 1)), e0)


def test_backtest_keeps_its_weights_read_only_after_running_the_kernel():
    bars = random_bars(3, T=200, N=1)
    res = backtest(bars, weights=random_weights(3, 200, 1)[:, 0], config=BacktestConfig(fee_rate=0.001))
    assert not res.weights.flags.writeable
    assert len(res.cash) == 200  # the lazy re-run goes through the same kernel
    assert not res.weights.flags.writeable
    with pytest.raises(ValueError):
        res.weights[0, 0] = 1.0
