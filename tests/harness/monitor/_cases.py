"""Synthetic monitor inputs per monitor: stable, faulty (with the metric that must alarm) and tiny."""

from __future__ import annotations

import numpy as np

from harness.monitor import MonitorData
from strategies.testing import make_bars

DAY = 86_400_000_000_000
T0 = 1_600_000_000 * 1_000_000_000 // DAY * DAY


def _times(n, start=0):
    return T0 + (np.arange(n) + start) * DAY


def feature_drift(kind, seed=0):
    rng = np.random.default_rng(seed)
    n_live = {"stable": 250, "fault": 250, "tiny": 10}[kind]
    ref = rng.normal(size=(1000, 2, 3))
    live = rng.normal(size=(n_live, 2, 3))
    if kind == "fault":
        live[:, 0, 1] += 1.0
    return MonitorData(time=int(_times(1, 1000 + n_live)[0]), input_names=("a", "b", "c"), symbols=("X", "Y"),
                       reference_inputs=ref, live_inputs=live, live_times=_times(n_live, 1000)), "b"


def _markov_weights(rng, n, n_sym, p_switch=0.05, values=(0.0, 0.5)):
    w = np.zeros((n, n_sym))
    state = np.zeros(n_sym, dtype=int)
    for t in range(n):
        flip = rng.random(n_sym) < p_switch
        state = np.where(flip, 1 - state, state)
        w[t] = np.asarray(values)[state]
    return w


def decision_drift(kind, seed=0):
    rng = np.random.default_rng(seed)
    n_live = {"stable": 250, "fault": 250, "tiny": 10}[kind]
    ref = _markov_weights(rng, 2000, 2)
    live = _markov_weights(rng, n_live, 2)
    if kind == "fault":
        live[:, 0] = -0.5  # the model turned short on X
    return MonitorData(time=int(_times(1, 3000)[0]), symbols=("X", "Y"), reference_weights=ref, live_weights=live,
                       live_times=_times(n_live, 2000)), "weight[X]"


def performance(kind, seed=0):
    rng = np.random.default_rng(seed)
    hold = rng.normal(0.0005, 0.01, 750)
    n_live = {"stable": 200, "fault": 200, "tiny": 10}[kind]
    live = rng.normal(0.0005, 0.01, n_live)
    if kind == "fault":
        live[-80:] = rng.normal(-0.006, 0.01, 80)
    return MonitorData(time=int(_times(1, n_live)[0]), holdout_returns=hold, live_returns=live,
                       live_times=_times(n_live)), "pnl"


def data_quality(kind, seed=0):
    rng = np.random.default_rng(seed)
    n = {"stable": 300, "fault": 300, "tiny": 1}[kind]
    ref_close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (500, 2)), axis=0))
    close = ref_close[-1] * np.exp(np.cumsum(rng.normal(0, 0.01, (n, 2)), axis=0))
    if kind == "fault":
        close[150, 0] *= 10.0  # a decimal-point error
        close[-8:, 1] = np.nan  # symbol Y stops trading
    bars = make_bars(close, symbols=["X", "Y"], start="2021-01-01")
    ref_bars = make_bars(ref_close, symbols=["X", "Y"], start="2019-01-01")
    ts = np.asarray(bars.timestamps)
    return MonitorData(time=int(ts[-1]), bars=bars, reference_timestamps=np.asarray(ref_bars.timestamps),
                       reference_close=ref_close, frequency="1d", now=int(ts[-1]) + DAY), "price_jump"


def tracking_error(kind, seed=0):
    rng = np.random.default_rng(seed)
    n = {"stable": 300, "fault": 300, "tiny": 0}[kind]
    eq = 1e6 * np.cumprod(1 + rng.normal(0, 0.01, n))
    paper = eq.copy()
    if kind == "fault":
        paper[120:] *= 1 + 1e-9
    return MonitorData(time=int(_times(1, n)[0]), paper_equity=paper, backtest_equity=eq,
                       live_times=_times(n)), "equity"


CASES = {"feature_drift": feature_drift, "decision_drift": decision_drift, "performance": performance,
         "data_quality": data_quality, "tracking_error": tracking_error}
