"""A sweep row's metrics equal ``backtest(bars, strategy, params, config=config).stats`` to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.engine import BacktestConfig, backtest
from harness.sweep import sweep
from strategies.testing import contract_bars

# metric -> (stats key, scale from the sweep's fraction to the stats' unit)
_STATS = {
    "total_return": ("Total Return [%]", 100.0),
    "cagr": ("CAGR [%]", 100.0),
    "ann_volatility": ("Annual Volatility [%]", 100.0),
    "sharpe": ("Sharpe Ratio", 1.0),
    "sortino": ("Sortino Ratio", 1.0),
    "calmar": ("Calmar Ratio", 1.0),
    "max_drawdown": ("Max Drawdown [%]", 100.0),
    "max_drawdown_duration": ("Max Drawdown Duration [bars]", 1.0),
}


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _assert_rows_match_backtest(bars, strategy, df, config):
    fields = [c for c in df.columns if c not in (*_STATS, "n_orders")]
    assert len(df) > 0
    for _, row in df.iterrows():
        params = {k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in fields}
        res = backtest(bars, strategy, params, config=config)
        for metric, (key, scale) in _STATS.items():
            got, want = float(row[metric]) * scale, float(res.stats[key])
            assert _same(got, want), f"{strategy} {params} {metric}: sweep {got!r} != backtest {want!r}"
        assert int(row["n_orders"]) == len(res.orders), f"{strategy} {params}: n_orders"


CONFIGS = {
    "fees_slippage": BacktestConfig(fee_rate=0.002, fixed_fee=1.0, slippage_bps=5),
    "stops_whole_units": BacktestConfig(fee_rate=0.001, stop_loss=0.03, take_profit=0.08, trailing_stop=0.05,
                                        size_granularity=1.0),
    "close_fill_long_only_rebalance": BacktestConfig(fill="close", allow_short=False, rebalance_every=20,
                                                     leverage=1.5, init_cash=10_000.0),
}

CASES = {
    "sma_crossover": {"fast": [3, 10, 15], "slow": [20, 60], "long_short": [False, True]},
    "bollinger_reversion": {"window": [10, 30], "n_std": [1.5, 2.5], "exit_std": [0.0, 0.5]},
    "donchian_breakout": {"entry": [10, 40], "exit": [5, 20]},
    "xs_momentum": {"lookback": [20, 60], "skip": [0, 5], "top_k": [1, 2], "long_short": [True], "rebalance": [5]},
}


@pytest.fixture(scope="module")
def bars():
    return contract_bars(400, 4, seed=11)


@pytest.mark.parametrize("strategy", list(CASES))
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_sweep_rows_equal_backtest_stats(bars, strategy, config_name, sweep_on):
    """In process and on Dask (``sweep_on``)."""
    config = CONFIGS[config_name]
    df = sweep(bars, strategy, CASES[strategy], config=config, progress=False, **sweep_on)
    assert df.attrs["skipped"] == []
    _assert_rows_match_backtest(bars, strategy, df, config)


def test_sweep_on_one_symbol_matches_backtest_with_default_config():
    bars = contract_bars(500, 1, seed=3)
    df = sweep(bars, "vol_target_momentum", {"lookback": [20, 80], "vol_window": [10, 30]}, progress=False)
    _assert_rows_match_backtest(bars, "vol_target_momentum", df, BacktestConfig())


@pytest.mark.slow
def test_generic_dispatcher_kernel_matches_generated_cached_kernel(bars, monkeypatch):
    """The fallback (strategy kernel passed as a first-class argument) gives the same rows."""
    import harness.sweep._sweep as impl

    grid = CASES["sma_crossover"]
    cfg = CONFIGS["stops_whole_units"]
    cached = sweep(bars, "sma_crossover", grid, config=cfg, progress=False)
    monkeypatch.setattr(impl, "_kernel", lambda kernel, n_symbols, fp: None)
    generic = sweep(bars, "sma_crossover", grid, config=cfg, progress=False)
    np.testing.assert_array_equal(cached.to_numpy(dtype=float), generic.to_numpy(dtype=float))
