"""Independent cross-checks against vectorbt for stops, trailing stops, gross-exposure limits,
``rebalance_every`` and ``allow_short=False`` (the settings hand-made cases covered alone).

Conventions mapped (vectorbt 1.2):

* ``allow_short=False`` = ``direction="longonly"`` in ``Portfolio.from_orders`` on the same
  target weights: a negative target is flat in both.
* ``rebalance_every=k``: an order for every symbol after each decision bar ``d`` with
  ``d % k == 0`` (filled at the next open) besides the changes: vectorbt gets the target in
  force there as a ``targetpercent`` order.
* Gross limit: targets whose ``sum(|w|)`` exceeds ``leverage`` are scaled down to it when an
  order is placed; vectorbt gets the scaled targets. ``leverage < 1`` is matched this way;
  ``leverage > 1`` (a buy may spend ``cash + (leverage - 1) * equity``) cannot be: vectorbt's
  long buys never spend more cash than there is (no margin account in the open-source
  package), so borrowing has no independent reference here and stays covered by the
  hand-made cases of ``test_engine_fills.py``.
* Stops: ``Portfolio.from_signals`` with ``open/high/low``, entries at the next open
  (signals shifted by one bar, ``price=open``), ``sl_stop`` / ``tp_stop`` / ``sl_trail``,
  stop levels from the entry fill price (``stop_entry_price="fillprice"``) and exits at
  the level or at the open when the open gapped through it (vectorbt's ``StopLimit``).
  One convention differs and cannot be mapped: we check the stops intrabar on the entry
  bar itself (the position exists from its open, so its low/high can hit the levels);
  vectorbt starts checking on the bar after the entry. The comparison therefore flattens
  each entry bar (open = high = low = close), where both conventions agree; entry-bar
  stops are covered by the hand-made cases of ``test_engine_fills.py``. With short entries
  the fills (bar, side, price) are compared but not the equity: our short of weight -1 is
  ``equity / price`` units, vectorbt's ``size=inf`` short is what the cash buys net of fees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from harness.engine import BacktestConfig, backtest

from ._engine_data import random_bars, random_weights

RTOL = 1e-9


def _orders_from_targets(w, cfg, *, rebalance_every=0, leverage=1.0):
    """vectorbt ``targetpercent`` sizes for our order-placement rule (next-open fills)."""
    T, N = w.shape
    target = np.zeros(N)
    size = np.full((T, N), np.nan)
    for d in range(T - 1):
        changed = ~np.isnan(w[d]) & (w[d] != target)
        target = np.where(changed, w[d], target)
        gross = np.abs(target).sum()
        scaled = target * (leverage / gross if gross > leverage else 1.0)
        rebalance = rebalance_every and d % rebalance_every == 0
        for n in range(N):
            if changed[n] or rebalance:
                size[d + 1, n] = scaled[n]
    return size


def _from_orders(bars, size, cfg, direction="both"):
    idx = pd.RangeIndex(bars.shape[0])
    return vbt.Portfolio.from_orders(
        close=pd.DataFrame(bars.close, index=idx), size=pd.DataFrame(size, index=idx),
        price=pd.DataFrame(bars.open, index=idx), size_type="targetpercent", direction=direction,
        fees=cfg.fee_rate, fixed_fees=cfg.fixed_fee, slippage=cfg.slippage_bps / 1e4,
        init_cash=cfg.init_cash, cash_sharing=True, group_by=True, call_seq="auto", freq="1D")


def _same(ours, pf):
    np.testing.assert_allclose(ours.equity.to_numpy(), pf.value().to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(ours.positions.to_numpy(), pf.assets().to_numpy(), rtol=RTOL, atol=1e-9)
    assert len(ours.order_records) == len(pf.orders.records)


@pytest.mark.parametrize("seed", range(6))
def test_long_only_clips_short_targets_like_vectorbt_longonly(seed):
    cfg = BacktestConfig(fee_rate=0.001, slippage_bps=2.0, allow_short=False)
    bars = random_bars(300 + seed, T=160, N=3)
    w = random_weights(seed, *bars.shape)
    assert np.nanmin(w) < 0  # there are short targets to clip
    ours = backtest(bars, weights=w, config=cfg)
    pf = _from_orders(bars, _orders_from_targets(w, cfg), cfg, direction="longonly")
    _same(ours, pf)
    assert (ours.positions.to_numpy() >= 0).all()


@pytest.mark.parametrize("every", [1, 5, 17])
def test_rebalance_every_matches_vectorbt_periodic_target_orders(every):
    cfg = BacktestConfig(fee_rate=0.0005, fixed_fee=0.2, rebalance_every=every)
    for seed in range(4):
        bars = random_bars(400 + seed, T=150, N=3)
        w = random_weights(seed, *bars.shape, change_prob=0.05)
        ours = backtest(bars, weights=w, config=cfg)
        pf = _from_orders(bars, _orders_from_targets(w, cfg, rebalance_every=every), cfg)
        _same(ours, pf)


@pytest.mark.parametrize("leverage", [0.5, 1.0])
def test_gross_exposure_above_the_limit_is_scaled_down_like_prescaled_vectorbt_targets(leverage):
    cfg = BacktestConfig(fee_rate=0.001, leverage=leverage)
    for seed in range(4):
        bars = random_bars(500 + seed, T=150, N=3)
        w = random_weights(seed, *bars.shape, gross=2.5, long_only=True)
        ours = backtest(bars, weights=w, config=cfg)
        pf = _from_orders(bars, _orders_from_targets(w, cfg, leverage=leverage), cfg)
        _same(ours, pf)


def _signals(seed, T, shorts=False):
    rng = np.random.default_rng(seed)
    w = np.full(T, np.nan)
    t = 5
    while t < T - 5:  # an entry, then an exit 10-40 bars later (often preempted by a stop)
        w[t] = -1.0 if shorts and rng.random() < 0.5 else 1.0
        t += int(rng.integers(10, 40))
        if t < T:
            w[t] = 0.0
        t += int(rng.integers(3, 10))
    return w


def _from_signals(bars, w, cfg):
    T = bars.shape[0]
    w = w[:, 0]
    idx = pd.RangeIndex(T)
    entries = np.zeros(T, bool)
    exits = np.zeros(T, bool)
    entries[1:] = w[:-1] == 1.0  # decided at t, filled at the open of t + 1
    exits[1:] = w[:-1] == 0.0
    short_entries = np.zeros(T, bool)
    short_entries[1:] = w[:-1] == -1.0
    col = lambda a: pd.Series(a[:, 0] if a.ndim == 2 else a, index=idx)  # noqa: E731
    kw = {}
    if cfg.stop_loss is not None:
        kw["sl_stop"] = cfg.stop_loss
    if cfg.trailing_stop is not None:
        kw["sl_stop"], kw["sl_trail"] = cfg.trailing_stop, True
    if cfg.take_profit is not None:
        kw["tp_stop"] = cfg.take_profit
    return vbt.Portfolio.from_signals(
        close=col(bars.close), entries=col(entries), exits=col(exits), short_entries=col(short_entries),
        short_exits=col(exits), price=col(bars.open),
        open=col(bars.open), high=col(bars.high), low=col(bars.low), size=np.inf,
        fees=cfg.fee_rate, fixed_fees=cfg.fixed_fee, init_cash=cfg.init_cash, freq="1D",
        stop_entry_price="fillprice", stop_exit_price="stoplimit", **kw)


def _flat_entry_bars(bars, w):
    """``bars`` with every entry bar (the one after a decision to enter) flat at its open."""
    from market_data import Bars

    high, low, close = bars.high.copy(), bars.low.copy(), bars.close.copy()
    entry = np.flatnonzero(np.abs(w[:-1, 0]) == 1.0) + 1
    high[entry] = low[entry] = close[entry] = bars.open[entry]
    return Bars(timestamps=bars.timestamps, symbols=bars.symbols, open=bars.open, high=high, low=low,
                close=close, volume=bars.volume, frequency=bars.frequency)


STOPS = {
    "stop_loss": dict(stop_loss=0.03),
    "take_profit": dict(take_profit=0.04),
    "trailing_stop": dict(trailing_stop=0.04),
    "stop_and_target": dict(stop_loss=0.03, take_profit=0.05),
}


@pytest.mark.parametrize("shorts", [False, True], ids=["long", "long-short"])
@pytest.mark.parametrize("case", sorted(STOPS))
def test_stops_match_vectorbt_from_signals(case, shorts):
    cfg = BacktestConfig(fee_rate=0.001, **STOPS[case])
    n_stopped = 0
    for seed in range(6):
        w = _signals(seed, 250, shorts).reshape(-1, 1)
        bars = _flat_entry_bars(random_bars(600 + seed, T=250, N=1), w)
        ours = backtest(bars, weights=w, config=cfg)
        pf = _from_signals(bars, w, cfg)
        if not shorts:  # a short's size differs (ours: w * equity / price; vectorbt's size=inf:
            # what the cash buys, fees deducted), so with shorts the fills are compared, not equity
            np.testing.assert_allclose(ours.equity.to_numpy(), pf.value().to_numpy(), rtol=RTOL)
        vo = pd.DataFrame(pf.orders.records)
        oo = pd.DataFrame(ours.order_records)
        assert len(oo) == len(vo)
        np.testing.assert_array_equal(oo["idx"], vo["idx"])
        np.testing.assert_array_equal(oo["side"], vo["side"])
        np.testing.assert_allclose(oo["price"], vo["price"], rtol=RTOL)
        n_stopped += int((ours.trades["exit_reason"] != "signal").sum())
    assert n_stopped >= 5  # the stops really fired
