"""Shared fixtures: every test runs against its own temporary home folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def harness_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``HARNESS_HOME`` for each test (nothing touches ./.harness)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HARNESS_HOME", str(home))
    return home


@pytest.fixture
def run_cli(harness_home: Path):
    """Run ``harness ARGS...`` in a subprocess against the test's home; returns CompletedProcess."""

    def _run(*args: str, check: bool = False, timeout: float = 600, env: dict | None = None):
        full_env = {**os.environ, "HARNESS_HOME": str(harness_home), "COLUMNS": "200", **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args], capture_output=True, text=True,
            timeout=timeout, env=full_env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return _run


@pytest.fixture
def stored_bars(harness_home: Path):
    """Two random-walk daily symbols (AAA, BBB; 400 bars) written to the test's home store."""
    import numpy as np

    from harness._bars import home_store
    from market_data import Bars

    day = 86_400_000_000_000
    rng = np.random.default_rng(1)
    T, N = 400, 2
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.003, (T, N)))
    bars = Bars(timestamps=np.arange(T, dtype=np.int64) * day + 18_000 * day, symbols=("AAA", "BBB"),
                open=open_, high=np.maximum(open_, close) * 1.005, low=np.minimum(open_, close) * 0.995,
                close=close, volume=np.full((T, N), 1e6), frequency="1d")
    home_store(create=True).write(bars, message="test bars")
    return bars
