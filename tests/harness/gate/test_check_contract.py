"""The contract every gate check is held to (built in or registered by a user)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.gate import CheckResult, Evidence, GatePolicy, available
from harness.gate.checks import Check, check_class
from harness.gate.testing import example_evidence

ALWAYS_PRESENT = {"challenger_returns", "champion_returns"}  # Evidence itself refuses to exist without them


@pytest.fixture(params=available())
def check(request) -> Check:
    return check_class(request.param)()


def _with_optional_inputs() -> list[str]:
    ev = example_evidence()
    return [n for n in available() if set(check_class(n)().required_fields(ev)) - ALWAYS_PRESENT]


def _with_movable_threshold() -> list[str]:
    """Checks whose verdict is a scalar compared with a policy threshold (alpha is a significance level)."""
    return [n for n in available() if check_class(n).threshold_key not in (None, "alpha")]


def test_check_declares_its_name_threshold_and_purpose(check):
    assert check.name and check.protects
    if check.threshold_key is not None:
        assert check.threshold_key in GatePolicy.field_names()
        assert check.op in (">=", "<=")


def test_same_inputs_give_the_same_result(check, full_evidence, tmp_path):
    """Twice, and on the evidence after a save/load round trip, by a fresh instance."""
    policy = GatePolicy()
    first = check.evaluate(full_evidence, policy).to_dict()
    assert check.evaluate(full_evidence, policy).to_dict() == first
    reloaded = Evidence.load(full_evidence.save(tmp_path / "ev"))
    assert check_class(check.name)().evaluate(reloaded, GatePolicy.from_toml(policy.to_toml())).to_dict() == first


def test_result_reports_value_against_the_policy_threshold(check, full_evidence):
    policy = GatePolicy()
    res = check.evaluate(full_evidence, policy)
    assert isinstance(res, CheckResult) and res.name == check.name and res.detail
    json.dumps(res.to_dict())
    if check.threshold_key is not None:
        assert res.threshold == getattr(policy, check.threshold_key)
        assert res.op == check.op
    if res.value is not None:
        assert math.isfinite(res.value)
        if res.passed and res.op:
            assert res.value >= res.threshold if res.op == ">=" else res.value <= res.threshold


@pytest.mark.parametrize("name", _with_movable_threshold())
def test_threshold_moves_the_verdict(name, full_evidence):
    """A threshold just beyond the value fails the check, one just inside passes it (the verdict
    depends on the threshold and on nothing hidden)."""
    check = check_class(name)()
    policy = GatePolicy()
    res = check.evaluate(full_evidence, policy)
    assert res.value is not None, res.detail
    integer = isinstance(getattr(policy, check.threshold_key), int)
    up = 1 if check.op == ">=" else -1
    if integer:
        beyond = int(math.floor(res.value)) + 1 if up > 0 else int(math.ceil(res.value)) - 1
        inside = int(math.floor(res.value)) if up > 0 else int(math.ceil(res.value))
    else:
        step = 1e-6 + abs(res.value) * 1e-3
        beyond, inside = res.value + up * step, res.value - up * step
    meta = GatePolicy.__dataclass_fields__[check.threshold_key].metadata["param"]
    if meta["low"] <= beyond <= meta["high"]:  # else no allowed threshold can fail this value
        assert not check.evaluate(full_evidence, policy.replace(**{check.threshold_key: beyond})).passed
    inside = min(max(inside, meta["low"]), meta["high"])
    looser = check.evaluate(full_evidence, policy.replace(**{check.threshold_key: inside}))
    if name != "oos_improvement":  # which also needs significance
        assert looser.passed, looser.detail


@pytest.mark.parametrize("name", _with_optional_inputs())
def test_missing_evidence_fails_closed_naming_the_input(name, full_evidence):
    check = check_class(name)()
    fields = [f for f in check.required_fields(full_evidence) if f not in ALWAYS_PRESENT]
    for f in fields:
        res = check.evaluate(full_evidence.replace(**{f: None}), GatePolicy())
        assert not res.passed, f"{check.name} passed without {f}"
        assert f in res.detail, res.detail


def test_degenerate_evidence_gives_a_result_never_an_exception(check, full_evidence):
    flat = full_evidence.replace(challenger_returns=np.zeros(full_evidence.n_bars),
                                 champion_returns=np.zeros(full_evidence.n_bars), trial_returns=None, n_trials=1)
    res = check.evaluate(flat, GatePolicy())
    assert isinstance(res, CheckResult)
    if check.name in ("oos_improvement", "deflated_sharpe", "reality_check"):
        assert not res.passed  # no edge at all is never an improvement


def test_seed_is_part_of_the_result_for_bootstrapped_checks(check, full_evidence):
    a = check.evaluate(full_evidence, GatePolicy(seed=1)).to_dict()
    b = check.evaluate(full_evidence, GatePolicy(seed=1)).to_dict()
    assert a == b
