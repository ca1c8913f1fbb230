"""Shared bits of the retrain tests: a small deployment spec over synthetic bars in the home store."""

from __future__ import annotations

import numpy as np

from harness.deploy import loads_deployment

SPEC = """
[deployment]
name = "syn-sma"
mode = "auto"
baseline = "buy_and_hold"
[data]
symbols = ["SYN0"]
[strategy]
name = "sma_crossover"
params = {{ long_short = false }}
search_space = {{ fast = [3, 30], slow = [35, 120] }}
[cv]
scheme = "walk-forward"
train = 300
test = 100
[optimize]
trials = {trials}
seed = 5
[costs]
fee_rate = 0.0005
[regime]
detector = "cusum"
calibration_window = 200
warmup = 50
[regime.trigger]
min_duration = 3
cooldown = 10
[retrain]
window = "{window}"
holdout = {holdout}
top_k = 2
purge = {purge}
fallback = "trailing:700"
"""


def spec_text(*, window: str = "trailing:800", holdout: int = 150, trials: int = 8, purge: int = 5) -> str:
    return SPEC.format(window=window, holdout=holdout, trials=trials, purge=purge)


def make_spec(**kw):
    return loads_deployment(spec_text(**kw), source="test spec")


def synthetic(n: int = 1800, seed: int = 3):
    from market_data.synthetic import regime_switching

    bars, truth = regime_switching(n, 1, schedule=[(0, 1), (500, 2), (800, 1), (1200, 2), (1500, 0)], seed=seed,
                                   symbols=["SYN0"])
    return bars, truth


def store(bars) -> str:
    from harness._bars import home_store

    return home_store(create=True).write(bars, message="synthetic")


def labels_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    cut = np.flatnonzero(np.diff(labels) != 0) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [labels.size]))
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, ends, strict=True)]
