"""evaluate() / score_detections() on hand-made cases, and on synthetic ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import regime
from harness.errors import InputError
from market_data.synthetic import Regime, regime_switching


def test_hits_duplicates_and_false_alarms_are_counted_by_window():
    rep = regime.score_detections([20, 105, 110, 160, 320], [100, 300], n_bars=500, tolerance=50)
    assert (rep.hits, rep.duplicates, rep.false_alarms) == (2, 1, 2)  # 20 early, 160 past the window
    assert rep.delays.tolist() == [5, 20]
    assert rep.median_delay == 12.5 and rep.p90_delay == pytest.approx(18.5)
    assert rep.precision == pytest.approx(2 / 5) and rep.recall == 1.0
    assert rep.stable_bars == 400 and rep.false_alarms_per_10k == pytest.approx(50.0)


def test_window_ends_at_the_next_true_change_point():
    rep = regime.score_detections([125], [100, 120], n_bars=500, tolerance=50)
    assert rep.hits == 1 and rep.delays.tolist() == [5] and rep.recall == 0.5
    assert rep.stable_bars == 500 - 20 - 50


def test_detection_at_the_change_bar_is_delay_zero_and_at_the_tolerance_is_a_false_alarm():
    rep = regime.score_detections([100, 450], [100, 400], n_bars=500, tolerance=50)
    assert rep.delays.tolist() == [0] and rep.false_alarms == 1 and rep.recall == 0.5


def test_window_is_clipped_at_the_end_of_the_series():
    rep = regime.score_detections([], [480], n_bars=500, tolerance=50)
    assert rep.stable_bars == 480 and rep.recall == 0.0 and math.isnan(rep.precision)
    assert math.isnan(rep.median_delay)


def test_no_true_change_points_makes_every_detection_a_false_alarm():
    rep = regime.score_detections([5, 9000], [], n_bars=10_000, tolerance=10)
    assert rep.false_alarms == 2 and rep.false_alarms_per_10k == 2.0 and math.isnan(rep.recall)


def test_merge_pools_counts_and_delays():
    a = regime.score_detections([105], [100], n_bars=200, tolerance=20)
    b = regime.score_detections([10, 57], [50], n_bars=100, tolerance=20)
    m = regime.DetectionReport.merge([a, b])
    assert (m.n_bars, m.n_true, m.hits, m.false_alarms, m.stable_bars) == (300, 2, 2, 1, 260)
    assert sorted(m.delays.tolist()) == [5, 7]
    with pytest.raises(InputError, match="different tolerances"):
        regime.DetectionReport.merge([a, regime.score_detections([], [], n_bars=10, tolerance=3)])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"detected": [5], "true_change_points": [3], "n_bars": 10, "tolerance": 0}, "tolerance must be a positive"),
    ({"detected": [12], "true_change_points": [3], "n_bars": 10, "tolerance": 2}, r"detected change points must be bar indices in 0\.\.9, got 12"),
    ({"detected": [1.5], "true_change_points": [3], "n_bars": 10, "tolerance": 2}, "got 1.5"),
    ({"detected": [], "true_change_points": [3, 3], "n_bars": 10, "tolerance": 2}, "true_change_points has a repeated index"),
])
def test_bad_input_is_rejected_with_the_field_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        regime.score_detections(**kwargs)


def test_evaluate_scores_a_detector_on_synthetic_ground_truth():
    regs = (Regime(vol=0.01), Regime(vol=0.03))
    bars, truth = regime_switching(2000, regimes=regs, schedule=[(0, 0), (1000, 1), (1500, 0)], seed=3)
    r = regime.returns_from_bars(bars)
    det = regime.get("cusum")
    rep = regime.evaluate(det, r, truth.change_points, tolerance=100)
    assert rep.recall == 1.0 and rep.false_alarms == 0 and rep.median_delay <= 40
    same = regime.score_detections(det.run(r).change_points, truth.change_points, r.size, 100)
    assert rep.summary() == same.summary()
    by_name = regime.evaluate("cusum", r, truth.change_points, tolerance=100)
    assert by_name.summary() == rep.summary()


def test_returns_from_bars_are_log_returns_aligned_with_the_bars():
    bars, _ = regime_switching(50, 2, seed=1)
    r = regime.returns_from_bars(bars, "SYN1")
    c = bars.close[:, 1]
    assert math.isnan(r[0]) and r.size == 50
    np.testing.assert_allclose(r[1:], np.log(c[1:] / c[:-1]))
    with pytest.raises(InputError, match="pass symbol="):
        regime.returns_from_bars(bars)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(10, 400), tol=st.integers(1, 60), data=st.data())
def test_every_detection_is_a_hit_a_duplicate_or_a_false_alarm(n, tol, data):
    idx = st.lists(st.integers(0, n - 1), unique=True, max_size=15)
    det, true = data.draw(idx), data.draw(idx)
    rep = regime.score_detections(det, true, n_bars=n, tolerance=tol)
    assert rep.hits + rep.duplicates + rep.false_alarms == len(det)
    assert rep.hits <= len(true) and rep.delays.size == rep.hits
    assert ((rep.delays >= 0) & (rep.delays < tol)).all()
    assert 0 <= rep.stable_bars <= n
    # a detector that fires exactly at every true change point is perfect
    perfect = regime.score_detections(true, true, n_bars=n, tolerance=tol)
    assert perfect.hits == len(true) and perfect.false_alarms == 0 and (perfect.delays == 0).all()


def test_public_names_of_the_regime_package_are_pinned():
    assert sorted(regime.__all__) == sorted([
        "Detector", "DetectorConfig", "RegimeResult", "RegimeState", "Period", "LABEL_NAMES", "RegimeError", "FitWarning",
        "RegimeChange", "Trigger", "TriggerPolicy", "DetectionReport", "evaluate", "score_detections",
        "available", "get", "default", "from_config", "trigger_from_config", "detector_class", "register",
        "DEFAULT_DETECTOR", "returns_from_bars"])
    assert all(hasattr(regime, name) for name in regime.__all__)
