"""Property tests (hypothesis) of the simulation and the no-look-ahead guarantee."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.engine import BacktestConfig, backtest
from market_data import Bars

from ._engine_data import random_bars, random_weights

SETTINGS = settings(max_examples=40, deadline=None)

configs = st.builds(
    BacktestConfig,
    fee_rate=st.sampled_from([0.0, 0.0005, 0.003]),
    fixed_fee=st.sampled_from([0.0, 1.0]),
    slippage_bps=st.sampled_from([0.0, 5.0]),
    fill=st.sampled_from(["next_open", "close"]),
    size_granularity=st.sampled_from([None, 1.0]),
    stop_loss=st.sampled_from([None, 0.03]),
    take_profit=st.sampled_from([None, 0.05]),
    trailing_stop=st.sampled_from([None, 0.04]),
    rebalance_every=st.sampled_from([None, 7]),
)


@SETTINGS
@given(seed=st.integers(0, 10_000), cfg=configs, gross=st.sampled_from([0.5, 1.0, 3.0]))
def test_cash_never_negative_without_leverage(seed, cfg, gross):
    bars = random_bars(seed, T=80, N=3)
    res = backtest(bars, weights=random_weights(seed, *bars.shape, gross=gross), config=cfg)
    assert res.cash.min() >= -1e-9 * cfg.init_cash


@SETTINGS
@given(seed=st.integers(0, 10_000), cfg=configs)
def test_equity_is_cash_plus_positions_at_the_close_on_every_bar(seed, cfg):
    bars = random_bars(seed, T=80, N=3)
    res = backtest(bars, weights=random_weights(seed, *bars.shape), config=cfg)
    marked = res.cash.to_numpy() + (res.positions.to_numpy() * bars.close).sum(axis=1)
    np.testing.assert_allclose(res.equity.to_numpy(), marked, rtol=1e-12, atol=1e-9)


@SETTINGS
@given(seed=st.integers(0, 10_000), cfg=configs)
def test_no_trades_means_constant_equity(seed, cfg):
    bars = random_bars(seed, T=60, N=2)
    w = np.where(np.random.default_rng(seed).random(bars.shape) < 0.5, 0.0, np.nan)
    res = backtest(bars, weights=w, config=cfg)
    assert len(res.orders) == 0
    assert (res.equity.to_numpy() == cfg.init_cash).all()


@SETTINGS
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.01, 3.0, 1000.0]), cfg=configs)
def test_scaling_every_price_leaves_returns_unchanged_with_fractional_sizing(seed, scale, cfg):
    cfg = cfg.replace(size_granularity=None, fixed_fee=0.0)
    bars = random_bars(seed, T=80, N=3)
    scaled = Bars(timestamps=bars.timestamps, symbols=bars.symbols, open=bars.open * scale, high=bars.high * scale,
                  low=bars.low * scale, close=bars.close * scale, volume=bars.volume, frequency=bars.frequency)
    w = random_weights(seed, *bars.shape)
    a = backtest(bars, weights=w, config=cfg).equity.to_numpy()
    b = backtest(scaled, weights=w, config=cfg).equity.to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-9)


@SETTINGS
@given(seed=st.integers(0, 10_000), fee=st.sampled_from([0.0005, 0.01]), fixed=st.sampled_from([0.0, 5.0]),
       slip=st.sampled_from([0.0, 10.0]), fill=st.sampled_from(["next_open", "close"]))
def test_costs_only_ever_lower_the_result(seed, fee, fixed, slip, fill):
    # long-only, fractional, no stops: costs cannot change which orders are placed
    bars = random_bars(seed, T=80, N=3)
    w = random_weights(seed, *bars.shape, long_only=True)
    free = backtest(bars, weights=w, config=BacktestConfig(fill=fill)).equity.to_numpy()
    costly = backtest(bars, weights=w, config=BacktestConfig(fill=fill, fee_rate=fee, fixed_fee=fixed,
                                                             slippage_bps=slip)).equity.to_numpy()
    assert (costly <= free * (1 + 1e-12)).all()
    assert costly[-1] < free[-1] or not np.isfinite(w).any()


@SETTINGS
@given(seed=st.integers(0, 10_000), cut=st.integers(0, 58), cfg=configs)
def test_changing_inputs_after_bar_t_never_changes_equity_up_to_t(seed, cut, cfg):
    bars = random_bars(seed, T=60, N=2)
    w = random_weights(seed, *bars.shape)
    rng = np.random.default_rng(seed + 1)
    later = slice(cut + 1, None)

    def perturb(a):
        a = a.copy()
        a[later] *= rng.uniform(0.5, 1.5, a[later].shape)
        return a

    o, c = perturb(bars.open), perturb(bars.close)
    h = np.maximum(perturb(bars.high), np.maximum(o, c))
    lo = np.minimum(perturb(bars.low), np.minimum(o, c))
    other = Bars(timestamps=bars.timestamps, symbols=bars.symbols, open=o, high=h, low=lo, close=c,
                 volume=bars.volume, frequency=bars.frequency)
    w2 = w.copy()
    w2[later] = rng.uniform(-0.5, 0.5, w2[later].shape)
    a = backtest(bars, weights=w, config=cfg)
    b = backtest(other, weights=w2, config=cfg)
    np.testing.assert_array_equal(a.equity.to_numpy()[: cut + 1], b.equity.to_numpy()[: cut + 1])
    np.testing.assert_array_equal(a.positions.to_numpy()[: cut + 1], b.positions.to_numpy()[: cut + 1])
