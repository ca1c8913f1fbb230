"""Random OHLC bars and weights for the engine tests (small, seeded)."""

from __future__ import annotations

import numpy as np

from market_data import Bars

DAY = 86_400_000_000_000


def random_bars(seed: int, T: int = 120, N: int = 3, vol: float = 0.02, frequency: str = "1d") -> Bars:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, vol, (T, N)), axis=0)) * rng.uniform(0.5, 2.0, N)
    open_ = np.empty_like(close)
    open_[0] = close[0] * np.exp(rng.normal(0, vol / 2, N))
    open_[1:] = close[:-1] * np.exp(rng.normal(0, vol / 2, (T - 1, N)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, (T, N))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, (T, N))))
    symbols = tuple(f"S{i}" for i in range(N))
    return Bars(timestamps=np.arange(T, dtype=np.int64) * DAY + 1_600_000_000 * 10**9 // DAY * DAY,
                symbols=symbols, open=open_, high=high, low=low, close=close,
                volume=np.full((T, N), 1e6), frequency=frequency)


def random_weights(seed: int, T: int, N: int, *, change_prob: float = 0.15, gross: float = 1.0,
                   long_only: bool = False) -> np.ndarray:
    """Piecewise-constant targets per symbol, each within ``gross / N`` in size (so the
    combined gross exposure never exceeds ``gross``); unchanged rows are NaN or repeat
    the previous value at random (both mean "no new decision")."""
    rng = np.random.default_rng(seed + 10_000)
    raw = rng.uniform(0 if long_only else -1, 1, (T, N)) * gross / N
    raw[rng.random((T, N)) < 0.2] = 0.0
    change = rng.random((T, N)) < change_prob
    w = np.where(change, raw, np.nan)
    held = w.copy()
    for t in range(1, T):  # forward-fill to know the value in force
        held[t] = np.where(np.isnan(held[t]), held[t - 1], held[t])
    repeat = ~change & (rng.random((T, N)) < 0.5)
    w[repeat] = held[repeat]
    return w


def random_signals(seed: int, T: int, N: int) -> np.ndarray:
    """All-in/all-out style weights from random entry and exit signals (one symbol at 1/N)."""
    rng = np.random.default_rng(seed + 20_000)
    w = np.full((T, N), np.nan)
    entries = rng.random((T, N)) < 0.08
    exits = rng.random((T, N)) < 0.08
    w[exits] = 0.0
    w[entries] = 1.0 / N
    return w


def make_bars(open_, high=None, low=None, close=None, symbols=None, frequency: str = "1d") -> Bars:
    """Bars from explicit price lists (1-D for one symbol); high/low default to max/min(open, close)."""
    o = np.asarray(open_, dtype=float)
    if o.ndim == 1:
        o = o.reshape(-1, 1)
    c = o.copy() if close is None else np.asarray(close, dtype=float).reshape(o.shape)
    h = np.maximum(o, c) if high is None else np.asarray(high, dtype=float).reshape(o.shape)
    lo = np.minimum(o, c) if low is None else np.asarray(low, dtype=float).reshape(o.shape)
    T, N = o.shape
    symbols = symbols or tuple(f"S{i}" for i in range(N))
    return Bars(timestamps=np.arange(T, dtype=np.int64) * DAY, symbols=tuple(symbols), open=o, high=h, low=lo,
                close=c, volume=np.ones((T, N)), frequency=frequency)
