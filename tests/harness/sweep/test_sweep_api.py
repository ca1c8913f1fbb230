"""``sweep()`` behaviour: invalid combinations, refusals, chunking, Ctrl-C, memory, lineage.

The tests that take ``sweep_on`` run in process and on Dask (``tests/conftest.py``: a
two-worker cluster of processes); the others patch the in-process kernels or measure
this process's memory, which a Dask run does not use.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import harness
from harness.engine import BacktestConfig
from harness.sweep import METRICS, GridError, SweepInterrupted, sweep
from market_data.errors import InputError
from strategies.params import ParamError
from strategies.testing import contract_bars

GRID = {"fast": [2, 5, 10, 40], "slow": [8, 30], "long_short": [False, True]}


@pytest.fixture(scope="module")
def bars():
    return contract_bars(300, 2, seed=5)


def test_invalid_combinations_are_skipped_with_a_warning_and_listed(bars, sweep_on):
    with pytest.warns(UserWarning, match="skipped 6 of 16"):
        df = sweep(bars, "sma_crossover", GRID, progress=False, **sweep_on)
    assert len(df) == 10
    assert {(s["params"]["fast"], s["params"]["slow"]) for s in df.attrs["skipped"]} == {(10, 8), (40, 8), (40, 30)}
    assert all("must be below slow" in s["error"] for s in df.attrs["skipped"])
    assert (df["fast"] < df["slow"]).all()
    assert list(df.columns) == ["fast", "slow", "long_short", "sharpe", "total_return", "max_drawdown", "cagr",
                                "ann_volatility", "sortino", "calmar", "max_drawdown_duration", "n_orders"]
    assert df["n_orders"].dtype == np.int64


def test_rows_follow_grid_order_with_the_last_key_fastest(bars, sweep_on):
    df = sweep(bars, "sma_crossover", {"fast": [2, 3], "slow": [10, 20, 30]}, metrics=("sharpe",), progress=False,
               **sweep_on)
    assert list(zip(df["fast"], df["slow"], strict=True)) == [(2, 10), (2, 20), (2, 30), (3, 10), (3, 20), (3, 30)]
    assert list(df.columns) == ["fast", "slow", "long_short", "sharpe"]


def test_a_grid_with_no_valid_combination_is_an_error(bars, sweep_on):
    with pytest.raises(ParamError, match="no valid parameter combination"):
        sweep(bars, "sma_crossover", {"fast": [50], "slow": [10, 20]}, progress=False, **sweep_on)


def test_trainable_strategy_without_kernel_is_refused(bars, sweep_on):
    with pytest.raises(InputError, match="no Numba kernel"):
        sweep(bars, "mlp", [{}], progress=False, **sweep_on)


def test_bad_arguments_name_what_is_wrong(bars, sweep_on):
    with pytest.raises(InputError, match="unknown metric 'sharp'"):
        sweep(bars, "sma_crossover", {"fast": [2]}, metrics=("sharp",), progress=False, **sweep_on)
    with pytest.raises(GridError, match="did you mean 'slow'"):
        sweep(bars, "sma_crossover", {"slwo": [20]}, progress=False, **sweep_on)
    with pytest.raises(InputError, match="chunk_size"):
        sweep(bars, "sma_crossover", {"fast": [2]}, chunk_size=0, progress=False, **sweep_on)
    with pytest.raises(InputError, match="market_data.Bars"):
        sweep(np.zeros((5, 1)), "sma_crossover", {"fast": [2]}, progress=False, **sweep_on)
    with pytest.raises(InputError, match="BacktestConfig"):
        sweep(bars, "sma_crossover", {"fast": [2]}, config={"fee_rate": 0.1}, progress=False, **sweep_on)
    with pytest.raises(ParamError, match="unknown strategy"):
        sweep(bars, "sma_crosover", {"fast": [2]}, progress=False, **sweep_on)


def test_chunked_run_gives_the_same_rows_as_one_chunk(bars, sweep_on):
    grid = {"fast": [2, 3, 5, 7, 9], "slow": [20, 25, 31]}
    one = sweep(bars, "sma_crossover", grid, config=BacktestConfig(fee_rate=0.001), progress=False, **sweep_on)
    many = sweep(bars, "sma_crossover", grid, config=BacktestConfig(fee_rate=0.001), progress=True, chunk_size=4,
                 **sweep_on)
    np.testing.assert_array_equal(one.to_numpy(dtype=float), many.to_numpy(dtype=float))
    assert not many.attrs["interrupted"] and many.attrs["n_done"] == 15
    if sweep_on:  # the Dask run split the grid as asked
        assert many.attrs["dask"]["chunk_size"] == 4 and many.attrs["dask"]["tasks"] == 4


def test_ctrl_c_keeps_the_rows_done_so_far(bars, monkeypatch):
    import harness.sweep._sweep as impl

    real = impl._run_chunk
    calls = []

    def interrupt_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(impl, "_run_chunk", interrupt_second_chunk)
    grid = {"fast": [2, 3, 5, 7], "slow": [20, 30]}
    with pytest.warns(SweepInterrupted, match="after 3 of 8"):
        df = sweep(bars, "sma_crossover", grid, chunk_size=3, progress=False)
    assert df.attrs["interrupted"] is True
    assert list(zip(df["fast"], df["slow"], strict=True)) == [(2, 20), (2, 30), (3, 20)]
    full = sweep(bars, "sma_crossover", grid, progress=False)
    np.testing.assert_array_equal(df.to_numpy(dtype=float), full.iloc[:3].to_numpy(dtype=float))


def test_memory_does_not_grow_with_combinations_times_bars():
    bars = contract_bars(4000, 1, seed=2)
    grid = {"fast": list(range(2, 42)), "slow": [50, 60, 70, 80, 90]}  # 200 combinations
    sweep(bars, "sma_crossover", {"fast": [2], "slow": [50]}, progress=False)  # compile / load outside the trace
    tracemalloc.start()
    try:
        df = sweep(bars, "sma_crossover", grid, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    combos_x_bars = len(df) * bars.n_bars * 8
    assert len(df) == 200
    assert peak < combos_x_bars / 4, f"peak {peak} bytes vs (combinations x bars) {combos_x_bars}"


def test_lineage_and_lazy_export(bars, sweep_on):
    df = sweep(bars, "sma_crossover", {"fast": [2, 3], "slow": [20]}, config=BacktestConfig(fee_rate=0.01),
               progress=False, **sweep_on)
    lin = df.attrs["lineage"]
    assert lin["strategy"] == "sma_crossover"
    assert lin["grid"] == {"fast": [2, 3], "slow": [20]}
    assert lin["config"]["fee_rate"] == 0.01
    assert lin["data_digest"] == bars.digest()
    assert lin["symbols"] == list(bars.symbols) and lin["code_version"]
    assert len(harness.sweep(bars, "sma_crossover", {"fast": [2]}, progress=False, **sweep_on)) == 1  # module or fn
    assert set(METRICS) >= {"sharpe", "total_return", "max_drawdown", "n_orders"}


def test_warnings_do_not_fire_for_a_fully_valid_grid(bars, sweep_on):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep(bars, "sma_crossover", {"fast": [2, 3], "slow": [20]}, progress=False, **sweep_on)


@pytest.mark.parametrize("n_symbols", [1, 3])
def test_rows_do_not_depend_on_the_number_of_threads_or_the_block_split(n_symbols, monkeypatch):
    """Each thread runs a contiguous block of combinations with its own scratch; one thread,
    two threads, and odd block sizes all give the same table, bit for bit."""
    import harness.sweep._sweep as impl

    bars = contract_bars(600, n_symbols, seed=5)
    grid = {"fast": [2, 3, 5, 7, 9], "slow": [20, 25, 31]}
    cfg = BacktestConfig(fee_rate=0.001)
    tables = []
    for threads, chunk in ((1, None), (2, None), (2, 7), (3, 4)):
        monkeypatch.setattr(impl, "_n_threads", lambda t=threads: t)
        tables.append(sweep(bars, "sma_crossover", grid, config=cfg, progress=False, chunk_size=chunk)
                      .to_numpy(dtype=float))
    for t in tables[1:]:
        np.testing.assert_array_equal(tables[0], t)


def test_one_symbol_without_stops_uses_the_light_kernel_and_agrees_with_the_general_one(monkeypatch):
    """One symbol without stops runs the fused kernel built on simulate_signals_1_nb; the
    general kernel (simulate_nb) gives the same rows bit for bit."""
    import harness.sweep._sweep as impl
    from harness.sweep._fused import fused_kernel

    bars = contract_bars(800, 1, seed=6)
    grid = {"fast": [2, 5, 9], "slow": [20, 31], "long_short": [False, True]}
    cfg = BacktestConfig(fee_rate=0.001, slippage_bps=3, rebalance_every=15)
    strat = impl._resolve("sma_crossover")
    assert impl._kernel(strat.kernel, 1, cfg.fill_params()) is fused_kernel(strat.kernel, "sweep_finish_signals_1_nb")
    assert impl._kernel(strat.kernel, 2, cfg.fill_params()) is fused_kernel(strat.kernel, "sweep_finish_nb")
    light = sweep(bars, "sma_crossover", grid, config=cfg, progress=False)
    monkeypatch.setattr(impl, "_kernel", lambda kernel, n, fp: fused_kernel(kernel, "sweep_finish_nb"))
    general = sweep(bars, "sma_crossover", grid, config=cfg, progress=False)
    np.testing.assert_array_equal(light.to_numpy(dtype=float), general.to_numpy(dtype=float))
