"""The persisted detector state: resumable, strict about damage, and the per-deployment lock."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.retrain import (
    DetectorState,
    DetectorStateError,
    RetrainLocked,
    deployment_lock,
    state_path,
)

from ._helpers import make_spec, spec_text, synthetic


def test_a_state_resumed_from_disk_equals_an_uninterrupted_run():
    bars, _ = synthetic()
    spec = make_spec()
    whole = DetectorState.prime(spec, bars)
    part = DetectorState.prime(spec, bars[:777])
    part.save()
    resumed = DetectorState.load(spec.name)
    events = resumed.feed(bars)  # bars up to 777 are skipped: only the new ones are fed
    later = resumed.feed(bars)
    assert later == [] and resumed.to_dict() == whole.to_dict()
    assert [e.bar for e in events] == [e["bar"] for e in whole.events if e["bar"] > 776]
    assert whole.events and all(e["timestamp"] == int(bars.timestamps[e["bar"]]) for e in whole.events)
    np.testing.assert_array_equal(resumed.labels_at(bars.timestamps), whole.labels_at(bars.timestamps))
    det = spec.detector()
    from harness import regime

    full = det.run(regime.returns_from_bars(bars))
    np.testing.assert_array_equal(whole.labels_at(bars.timestamps), full.labels)


def test_a_missing_or_corrupt_state_is_a_clear_error_never_a_reset():
    spec = make_spec()
    with pytest.raises(DetectorStateError, match=r"detector.json of deployment 'syn-sma' is missing; "
                                                 r"`harness retrain syn-sma --reset-detector --by WHO`"):
        DetectorState.load(spec.name)
    bars = synthetic()[0][:600]
    path = DetectorState.prime(spec, bars).save()
    good = path.read_text()
    path.write_text(good[: len(good) // 2])
    with pytest.raises(DetectorStateError, match=r"is corrupt \("):
        DetectorState.load(spec.name)
    assert path.read_text() == good[: len(good) // 2]  # nothing was rewritten
    data = json.loads(good)
    data["detector"]["arrays"].pop(next(iter(data["detector"]["arrays"])))
    path.write_text(json.dumps(data))
    with pytest.raises(DetectorStateError, match=r"is corrupt \(state arrays"):
        DetectorState.load(spec.name)
    data = json.loads(good)
    data["n_bars"] = 5
    path.write_text(json.dumps(data))
    with pytest.raises(DetectorStateError, match=r"is corrupt \(the detector has seen 600 bars, the file says 5\)"):
        DetectorState.load(spec.name)
    data = json.loads(good)
    data["format"] = "other"
    path.write_text(json.dumps(data))
    with pytest.raises(DetectorStateError, match=r"format is 'other'"):
        DetectorState.load(spec.name)


def test_a_state_built_for_another_detector_setting_is_refused():
    from harness.deploy import loads_deployment

    bars = synthetic()[0][:600]
    spec = make_spec()
    DetectorState.prime(spec, bars).save()
    state = DetectorState.load(spec.name)
    state.check_matches(spec, state_path(spec.name))
    other = loads_deployment(spec_text().replace("min_duration = 3", "min_duration = 4"), source="t")
    with pytest.raises(DetectorStateError, match=r"was built with trigger .*--reset-detector"):
        state.check_matches(other, state_path(spec.name))
    # a state saved before a trigger field existed (on_change_point) holds its default: it still matches
    state.setup["trigger"].pop("on_change_point")
    state.check_matches(spec, state_path(spec.name))
    on = loads_deployment(spec_text().replace("min_duration = 3", "min_duration = 3\non_change_point = true"),
                          source="t")
    with pytest.raises(DetectorStateError, match=r"was built with trigger"):
        state.check_matches(on, state_path(spec.name))


def test_the_save_is_atomic_and_leaves_no_temporary_file():
    bars = synthetic()[0][:600]
    path = DetectorState.prime(make_spec(), bars).save()
    assert [p.name for p in path.parent.iterdir()] == ["detector.json"]


def test_a_second_holder_of_the_deployment_lock_is_told_and_the_lock_is_released():
    with deployment_lock("syn-sma"):
        with pytest.raises(RetrainLocked, match=r"a retrain of 'syn-sma' is already running \(pid \d+\)"):
            with deployment_lock("syn-sma"):
                pass
    with deployment_lock("syn-sma"):  # released on exit
        pass
