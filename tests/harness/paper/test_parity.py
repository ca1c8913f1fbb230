"""replay() is the backtest, order by order and bar by bar (the same strategy code, the same kernel)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import BacktestConfig, backtest
from harness.paper import replay

from ._paper_data import assert_parity, random_bars, random_config, random_weights


@pytest.mark.parametrize("seed", range(16))
def test_replay_equals_backtest_for_random_weights_configs_and_missing_bars(seed, tmp_path):
    rng = np.random.default_rng(1000 + seed)
    N = int(rng.integers(1, 5))
    bars = random_bars(seed, T=int(rng.integers(60, 160)), N=N)
    cfg = random_config(rng)
    w = random_weights(rng, bars.n_bars, N)
    pr = replay(bars, weights=w, config=cfg, ledger_dir=tmp_path)
    assert_parity(pr, backtest(bars, weights=w, config=cfg))


@pytest.mark.parametrize("seed", range(6))
def test_replay_equals_backtest_for_a_strategy_with_stops_and_whole_units(seed, tmp_path):
    rng = np.random.default_rng(seed)
    bars = random_bars(50 + seed, T=150, N=3)
    cfg = BacktestConfig(size_granularity=1, stop_loss=0.03, trailing_stop=0.05, fee_rate=0.0005,
                         fill="next_open" if seed % 2 else "close", slippage_bps=2)
    params = {"fast": int(rng.integers(2, 6)), "slow": int(rng.integers(8, 20))}
    pr = replay(bars, "sma_crossover", params, config=cfg, ledger_dir=tmp_path)
    bt = backtest(bars, "sma_crossover", params, config=cfg)
    assert len(bt.orders) > 5
    assert (bt.orders["reason"] != "signal").any() or seed % 3  # stops fire in most seeds
    assert_parity(pr, bt)


@pytest.mark.parametrize("seed", range(6))
def test_champion_swap_mid_range_equals_the_backtest_of_spliced_weights(seed, tmp_path):
    from harness.paper._decide import History, StrategyDecider  # noqa: F401

    rng = np.random.default_rng(seed)
    bars = random_bars(80 + seed, T=140, N=2)
    cfg = BacktestConfig(fill="next_open" if seed % 2 == 0 else "close", fee_rate=0.001,
                         stop_loss=None if seed % 3 else 0.05, size_granularity=None if seed % 2 else 1.0)
    k = int(rng.integers(40, 100))
    a = ("sma_crossover", {"fast": 3, "slow": 12})
    b = ("donchian_breakout", {"entry": 10, "exit": 5})
    wa = backtest(bars, *a).weights
    wb = backtest(bars, *b).weights
    spliced = np.vstack([wa[:k], wb[k:]])
    pr = replay(bars, a[0], a[1], config=cfg, ledger_dir=tmp_path,
                schedule=[(int(bars.timestamps[k]), "2", b[0], b[1])])
    assert [s["bar_time"] for s in pr.swaps] == [int(bars.timestamps[k])]
    assert_parity(pr, backtest(bars, weights=spliced, config=cfg))
    versions = pr.all_orders.loc[pr.all_orders["leg"] == "target", ["bar_time", "version"]]
    assert (versions.loc[versions["bar_time"] >= bars.timestamps[k], "version"] == "2").all()
    assert (versions.loc[versions["bar_time"] < bars.timestamps[k], "version"] == "1").all()


def test_client_order_ids_are_deterministic_and_unique(tmp_path):
    bars = random_bars(3, T=80, N=2)
    w = random_weights(np.random.default_rng(3), 80, 2)
    one = replay(bars, weights=w, ledger_dir=tmp_path / "a").all_orders
    two = replay(bars, weights=w, ledger_dir=tmp_path / "b").all_orders
    assert one["client_order_id"].is_unique
    assert list(one["client_order_id"]) == list(two["client_order_id"])
    assert one["client_order_id"].iloc[0].startswith("replay:v1:")


def test_replay_refuses_bad_arguments_like_backtest():
    from harness.errors import InputError

    bars = random_bars(1, T=30, N=1)
    with pytest.raises(InputError, match="exactly one"):
        replay(bars)
    with pytest.raises(InputError, match="shape"):
        replay(bars, weights=np.zeros((3, 3)))
    with pytest.raises(InputError, match="BacktestConfig"):
        replay(bars, weights=np.zeros(30), config={"fee_rate": 0.1})
