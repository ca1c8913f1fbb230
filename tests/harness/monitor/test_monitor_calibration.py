"""Fast versions of bench_monitor's calibration goals, with binomial tolerances.

Goals (issue 18): over 100 features from one distribution, the feature drift monitor's
false-alarm rate per evaluated window is <= 5 % after correction, for independent and
for AR(1) (phi = 0.95) features; a 0.5 sigma shift of one feature at n = 500 is found in
>= 90 % of seeds. With W windows the tests accept counts a true rate at the goal would
exceed with probability < 0.1 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from harness.monitor import MonitorConfig, MonitorData
from harness.monitor.feature_drift import FeatureDrift

K, N_REF, N_LIVE = 100, 2000, 500


def _window(seed, kind, shift=0.0):
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = N_REF + N_LIVE
    if kind == "ar1":
        e = rng.normal(size=(n, K)) * np.sqrt(1 - 0.95**2)
        e[0] = rng.normal(size=K)
        x = lfilter([1.0], [1.0, -0.95], e, axis=0)
    else:
        x = rng.normal(size=(n, K))
    live = x[N_REF:].copy()
    live[:, 0] += shift
    return x[:N_REF, None, :], live[:, None, :]


def _alarmed(seed, kind, shift=0.0):
    ref, live = _window(seed, kind, shift)
    mon = FeatureDrift(MonitorConfig(window=N_LIVE))
    return {r.metric for r in mon.evaluate(MonitorData(input_names=tuple(f"f{i}" for i in range(K)),
                                                      reference_inputs=ref, live_inputs=live)) if r.alarm}


@pytest.mark.parametrize("kind", ["iid", "ar1"])
def test_false_alarm_rate_per_window_is_at_most_five_percent(kind):
    windows = 30
    false = sum(bool(_alarmed(1000 + s, kind)) for s in range(windows))
    assert false <= binom.ppf(0.999, windows, 0.05), f"{false} of {windows} stable windows alarmed"


def test_half_sigma_shift_in_one_feature_is_detected_in_ninety_percent_of_seeds():
    seeds = 20
    hits = sum("f0" in _alarmed(5000 + s, "iid", shift=0.5) for s in range(seeds))
    assert hits >= binom.ppf(0.001, seeds, 0.9), f"detected in {hits} of {seeds} seeds"
