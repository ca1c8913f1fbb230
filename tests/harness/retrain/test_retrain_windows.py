"""Training windows end at the trigger bar inclusive; regime windows use online labels only."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import InputError
from harness.retrain import DetectorState, training_window

from ._helpers import make_spec, synthetic


def _window(spec, bars, trigger, labels=None):
    return training_window(bars, spec.retrain, spec.cv.splitter(), trigger=trigger, labels=labels)


def test_trailing_bars_window_ends_at_the_trigger_bar_inclusive():
    bars, _ = synthetic()
    spec = make_spec(window="trailing:800", holdout=150)
    w = _window(spec, bars, 1300)
    assert w.kind == "trailing" and w.n_bars == 800 and w.holdout == 150
    assert w.rows[0] == 501 and w.rows[-1] == 1300
    assert w.bars.timestamps[-1] == bars.timestamps[1300] and w.trigger_time == bars.timestamps[1300]
    assert w.train_bars.n_bars == 650 and w.holdout_start == 650
    assert w.bars.equals(bars[501:1301])


def test_bars_appended_after_the_trigger_change_nothing():
    bars, _ = synthetic()
    spec = make_spec(window="trailing:800")
    short = _window(spec, bars[:1301], 1300)
    long = _window(spec, bars, 1300)
    assert short.bars.digest() == long.bars.digest() and short.describe() == long.describe()
    # the regime window too: labels of later bars are never read
    labels = np.zeros(bars.n_bars, dtype=np.int64)
    labels[1300:] = 2
    spec_r = make_spec(window="regime", holdout=100)
    a = _window(spec_r, bars, 1299, labels)
    b = _window(spec_r, bars[:1300], 1299, labels[:1300])
    assert a.bars.digest() == b.bars.digest()


def test_trailing_duration_and_expanding_windows():
    bars, _ = synthetic()
    spec = make_spec(window="trailing:800")
    dur = training_window(bars, spec.retrain.replace(window="trailing:3y", holdout="6m"), spec.cv.splitter(),
                          trigger=1700)
    span_days = (dur.bars.timestamps[-1] - dur.bars.timestamps[0]) / 86_400e9
    assert dur.rows[-1] == 1700 and 3 * 365 - 7 <= span_days <= 3 * 366
    before = bars.timestamps[dur.rows[0] - 1]
    assert (bars.timestamps[1700] - before) / 86_400e9 >= 3 * 365  # the bar before is outside (t - 3y, t]
    exp = training_window(bars, spec.retrain.replace(window="expanding", holdout=0.2), spec.cv.splitter(),
                          trigger=999)
    assert exp.rows[0] == 0 and exp.rows[-1] == 999 and exp.holdout == 200


def test_a_window_too_short_for_one_cv_fold_is_a_clear_error():
    bars, _ = synthetic()
    spec = make_spec(window="trailing:450", holdout=100)
    with pytest.raises(InputError, match=r"too short for the cv scheme: 350 bars, but one walk-forward fold needs 400"):
        _window(spec, bars, 1000)


def test_regime_window_takes_the_bars_of_the_new_label_purged_at_boundaries():
    bars, _ = synthetic()
    labels = np.ones(bars.n_bars, dtype=np.int64)
    labels[300:700] = 2
    labels[900:1100] = 2
    labels[1250:] = 2
    spec = make_spec(window="regime", holdout=100, purge=5)
    w = _window(spec, bars, 1400, labels)
    assert w.kind == "regime" and w.fallback is None and w.label == 2
    assert w.segments == [(305, 695), (905, 1095), (1255, 1401)]
    expect = np.concatenate([np.arange(305, 695), np.arange(905, 1095), np.arange(1255, 1401)])
    np.testing.assert_array_equal(w.rows, expect)
    np.testing.assert_array_equal(w.bars.timestamps, bars.timestamps[expect])
    # returns inside each period are unchanged; a seam carries no gap (next open = previous close)
    c, o = w.bars.close[:, 0], w.bars.open[:, 0]
    src = bars.close[expect, 0]
    inside = np.ones(expect.size - 1, dtype=bool)
    inside[[389, 389 + 190]] = False
    np.testing.assert_allclose((c[1:] / c[:-1])[inside], (src[1:] / src[:-1])[inside], rtol=1e-12)
    assert o[390] == pytest.approx(c[389]) and o[580] == pytest.approx(c[579])
    np.testing.assert_allclose(w.bars.high[:, 0] / c, bars.high[expect, 0] / src, rtol=1e-12)


def test_regime_window_falls_back_to_trailing_and_says_why():
    bars, _ = synthetic()
    labels = np.ones(bars.n_bars, dtype=np.int64)
    labels[1350:] = 2  # only 51 bars of the new regime
    spec = make_spec(window="regime", holdout=100)
    w = _window(spec, bars, 1400, labels)
    assert w.kind == "trailing" and w.requested == "regime" and w.n_bars == 700
    assert "too few bars in regime 'high'" in w.fallback and "trailing:700" in w.fallback
    with pytest.raises(InputError, match="needs the online labels"):
        _window(spec, bars, 1400, labels[:1000])


def test_regime_window_uses_the_online_labels_not_hindsight():
    """The detector's online labels lag the true (hindsight) regimes; the window follows them."""
    bars, truth = synthetic()
    spec = make_spec(window="regime", holdout=100, purge=0)
    trigger = 1450
    state = DetectorState.prime(spec, bars[:trigger + 1])
    online = state.labels_at(bars.timestamps[:trigger + 1])
    # online = what a detector fed only bars <= t said at t (prefix property, bar by bar)
    for t in (520, 640, 900, 1300):
        assert DetectorState.prime(spec, bars[:t + 1]).labels_at(bars.timestamps[t:t + 1])[0] == online[t]
    hindsight = np.asarray(truth.labels[:trigger + 1])
    assert not np.array_equal(online == online[trigger], hindsight == online[trigger])
    w = _window(spec, bars, trigger, online)
    np.testing.assert_array_equal(w.rows, np.flatnonzero(online == online[trigger]))
    w_truth = _window(spec, bars, trigger, hindsight)
    assert not np.array_equal(w.rows, w_truth.rows)
