"""Shared data and the parity assertion of the paper tests."""

from __future__ import annotations

import numpy as np

from harness import BacktestConfig
from market_data import Bars

DAY = 86_400_000_000_000


def random_bars(seed: int, T: int = 160, N: int = 3, missing: float = 0.06) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.006, (T, N)))
    gone = rng.random((T, N)) < missing
    close[gone] = np.nan
    open_[gone] = np.nan
    hi = np.fmax(open_, close) * (1 + rng.uniform(0, 0.02, (T, N)))
    lo = np.fmin(open_, close) * (1 - rng.uniform(0, 0.02, (T, N)))
    syms = tuple(f"S{i}" for i in range(N))
    return Bars(timestamps=(np.arange(T, dtype=np.int64) + 18_000) * DAY, symbols=syms, open=open_, high=hi,
                low=lo, close=close, volume=np.ones((T, N)), frequency="1d")


def random_config(rng) -> BacktestConfig:
    return BacktestConfig(
        fee_rate=float(rng.choice([0.0, 0.001])), fixed_fee=float(rng.choice([0.0, 1.0])),
        slippage_bps=float(rng.choice([0.0, 5.0])), fill=str(rng.choice(["next_open", "close"])),
        size_granularity=None if rng.random() < 0.5 else 1.0, leverage=float(rng.choice([1.0, 2.0])),
        stop_loss=None if rng.random() < 0.4 else 0.04, take_profit=None if rng.random() < 0.6 else 0.08,
        trailing_stop=None if rng.random() < 0.6 else 0.06,
        rebalance_every=None if rng.random() < 0.7 else int(rng.integers(3, 15)),
        allow_short=bool(rng.random() < 0.8))


def random_weights(rng, T, N) -> np.ndarray:
    w = rng.uniform(-0.6, 0.6, (T, N))
    w[rng.random((T, N)) < 0.7] = np.nan  # mostly "no new decision"
    return w


def assert_parity(pr, bt) -> None:
    a, b = pr.orders, bt.orders
    assert len(a) == len(b), f"{len(a)} paper fills, {len(b)} backtest orders"
    assert (a["time"].to_numpy() == b["time"].to_numpy()).all()
    assert (a["symbol"].to_numpy() == b["symbol"].to_numpy()).all()
    assert (a["side"].to_numpy() == b["side"].to_numpy()).all()
    assert (a["reason"].to_numpy() == b["reason"].to_numpy()).all()
    assert (a["idx"].to_numpy() == b["idx"].to_numpy()).all()
    for col in ("size", "price", "fees"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=col)
    assert a["client_order_id"].is_unique or (a["reason"] != "signal").any()
    assert set(a["state"]) <= {"filled"}
    np.testing.assert_allclose(pr.equity.to_numpy(), bt.equity.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(pr.cash.to_numpy(), bt.cash.to_numpy(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(pr.positions.to_numpy(), bt.positions.to_numpy(), rtol=1e-9, atol=1e-12)
    assert (pr.equity.index == bt.equity.index).all()
