"""The trigger policy: confirmation for min_duration bars, cooldown between events."""

from __future__ import annotations

import numpy as np
import pytest

from harness import regime
from harness.errors import InputError


def _result(labels):
    lab = np.asarray(labels, dtype=np.int64)
    return regime.RegimeResult(detector="x", labels=lab, change_points=np.flatnonzero(np.diff(lab)) + 1,
                               volatility=np.linspace(0.01, 0.02, lab.size), score=np.zeros(lab.size))


def test_short_blip_does_not_fire_and_a_held_change_fires_after_min_duration():
    labels = [1] * 10 + [2] * 3 + [1] * 5 + [2] * 10
    events = regime.Trigger(min_duration=5, cooldown=0).events(_result(labels))
    assert len(events) == 1
    ev = events[0]
    assert (ev.bar, ev.since, ev.from_label, ev.to_label) == (22, 18, 1, 2)
    assert "normal -> high" in ev.describe()


def test_cooldown_delays_the_next_event_until_it_ends():
    labels = [1] * 5 + [2] * 5 + [0] * 20
    events = regime.Trigger(min_duration=2, cooldown=8).events(_result(labels))
    assert [(e.bar, e.from_label, e.to_label) for e in events] == [(6, 1, 2), (14, 2, 0)]


def test_change_that_reverts_during_cooldown_never_fires():
    labels = [1] * 5 + [2] * 5 + [0] * 3 + [2] * 20
    events = regime.Trigger(min_duration=2, cooldown=8).events(_result(labels))
    assert [(e.bar, e.to_label) for e in events] == [(6, 2)]


def test_streaming_trigger_matches_batch_and_resumes_from_its_state():
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 3, 40), rng.integers(1, 12, 40))
    res = _result(labels)
    ts = np.arange(labels.size, dtype=np.int64) * 86_400_000_000_000
    batch = regime.Trigger(min_duration=3, cooldown=10).events(res, ts)
    trig = regime.Trigger(regime.TriggerPolicy(min_duration=3, cooldown=10))
    stream = []
    for t in range(labels.size):
        if t == labels.size // 2:
            trig = regime.Trigger.from_state(trig.state())
        st = regime.RegimeState(bar=t, label=int(labels[t]), volatility=float(res.volatility[t]), score=0.0,
                                change=False)
        ev = trig.update(st, int(ts[t]))
        if ev is not None:
            stream.append(ev)
    assert stream == batch and len(batch) >= 3
    assert all(e.timestamp == ts[e.bar] for e in batch)
    gaps = np.diff([e.bar for e in batch])
    assert gaps.min() >= 10


def test_policy_rejects_bad_values():
    with pytest.raises(InputError, match="min_duration must be >= 1"):
        regime.TriggerPolicy(min_duration=0)
