"""The public API: strategies by name/object, params forms, lineage, plot, kernel reuse contracts."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import strategies
from harness.engine import BacktestConfig, FillParams, backtest, nb, order_dt
from market_data.errors import InputError
from strategies.params import ParamError, Params, param

from ._engine_data import make_bars, random_bars, random_weights


class _HoldParams(Params):
    weight: float = param(0.5, low=-1.0, high=1.0, doc="constant target weight")


class _Hold:
    """A tiny strategy object: hold a constant weight in every symbol from bar 0."""

    name = "engine_test_hold"
    Params = _HoldParams

    @staticmethod
    def search_space():
        return _HoldParams.search_space()

    @staticmethod
    def warmup(params):
        return 0

    @staticmethod
    def target_weights(bars, params):
        return np.full(bars.shape, params.weight / bars.n_symbols)


@pytest.fixture
def hold_strategy():
    strategies.register(_Hold, replace=True)
    yield _Hold
    strategies.unregister(_Hold.name)


@pytest.mark.parametrize("params", [None, {"weight": 0.5}, _HoldParams(weight=0.5)])
def test_strategy_by_name_with_default_dict_or_params_instance(hold_strategy, params):
    bars = random_bars(0, T=50, N=2)
    res = backtest(bars, "engine_test_hold", params)
    direct = backtest(bars, weights=np.full(bars.shape, 0.25))
    np.testing.assert_array_equal(res.equity.to_numpy(), direct.equity.to_numpy())
    assert res.lineage["strategy"] == "engine_test_hold"
    assert res.lineage["params"] == {"weight": 0.5}


def test_strategy_object_and_bad_params_are_reported(hold_strategy):
    bars = random_bars(0, T=20, N=1)
    assert backtest(bars, _Hold, {"weight": -0.5}).positions.iloc[-1, 0] < 0
    with pytest.raises(ParamError, match="did you mean 'weight'"):
        backtest(bars, _Hold, {"wieght": 0.5})
    with pytest.raises(ParamError, match="unknown strategy"):
        backtest(bars, "no_such_strategy")
    with pytest.raises(InputError, match="params= needs strategy="):
        backtest(bars, weights=np.zeros(20), params={"weight": 1})


def test_lineage_records_data_strategy_config_and_code_version():
    bars = random_bars(0, T=30, N=1).with_snapshot("snap123")
    cfg = BacktestConfig(fee_rate=0.001)
    lin = backtest(bars, weights=np.zeros(30), config=cfg).lineage
    assert lin["snapshot_id"] == "snap123"
    assert lin["data_digest"] == bars.digest()
    assert lin["config"] == cfg.to_dict()
    assert lin["code_version"].startswith("0.")


def test_plot_has_equity_drawdown_and_trade_markers():
    bars = random_bars(2, T=60, N=2)
    fig = backtest(bars, weights=random_weights(2, *bars.shape)).plot()
    names = {t.name for t in fig.data}
    assert {"equity", "drawdown [%]", "entry", "exit"} <= names


def test_execute_bar_nb_called_bar_by_bar_reproduces_simulate_nb():
    # the paper-trading runner's usage: the same kernel, state carried in plain arrays
    bars = random_bars(4, T=80, N=3)
    w = random_weights(4, *bars.shape)
    cfg = BacktestConfig(fee_rate=0.001, slippage_bps=3, stop_loss=0.03, trailing_stop=0.05)
    ref = backtest(bars, weights=w, config=cfg)
    p = cfg.fill_params()
    N = bars.n_symbols
    cash = np.array([cfg.init_cash])
    pos, entry, extreme, val = np.zeros(N), np.full(N, np.nan), np.full(N, np.nan), np.full(N, np.nan)
    target, place = np.zeros(N), np.zeros(N, dtype=bool)
    orders, n_orders = np.empty(1000, dtype=order_dt), np.zeros(1, np.int64)
    equity = []
    for t in range(bars.n_bars):
        if t > 0:
            d = w[t - 1]
            changed = ~np.isnan(d) & (d != target)
            target[changed] = d[changed]
            place |= changed
        nb.execute_bar_nb(t, bars.open[t], bars.high[t], bars.low[t], bars.close[t], target, place, True, p,
                          cash, pos, entry, extreme, val, orders, n_orders)
        equity.append(nb.portfolio_value_nb(cash[0], pos, val))
    np.testing.assert_array_equal(np.array(equity), ref.equity.to_numpy())
    np.testing.assert_array_equal(orders[: n_orders[0]], ref.order_records)


def test_metrics_only_mode_gives_the_same_equity_without_records():
    bars = random_bars(5, T=100, N=2)
    w = random_weights(5, *bars.shape)
    cfg = BacktestConfig(fee_rate=0.002, take_profit=0.04)
    ref = backtest(bars, weights=w, config=cfg)
    eq = np.empty(bars.n_bars)
    n = nb.simulate_nb(bars.open, bars.high, bars.low, bars.close, w, True, 0, cfg.init_cash, cfg.fill_params(),
                       eq, np.empty(0), np.empty((0, 2)), np.empty(0, dtype=order_dt))
    np.testing.assert_array_equal(eq, ref.equity.to_numpy())
    assert n == len(ref.orders)


def test_fill_params_defaults_switch_everything_off():
    p = FillParams()
    assert np.isnan(p.granularity) and np.isnan(p.stop_loss) and p.leverage == 1.0


def test_harness_exports_backtest_lazily_without_heavy_imports():
    import subprocess

    code = ("import sys, harness; from harness import backtest, BacktestConfig, BacktestResult; "
            "heavy = [m for m in ('torch', 'vectorbt', 'plotly', 'mlflow', 'optuna', 'dask') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("cfg", [
    BacktestConfig(fee_rate=0.001, slippage_bps=2),
    BacktestConfig(fee_rate=0.001, stop_loss=0.02, take_profit=0.03, trailing_stop=0.03, size_granularity=1.0),
    BacktestConfig(fill="close", rebalance_every=5, fixed_fee=1.0),
])
def test_single_symbol_fast_path_equals_the_general_path(cfg):
    # one symbol runs a register-resident loop; a second, never-traded symbol forces the general one
    from market_data import Bars

    two = random_bars(8, T=150, N=2)
    one = two.select(["S0"])
    w = random_weights(8, 150, 1, gross=0.9)
    a = backtest(one, weights=w, config=cfg)
    b = backtest(two, weights=np.column_stack([w[:, 0], np.zeros(150)]), config=cfg)
    assert isinstance(one, Bars) and len(a.orders) > 5
    np.testing.assert_array_equal(a.equity.to_numpy(), b.equity.to_numpy())
    np.testing.assert_array_equal(a.positions.to_numpy()[:, 0], b.positions.to_numpy()[:, 0])
    np.testing.assert_array_equal(a.order_records, b.order_records)


@pytest.mark.parametrize("N", [1, 3])
def test_cash_and_positions_come_lazily_and_equal_a_run_that_keeps_them(N):
    bars = random_bars(11, T=150, N=N)
    w = random_weights(11, *bars.shape)
    cfg = BacktestConfig(fee_rate=0.001, fixed_fee=0.5, stop_loss=0.03, leverage=1.5)
    res = backtest(bars, weights=w, config=cfg)
    res.stats  # noqa: B018 - the stats need neither cash nor positions
    assert "state" not in res._cache
    T = bars.n_bars
    eq, cash, pos = np.empty(T), np.empty(T), np.empty((T, N))
    orders = np.empty(2 * T * N + N, dtype=order_dt)
    n = nb.simulate_nb(bars.open, bars.high, bars.low, bars.close, res.weights, True, 0, cfg.init_cash,
                       cfg.fill_params(), eq, cash, pos, orders)
    assert n == len(res.orders) > 0
    np.testing.assert_array_equal(res.cash.to_numpy(), cash)
    np.testing.assert_array_equal(res.positions.to_numpy(), pos)
    # equity = cash + positions valued at the last known price, at every bar
    px = pd.DataFrame(bars.close).ffill().fillna(0.0).to_numpy()
    np.testing.assert_allclose(res.equity.to_numpy(), cash + (pos * px).sum(axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match="read-only"):
        res.position_values[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        res.weights[0, 0] = 1.0


def _bar_by_bar(bars, w, cfg, rebalance_every=0):
    """Equity, cash, positions and orders of ``execute_bar_nb`` called bar by bar (the general step)."""
    p, at_open = cfg.fill_params(), cfg.fill_at_open
    T, N = bars.shape
    cash = np.array([cfg.init_cash])
    pos, entry, extreme, val = np.zeros(N), np.full(N, np.nan), np.full(N, np.nan), np.full(N, np.nan)
    target, place = np.zeros(N), np.zeros(N, dtype=bool)
    orders, n_orders = np.empty(4 * T + 4, dtype=order_dt), np.zeros(1, np.int64)
    equity, cash_out, pos_out = np.empty(T), np.empty(T), np.empty((T, N))
    for t in range(T):
        d = t - 1 if at_open else t
        if d >= 0:
            row = w[d]
            changed = ~np.isnan(row) & (row != target)
            target[changed] = row[changed]
            place |= changed
            if rebalance_every and d % rebalance_every == 0:
                place[:] = True
        nb.execute_bar_nb(t, bars.open[t], bars.high[t], bars.low[t], bars.close[t], target, place, at_open, p,
                          cash, pos, entry, extreme, val, orders, n_orders)
        equity[t], cash_out[t], pos_out[t] = nb.portfolio_value_nb(cash[0], pos, val), cash[0], pos
    return equity, cash_out, pos_out, orders[: n_orders[0]]


@pytest.mark.parametrize("seed", range(12))
def test_single_symbol_kernel_matches_execute_bar_nb_across_settings(seed):
    # simulate_nb runs one symbol through its own loop (and, without stops, a scalar order
    # step); it must give exactly what the general per-bar step gives, for every setting
    rng = np.random.default_rng(seed)
    bars = random_bars(seed, T=150, N=3)
    col = int(rng.integers(3))
    o, h, lo, c = (a[:, [col]] for a in (bars.open, bars.high, bars.low, bars.close))
    gaps = rng.random(150) < 0.1  # missing bars: no price to trade or value at
    for a in (o, h, lo, c):
        a[gaps, 0] = np.nan
    one = make_bars(o, h, lo, c)
    w = random_weights(seed, 150, 1, change_prob=float(rng.uniform(0.05, 0.5)), gross=float(rng.uniform(0.5, 3)))
    cfg = BacktestConfig(
        fee_rate=float(rng.choice([0.0, 0.001, 0.01])), fixed_fee=float(rng.choice([0.0, 1.0])),
        slippage_bps=float(rng.choice([0.0, 5.0])), fill=str(rng.choice(["next_open", "close"])),
        size_granularity=[None, 1.0][seed % 2], leverage=float(rng.choice([1.0, 2.0])),
        stop_loss=[None, 0.03][seed % 3 == 0], trailing_stop=[None, 0.05][seed % 4 == 1])
    rebalance = int(rng.choice([0, 7]))
    ref = _bar_by_bar(one, w, cfg, rebalance)
    T = one.n_bars
    eq, cash, pos = np.empty(T), np.empty(T), np.empty((T, 1))
    orders = np.empty(nb.order_capacity_nb(w, rebalance), dtype=order_dt)
    wide = np.repeat(w, 2, axis=1)  # a strided (non-contiguous) column of the same weights
    for weights in (w, wide[:, :1]):
        n = nb.simulate_nb(one.open, one.high, one.low, one.close, weights, cfg.fill_at_open, rebalance,
                           cfg.init_cash, cfg.fill_params(), eq, cash, pos, orders)
        np.testing.assert_array_equal(eq, ref[0])
        np.testing.assert_array_equal(cash, ref[1])
        np.testing.assert_array_equal(pos, ref[2])
        np.testing.assert_array_equal(orders[:n], ref[3])
    assert len(ref[3]) > 0
