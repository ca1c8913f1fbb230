"""Small bars for the trainable-strategy tests (kept tiny: 2 shared CPU cores)."""

from __future__ import annotations

import pytest

from market_data import Bars
from strategies.testing import random_walk_bars


@pytest.fixture(scope="session")
def make_walk():
    """The :func:`random_walk_bars` factory (test modules cannot import conftest)."""
    return random_walk_bars


@pytest.fixture(scope="session")
def walk_bars() -> Bars:
    """500 bars x 2 symbols of a mildly mean-reverting walk."""
    return random_walk_bars(500, 2, seed=11, ar=-0.2)


@pytest.fixture(scope="session")
def tiny_params():
    from strategies.ml import MLPParams

    return MLPParams(hidden=8, epochs=8, lookback=4, train_bars=250)
