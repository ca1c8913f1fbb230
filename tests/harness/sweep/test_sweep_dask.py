"""Sweeps on Dask: identical to the in-process sweep, every combination exactly once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness import sweep
from harness.errors import InputError
from harness.sweep._dask import MIN_TASK_S, chunk_for
from market_data.synthetic import regime_switching


@pytest.fixture
def client(dask_client):
    return dask_client  # the session's two-worker cluster of processes (tests/conftest.py)


@pytest.fixture(scope="module")
def bars():
    b, _ = regime_switching(3000, 2, seed=11)
    return b


GRID = {"fast": list(range(3, 40, 3)), "slow": list(range(20, 120, 10))}  # includes invalid fast >= slow


@pytest.mark.slow
def test_a_dask_sweep_equals_the_in_process_sweep_row_for_row(client, bars):
    with pytest.warns(UserWarning, match="skipped"):
        local = sweep(bars, "sma_crossover", GRID, progress=False)
    with pytest.warns(UserWarning, match="skipped"):
        remote = sweep(bars, "sma_crossover", GRID, progress=False, dask=client, chunk_size=7)
    pd.testing.assert_frame_equal(local, remote)
    for col in local.columns:
        assert np.array_equal(local[col].to_numpy(), remote[col].to_numpy(), equal_nan=True), col
    info = remote.attrs["dask"]
    assert info["workers"] == 2 and info["chunk_size"] == 7
    assert info["tasks"] == -(-len(local) // 7)
    assert remote.attrs["skipped"] == local.attrs["skipped"]
    assert remote.attrs["lineage"]["grid"] == local.attrs["lineage"]["grid"]


@pytest.mark.slow
def test_default_chunks_give_each_task_enough_work_and_cover_every_combination(client, bars):
    grid = {"fast": [5, 10, 15], "slow": [50, 60, 70, 80]}
    remote = sweep(bars, "sma_crossover", grid, progress=False, dask=client)
    local = sweep(bars, "sma_crossover", grid, progress=False)
    pd.testing.assert_frame_equal(local, remote)
    # 12 combinations x 6,000 bar-steps: far below 0.1 s in all, so split evenly over the 2 workers
    assert remote.attrs["dask"]["tasks"] == 2 and remote.attrs["dask"]["chunk_size"] == 6


def test_chunk_sizing_rule():
    # 100,000 bars x 1 symbol: 0.1 s at 1e8 bar-steps/s is 100 combinations
    assert chunk_for(10_000, 100_000, 1, 2) == 1250  # balance: about 4 chunks per worker
    assert chunk_for(300, 100_000, 1, 2) == 100  # but no task below 0.1 s of work
    assert chunk_for(100, 100_000, 1, 2) == 50  # and every worker gets some: split evenly
    assert chunk_for(1_000_000, 1_000, 1, 100) == 10_000  # 0.1 s of work beats ~4 chunks per worker (2,500)
    assert chunk_for(1, 10, 1, 8) == 1
    assert MIN_TASK_S >= 0.1


@pytest.mark.slow
def test_a_local_spec_starts_and_stops_its_own_cluster(bars):
    grid = {"fast": [5, 10], "slow": [50]}
    remote = sweep(bars, "sma_crossover", grid, progress=False, dask="local:1")
    assert remote.attrs["dask"]["workers"] == 1
    pd.testing.assert_frame_equal(sweep(bars, "sma_crossover", grid, progress=False), remote)


def test_bad_dask_specs_are_clear_errors(bars):
    for bad in ("nonsense", "local:0", 42):
        with pytest.raises(InputError, match="dask"):
            sweep(bars, "sma_crossover", {"fast": [5], "slow": [50]}, progress=False, dask=bad)


@pytest.mark.slow
def test_harness_sweep_dask_local(stored_bars, run_cli, tmp_path):
    run_cli("sweep", "-s", "sma_crossover", "--symbols", "AAA,BBB", "-g", "fast=5:15:5", "-g", "slow=30:50:10",
                    "--no-progress", "--format", "csv", "--out", str(tmp_path / "plain"), check=True)
    dist = run_cli("sweep", "-s", "sma_crossover", "--symbols", "AAA,BBB", "-g", "fast=5:15:5", "-g", "slow=30:50:10",
                   "--no-progress", "--format", "csv", "--dask", "local:1", "--out", str(tmp_path / "dist"), check=True)
    assert "on Dask: 1 workers" in dist.stdout
    a = pd.read_csv(tmp_path / "plain" / "results.csv")
    b = pd.read_csv(tmp_path / "dist" / "results.csv")
    pd.testing.assert_frame_equal(a, b)
