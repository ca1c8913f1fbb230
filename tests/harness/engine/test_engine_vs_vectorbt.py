"""Cross-check of the engine against vectorbt on the same inputs (many seeds).

Mapping of conventions (vectorbt 1.2 ``Portfolio.from_orders``):

* our target weight decided at bar ``t`` with ``fill="next_open"`` is vectorbt's
  ``size`` at ``t + 1`` with ``price=open`` and ``size_type="targetpercent"``; we place
  orders only when the target changes, so vectorbt gets NaN (no order) elsewhere;
* one shared cash account = ``cash_sharing=True, group_by=True``; our "sells first,
  then ascending order value" = ``call_seq="auto"``;
* ``slippage_bps / 1e4`` = vectorbt ``slippage``, ``fee_rate`` = ``fees``,
  ``fixed_fee`` = ``fixed_fees``, ``size_granularity`` = ``size_granularity``;
* our trades are vectorbt's *positions* (flat -> flat); pnl, sizes and indices agree.
  Our entry price is the average over all entries; vectorbt averages its exit trades'
  running entry prices, which differs when a position is added to after a partial
  exit, so entry/exit prices are compared only where a trade has one entry and one exit.

Shorts: vectorbt lets short-sale proceeds fund buys without limit (no ``lock_cash``), as
we do with ``leverage=1`` as long as the gross target stays within 1, which the random
weights respect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from harness.engine import BacktestConfig, backtest

from ._engine_data import random_bars, random_signals, random_weights

RTOL = 1e-9


def _vbt_portfolio(bars, w, cfg: BacktestConfig):
    T, N = bars.shape
    target = np.zeros(N)
    size = np.full((T, N), np.nan)
    for d in range(T):
        for n in range(N):
            if not np.isnan(w[d, n]) and w[d, n] != target[n]:
                target[n] = w[d, n]
                t = d + 1 if cfg.fill == "next_open" else d
                if t < T:
                    size[t, n] = w[d, n]
    price = bars.open if cfg.fill == "next_open" else bars.close
    idx = pd.RangeIndex(T)
    return vbt.Portfolio.from_orders(
        close=pd.DataFrame(bars.close, index=idx), size=pd.DataFrame(size, index=idx),
        price=pd.DataFrame(price, index=idx), size_type="targetpercent", direction="both",
        fees=cfg.fee_rate, fixed_fees=cfg.fixed_fee, slippage=cfg.slippage_bps / 1e4,
        size_granularity=cfg.size_granularity if cfg.size_granularity else np.nan,
        init_cash=cfg.init_cash, cash_sharing=True, group_by=True, call_seq="auto", freq="1D",
    )


def _compare(bars, w, cfg):
    ours = backtest(bars, weights=w, config=cfg)
    pf = _vbt_portfolio(bars, w, cfg)
    np.testing.assert_allclose(ours.equity.to_numpy(), pf.value().to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(ours.cash.to_numpy(), pf.cash().to_numpy(), rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(ours.positions.to_numpy(), pf.assets().to_numpy(), rtol=RTOL, atol=1e-9)

    vo = pd.DataFrame(pf.orders.records).sort_values(["idx", "col"], kind="stable").reset_index(drop=True)
    oo = pd.DataFrame(ours.order_records).sort_values(["idx", "col"], kind="stable").reset_index(drop=True)
    assert len(oo) == len(vo)
    np.testing.assert_array_equal(oo["idx"], vo["idx"])
    np.testing.assert_array_equal(oo["col"], vo["col"])
    np.testing.assert_array_equal(oo["side"], vo["side"])
    for f in ("size", "price", "fees"):
        np.testing.assert_allclose(oo[f], vo[f], rtol=RTOL, err_msg=f)

    vp = pd.DataFrame(pf.positions.records).sort_values(["col", "entry_idx"]).reset_index(drop=True)
    ot = pd.DataFrame(ours.trade_records).sort_values(["col", "entry_idx"]).reset_index(drop=True)
    assert len(ot) == len(vp)
    for f in ("col", "entry_idx", "exit_idx", "direction", "status"):
        np.testing.assert_array_equal(ot[f], vp[f], err_msg=f)
    for f in ("size", "pnl", "entry_fees", "exit_fees"):
        np.testing.assert_allclose(ot[f], vp[f], rtol=RTOL, atol=1e-7, err_msg=f)
    return ours, pf


CASES = {
    "fees_slippage": dict(fee_rate=0.001, slippage_bps=5.0),
    "fixed_fees": dict(fee_rate=0.0005, fixed_fee=1.5),
    "whole_units": dict(fee_rate=0.001, size_granularity=1.0, slippage_bps=2.0),
    "at_close": dict(fee_rate=0.002, fixed_fee=0.5, fill="close"),
    "frictionless": dict(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_equity_orders_and_trades_match_vectorbt_for_random_long_short_weights(case):
    cfg = BacktestConfig(**CASES[case])
    for seed in range(8):
        bars = random_bars(seed, T=150, N=3)
        w = random_weights(seed, *bars.shape)
        _compare(bars, w, cfg)


def test_equity_matches_vectorbt_for_random_entry_exit_signals():
    cfg = BacktestConfig(fee_rate=0.001, slippage_bps=3.0, fixed_fee=0.25)
    for seed in range(8):
        bars = random_bars(100 + seed, T=200, N=4)
        _compare(bars, random_signals(seed, *bars.shape), cfg)


def test_fully_invested_buys_are_cut_to_available_cash_like_vectorbt():
    # weights of exactly 1.0 with fees: the buy cannot afford the full target and is cut
    cfg = BacktestConfig(fee_rate=0.01, fixed_fee=2.0)
    bars = random_bars(7, T=80, N=1)
    w = np.full((80, 1), np.nan)
    w[5::10] = 1.0
    w[10::10] = 0.0
    ours, _ = _compare(bars, w, cfg)
    assert (ours.cash.to_numpy() >= 0).all()


def test_to_vectorbt_reproduces_our_equity_and_trades():
    cfg = BacktestConfig(fee_rate=0.001, slippage_bps=5.0, stop_loss=0.03, take_profit=0.05)
    bars = random_bars(3, T=150, N=3)
    ours = backtest(bars, weights=random_weights(3, *bars.shape), config=cfg)
    pf = ours.to_vectorbt()
    np.testing.assert_allclose(pf.value().to_numpy(), ours.equity.to_numpy(), rtol=RTOL)
    assert len(pf.positions.records) == len(ours.trades)
    np.testing.assert_allclose(np.sort(pf.positions.records["pnl"]), np.sort(ours.trades["pnl"].to_numpy()),
                               rtol=RTOL, atol=1e-7)
