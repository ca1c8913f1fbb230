"""The contract every detector meets: batch = streaming, resumable state, no look-ahead."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import regime
from harness.errors import InputError

# small windows so every code path (warm-up, calibration, GARCH refits) runs in a short series
SMALL = {"calibration_window": 400, "warmup": 60}
DETECTORS = {
    "ewma": {**SMALL, "halflife": 10.0},
    "cusum": {**SMALL},
    "bocpd": {**SMALL, "max_run": 60, "window": 40},
    "garch": {**SMALL, "window": 200, "refit_every": 60, "min_fit": 100},
}


def _series(seed: int = 0, n: int = 700) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = np.where(np.arange(n) < 300, 0.01, 0.03)
    vol[500:] = 0.005
    r = rng.standard_normal(n) * vol
    r[[17, 250, 251, 640]] = np.nan  # missing bars
    return r


@pytest.fixture(params=sorted(DETECTORS))
def det(request) -> regime.Detector:
    return regime.get(request.param, **DETECTORS[request.param])


def test_every_builtin_detector_is_covered_by_the_contract_suite():
    assert sorted(DETECTORS) == regime.available()


def test_batch_run_equals_streaming_update_bar_for_bar(det):
    r = _series()
    res = det.run(r)
    states = [det.update(x) for x in r]
    np.testing.assert_array_equal(res.labels, [s.label for s in states])
    np.testing.assert_array_equal(res.volatility, [s.volatility for s in states])
    np.testing.assert_array_equal(res.score, [s.score for s in states])
    np.testing.assert_array_equal(res.change_points, [s.bar for s in states if s.change])
    assert [s.bar for s in states] == list(range(r.size))


def test_update_many_in_chunks_equals_the_batch_run(det):
    r = _series(2)
    full = det.run(r)
    parts = [det.update_many(r[a:b]) for a, b in ((0, 1), (1, 250), (250, 251), (251, r.size))]
    assert det.bars_seen == r.size
    np.testing.assert_array_equal(full.labels, np.concatenate([p.labels for p in parts]))
    np.testing.assert_array_equal(full.volatility, np.concatenate([p.volatility for p in parts]))
    offsets = (0, 1, 250, 251)
    np.testing.assert_array_equal(full.change_points, np.concatenate([p.change_points + o
                                                                      for p, o in zip(parts, offsets, strict=True)]))


def test_state_survives_json_and_resumes_identically(det):
    r = _series(1)
    full = det.run(r)
    for x in r[:333]:
        det.update(x)
    text = json.dumps(det.state())
    resumed = regime.Detector.from_state(json.loads(text))
    assert type(resumed) is type(det) and resumed.config == det.config and resumed.bars_seen == 333
    rest = [resumed.update(x) for x in r[333:]]
    np.testing.assert_array_equal(full.volatility[333:], [s.volatility for s in rest])
    np.testing.assert_array_equal(full.labels[333:], [s.label for s in rest])
    np.testing.assert_array_equal(full.change_points[full.change_points >= 333], [s.bar for s in rest if s.change])
    # the original keeps going too, unaffected by the snapshot
    assert det.update(r[333]).volatility == full.volatility[333]


def test_run_does_not_disturb_the_streaming_state(det):
    r = _series(2)
    first = [det.update(x) for x in r[:100]]
    det.run(r)
    nxt = det.update(r[100])
    assert nxt.bar == 100 and nxt.volatility == det.run(r).volatility[100]
    assert first[-1].bar == 99


def test_reset_starts_over(det):
    r = _series(3)
    a = [det.update(x).volatility for x in r[:50]]
    det.reset()
    b = [det.update(x).volatility for x in r[:50]]
    assert a == b


@pytest.mark.parametrize("name", sorted(DETECTORS))
@settings(max_examples=6, deadline=None)
@given(k=st.integers(min_value=1, max_value=699))
def test_prefix_gives_the_first_k_outputs(name, k):
    det = regime.get(name, **DETECTORS[name])
    r = _series(4)
    full, part = det.run(r), det.run(r[:k])
    np.testing.assert_array_equal(part.labels, full.labels[:k])
    np.testing.assert_array_equal(part.volatility, full.volatility[:k])
    np.testing.assert_array_equal(part.score, full.score[:k])
    np.testing.assert_array_equal(part.change_points, full.change_points[full.change_points < k])


def test_future_returns_do_not_change_the_past(det):
    r = _series(5)
    r2 = r.copy()
    r2[400:] *= 5.0
    a, b = det.run(r), det.run(r2)
    np.testing.assert_array_equal(a.volatility[:400], b.volatility[:400])
    np.testing.assert_array_equal(a.labels[:400], b.labels[:400])


def test_tripling_of_volatility_is_detected_soon_and_labelled_high(det):
    rng = np.random.default_rng(11)
    r = np.concatenate([rng.standard_normal(600) * 0.01, rng.standard_normal(200) * 0.03])
    res = det.run(r)
    after = res.change_points[res.change_points >= 600]
    assert after.size and after[0] - 600 <= 40, res.change_points
    assert (res.labels[680:] == 2).mean() > 0.9
    assert res.volatility[790] / res.volatility[590] > 2.0


def test_fall_of_volatility_is_detected(det):
    rng = np.random.default_rng(12)
    r = np.concatenate([rng.standard_normal(600) * 0.02, rng.standard_normal(200) * 0.005])
    res = det.run(r)
    after = res.change_points[res.change_points >= 600]
    assert after.size and after[0] - 600 <= 120, res.change_points
    assert (res.labels[720:] == 0).mean() > 0.9  # (the 400-bar median is still the old level)


def test_missing_bar_repeats_previous_outputs_and_flags_no_change(det):
    r = _series(6)
    res = det.run(r)
    assert res.volatility[251] == res.volatility[249] and res.labels[251] == res.labels[249]
    assert 250 not in res.change_points and 251 not in res.change_points


def test_infinite_return_is_rejected_with_its_index(det):
    r = _series(7)
    r[42] = np.inf
    with pytest.raises(InputError, match=r"returns\[42\] is inf"):
        det.run(r)
    with pytest.raises(InputError, match="return at bar 0 is -inf"):
        det.update(-np.inf)


def test_two_dimensional_returns_are_rejected(det):
    with pytest.raises(InputError, match="1-D array"):
        det.run(np.zeros((10, 3)))


def test_unknown_parameter_is_rejected_with_a_hint():
    with pytest.raises(InputError, match="did you mean 'threshold'"):
        regime.get("cusum", treshold=3.0)
    with pytest.raises(InputError, match="high_exit must be <= high_enter"):
        regime.get("ewma", high_enter=1.2, high_exit=1.3)


def test_state_of_another_detector_is_refused():
    st_ = regime.get("ewma").state()
    with pytest.raises(InputError, match="not 'cusum'"):
        regime.detector_class("cusum").from_state(st_)
    bad = dict(st_, arrays={"ewma": st_["arrays"]["ewma"]})
    with pytest.raises(InputError, match="do not match"):
        regime.Detector.from_state(bad)


def test_stretches_of_zero_returns_keep_every_output_finite(det):
    rng = np.random.default_rng(13)
    r = rng.standard_normal(900) * 0.01
    r[:5] = 0.0
    r[300:420] = 0.0  # a halted or stale price
    res = det.run(r)
    assert np.isfinite(res.volatility).all() and np.isfinite(res.score).all()
    assert set(np.unique(res.labels)) <= {0, 1, 2}
