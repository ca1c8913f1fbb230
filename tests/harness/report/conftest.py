"""Report fixtures: a 20-year daily backtest of the S&P 500 sample, and headless Chromium."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # browser.py, shared with the docs screenshot

import browser  # noqa: E402


@pytest.fixture(scope="module")
def spx_result():
    from harness import backtest
    from market_data import samples

    return backtest(samples.load("SPX"), "sma_crossover", {"fast": 20, "slow": 100})


@pytest.fixture
def chromium():
    """Debian's chromium + chromedriver; skipped with the reason where missing, a failure under CI."""
    found = browser.find_chromium()
    if found is None:
        msg = ("headless Chromium is not installed: `apt-get install -y chromium chromium-driver` "
               "(Debian packages) to run the browser tests")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " [CI=true: a missing service fails the run]")
        pytest.skip(msg)
    return found
