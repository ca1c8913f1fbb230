"""Small bars for the trainable-strategy tests (kept tiny: 2 shared CPU cores)."""

from __future__ import annotations

import numpy as np
import pytest

from market_data import Bars

DAY = 86_400_000_000_000


def random_walk_bars(n_bars: int, n_symbols: int = 1, *, seed: int = 0, ar: float = 0.0,
                     sigma: float = 0.01) -> Bars:
    """OHLCV bars from log returns ``r[t] = ar * r[t-1] + eps`` (``ar < 0``: mean reversion).

    The open of each bar is the previous close, so the next close-to-close return is what a
    position decided at close ``t`` and filled at open ``t+1`` earns.
    """
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, sigma, size=(n_bars, n_symbols))
    r = np.zeros((n_bars, n_symbols))
    for t in range(1, n_bars):
        r[t] = ar * r[t - 1] + eps[t]
    close = 100.0 * np.exp(np.cumsum(r, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    spread = np.abs(rng.normal(0.0, sigma / 2, size=close.shape))
    high = np.maximum(open_, close) * np.exp(spread)
    low = np.minimum(open_, close) * np.exp(-spread)
    volume = rng.lognormal(10.0, 0.3, size=close.shape)
    symbols = tuple(f"S{i}" for i in range(n_symbols))
    return Bars(timestamps=np.arange(n_bars, dtype=np.int64) * DAY + 1_600_000_000 * 10**9 // DAY * DAY,
                symbols=symbols, open=open_, high=high, low=low, close=close, volume=volume)


@pytest.fixture(scope="session")
def make_walk():
    """The :func:`random_walk_bars` factory (test modules cannot import conftest)."""
    return random_walk_bars


@pytest.fixture(scope="session")
def walk_bars() -> Bars:
    """500 bars x 2 symbols of a mildly mean-reverting walk."""
    return random_walk_bars(500, 2, seed=11, ar=-0.2)


@pytest.fixture(scope="session")
def tiny_params():
    from strategies.ml import MLPParams

    return MLPParams(hidden=8, epochs=8, lookback=4, train_bars=250)
