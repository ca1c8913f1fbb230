"""Each built-in strategy against an independent pandas/Python implementation of its rules."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import strategies
from market_data import samples


@functools.cache
def _stocks():
    return samples.load_group("stocks")[-1800:]  # GOOG listed part-way through


def _close() -> pd.DataFrame:
    return pd.DataFrame(_stocks().close)


def _equal_capital(signal: pd.DataFrame, close: pd.DataFrame) -> np.ndarray:
    listed = close.notna()
    n = listed.sum(axis=1).replace(0, np.nan)
    return (signal.where(listed, 0.0).div(n, axis=0)).fillna(0.0).to_numpy()


def _weights(name: str, **params) -> np.ndarray:
    return strategies.get(name).target_weights(_stocks(), params)


@pytest.mark.parametrize("long_short", [False, True])
def test_sma_crossover_follows_the_state_of_the_two_averages(long_short):
    c = _close()
    fast, slow = c.rolling(10).mean(), c.rolling(40).mean()
    sig = (fast > slow).astype(float) - (long_short * (fast < slow)).astype(float)
    expected = _equal_capital(sig.where(slow.notna() & fast.notna(), 0.0), c)
    np.testing.assert_allclose(_weights("sma_crossover", fast=10, slow=40, long_short=long_short), expected,
                               atol=1e-15)


def test_sma_reversal_reverses_on_strict_crosses_like_backtesting_py():
    c = _close()
    fast, slow = c.rolling(5).mean().to_numpy(), c.rolling(20).mean().to_numpy()
    sig = np.zeros(c.shape)
    for j in range(c.shape[1]):
        pos = 0.0
        for t in range(c.shape[0]):
            ok = t >= 20 and not np.isnan([fast[t, j], slow[t, j], fast[t - 1, j], slow[t - 1, j]]).any()
            if not ok:
                pos = 0.0
            elif fast[t - 1, j] < slow[t - 1, j] and fast[t, j] > slow[t, j]:  # backtesting.lib.crossover
                pos = 1.0
            elif fast[t - 1, j] > slow[t - 1, j] and fast[t, j] < slow[t, j]:
                pos = -1.0
            sig[t, j] = pos
    expected = _equal_capital(pd.DataFrame(sig), c)
    w = _weights("sma_reversal", fast=5, slow=20)
    np.testing.assert_allclose(w, expected, atol=1e-15)
    assert (np.abs(np.diff(np.sign(w[:, 0]))) == 2).sum() > 10  # it really reverses


def test_bollinger_reversion_enters_beyond_the_bands_and_exits_at_the_mean():
    c = _close()
    m, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    z = ((c - m) / sd).to_numpy()
    sig = np.zeros(c.shape)
    for j in range(c.shape[1]):
        pos = 0.0
        for t in range(c.shape[0]):
            if np.isnan(c.iat[t, j]):
                pos = 0.0
            elif not np.isnan(z[t, j]):
                if (pos > 0 and z[t, j] >= -0.5) or (pos < 0 and z[t, j] <= 0.5):
                    pos = 0.0
                if pos == 0.0:
                    pos = 1.0 if z[t, j] < -1.8 else (-1.0 if z[t, j] > 1.8 else 0.0)
            sig[t, j] = pos
    expected = _equal_capital(pd.DataFrame(sig), c)
    np.testing.assert_allclose(_weights("bollinger_reversion", window=20, n_std=1.8, exit_std=0.5), expected,
                               atol=1e-15)


def test_donchian_breakout_uses_the_previous_bars_channels():
    b = _stocks()
    c, h, lo = _close(), pd.DataFrame(b.high), pd.DataFrame(b.low)
    up_in, lo_in = h.rolling(30).max().shift().to_numpy(), lo.rolling(30).min().shift().to_numpy()
    up_out, lo_out = h.rolling(12).max().shift().to_numpy(), lo.rolling(12).min().shift().to_numpy()
    sig = np.zeros(c.shape)
    for j in range(c.shape[1]):
        pos = 0.0
        for t in range(c.shape[0]):
            x = c.iat[t, j]
            if t < 30 or np.isnan(x):
                pos = 0.0
            else:
                if (pos > 0 and x < lo_out[t, j]) or (pos < 0 and x > up_out[t, j]):
                    pos = 0.0
                if pos == 0.0:
                    pos = 1.0 if x > up_in[t, j] else (-1.0 if x < lo_in[t, j] else 0.0)
            sig[t, j] = pos
    expected = _equal_capital(pd.DataFrame(sig), c)
    np.testing.assert_allclose(_weights("donchian_breakout", entry=30, exit=12), expected, atol=1e-15)


@pytest.mark.parametrize("long_only", [False, True])
def test_vol_target_momentum_scales_trend_sign_by_target_over_realised_vol(long_only):
    c = _close()
    vol = c.pct_change(fill_method=None).rolling(40).std() * np.sqrt(252)
    trend = c / c.shift(120) - 1
    size = (0.1 / vol).clip(upper=1.5)
    sig = np.sign(trend).clip(lower=0 if long_only else -1) * size
    sig = sig.where(np.broadcast_to(np.arange(len(c))[:, None] >= 120, c.shape), 0.0).fillna(0.0)
    expected = _equal_capital(sig, c)
    w = _weights("vol_target_momentum", lookback=120, vol_window=40, target_vol=0.1, max_leverage=1.5,
                 long_only=long_only)
    np.testing.assert_allclose(w, expected, rtol=1e-9, atol=1e-12)
    assert np.abs(w).sum(axis=1).max() <= 1.5 + 1e-12


@pytest.mark.parametrize("long_short", [False, True])
def test_xs_momentum_holds_the_top_ranked_symbols_between_rebalances(long_short):
    c = _close()
    lookback, skip, k, every = 100, 10, 1, 15
    score = (c.shift(skip) / c.shift(lookback) - 1).where(c.notna())
    expected = np.zeros(c.shape)
    for t in range(lookback, len(c)):
        if (t - lookback) % every:
            expected[t] = np.where(c.iloc[t].notna(), expected[t - 1], 0.0)
            continue
        s = score.iloc[t].dropna()
        ranked = sorted(range(len(s)), key=lambda i: (s.iloc[i], i))  # ascending, ties by column
        kk = min(k, len(s) // 2) if long_short else min(k, len(s))
        cols = [c.columns.get_loc(s.index[i]) for i in ranked]
        for i in cols[len(cols) - kk:]:
            expected[t, i] = 0.5 / kk if long_short else 1.0 / kk
        if long_short:
            for i in cols[:kk]:
                expected[t, i] = -0.5 / kk
    w = _weights("xs_momentum", lookback=lookback, skip=skip, top_k=k, rebalance=every, long_short=long_short)
    np.testing.assert_allclose(w, expected, atol=1e-15)
    assert (w > 0).sum(axis=1)[lookback:].min() == 1
