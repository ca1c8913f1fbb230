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


def _with_changes(labels, changes):
    res = _result(labels)
    return regime.RegimeResult(detector="x", labels=res.labels, change_points=np.asarray(changes, dtype=np.int64),
                               volatility=res.volatility, score=res.score)


def test_on_change_point_fires_on_a_change_point_inside_the_confirmed_label_under_the_cooldown():
    labels = [2] * 60
    res = _with_changes(labels, [3, 20, 25, 40])  # 3: before the baseline is confirmed; 25: in the cooldown
    assert regime.Trigger(min_duration=5, cooldown=10).events(res) == []  # off by default
    events = regime.Trigger(min_duration=5, cooldown=10, on_change_point=True).events(res)
    assert [(e.bar, e.kind, e.from_label, e.to_label) for e in events] == [(20, "change_point", 2, 2),
                                                                           (40, "change_point", 2, 2)]
    assert events[0].describe() == "change point within high at bar 20"


def test_on_change_point_leaves_label_changes_as_they_were_and_shares_their_cooldown():
    labels = [1] * 10 + [2] * 30
    res = _with_changes(labels, [10, 22, 33])  # 10: where the label changes (confirmed at 14)
    events = regime.Trigger(min_duration=5, cooldown=10, on_change_point=True).events(res)
    assert [(e.bar, e.kind) for e in events] == [(14, "label"), (33, "change_point")]  # 22: 8 bars after 14
    plain = regime.Trigger(min_duration=5, cooldown=10).events(res)
    assert [(e.bar, e.kind) for e in plain] == [(14, "label")]


def test_on_change_point_streaming_matches_batch_and_survives_its_state():
    rng = np.random.default_rng(3)
    labels = np.repeat(rng.integers(0, 3, 30), rng.integers(5, 30, 30))
    changes = np.sort(rng.choice(labels.size, 25, replace=False))
    res = _with_changes(labels, changes)
    policy = regime.TriggerPolicy(min_duration=3, cooldown=6, on_change_point=True)
    batch = regime.Trigger(policy).events(res)
    trig, stream, cset = regime.Trigger(policy), [], set(changes.tolist())
    for t in range(labels.size):
        if t % 97 == 0:
            trig = regime.Trigger.from_state(trig.state())
        st = regime.RegimeState(bar=t, label=int(labels[t]), volatility=float(res.volatility[t]), score=0.0,
                                change=t in cset)
        ev = trig.update(st)
        if ev is not None:
            stream.append(ev)
    assert stream == batch
    assert any(e.kind == "change_point" for e in batch) and any(e.kind == "label" for e in batch)
    assert np.diff([e.bar for e in batch]).min() >= 6


def test_the_default_detector_with_on_change_point_fires_in_autumn_2008_on_the_sp500():
    from market_data import samples

    bars = samples.load("SPX")
    res = regime.default().run(regime.returns_from_bars(bars))
    idx = bars.index()
    plain = regime.Trigger().events(res, bars.timestamps)
    both = regime.Trigger(on_change_point=True).events(res, bars.timestamps)
    autumn = [str(idx[e.bar].date()) for e in both if "2008-09-01" <= str(idx[e.bar].date()) <= "2008-11-30"]
    assert autumn == ["2008-09-29"] and both[[str(idx[e.bar].date()) for e in both].index("2008-09-29")].kind == \
        "change_point"
    assert not any("2008-09-01" <= str(idx[e.bar].date()) <= "2008-11-30" for e in plain)
