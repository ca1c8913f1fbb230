"""The contract every monitor passes (one suite for the whole plug-in family)."""

from __future__ import annotations

import json

import pytest

from harness.monitor import (
    INSUFFICIENT,
    MONITOR_NAMES,
    STATES,
    MonitorConfig,
    MonitorData,
    monitor_class,
)

from ._cases import CASES


@pytest.fixture(params=MONITOR_NAMES)
def name(request):
    return request.param


def _monitor(name):
    return monitor_class(name)(MonitorConfig())


def test_every_monitor_has_a_case_and_a_name(name):
    cls = monitor_class(name)
    assert cls.name == name and name in CASES and cls.requires


def test_below_the_minimum_sample_a_monitor_reports_insufficient_data_never_an_alarm(name):
    data, _ = CASES[name]("tiny")
    readings = _monitor(name).evaluate(data)
    assert readings and all(r.state == INSUFFICIENT for r in readings if r.metric != "stale")
    assert not any(r.alarm for r in readings)


def test_without_its_data_a_monitor_reports_insufficient_data(name):
    readings = _monitor(name).evaluate(MonitorData(time=0))
    assert [r.state for r in readings] == [INSUFFICIENT]
    assert "no " in readings[0].detail["why"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_monitor_is_quiet_on_stable_data(name, seed):
    data, _ = CASES[name]("stable", seed)
    readings = _monitor(name).evaluate(data)
    assert readings and not [r for r in readings if r.alarm]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_monitor_raises_on_its_fault(name, seed):
    data, metric = CASES[name]("fault", seed)
    alarms = {r.metric for r in _monitor(name).evaluate(data) if r.alarm}
    assert metric in alarms


def test_readings_are_well_formed_json_and_deterministic(name):
    data, _ = CASES[name]("fault")
    first = [r.to_dict() for r in _monitor(name).evaluate(data)]
    again = [r.to_dict() for r in _monitor(name).evaluate(data)]
    assert json.loads(json.dumps(first, allow_nan=False)) == json.loads(json.dumps(again, allow_nan=False))
    for r in first:
        assert r["monitor"] == name and r["state"] in STATES and isinstance(r["metric"], str)
        assert len(r["window"]) == 2
