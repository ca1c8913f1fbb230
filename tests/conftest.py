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
