"""GatePolicy: frozen, keyword-only, unknown keys and checks refused with a hint."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import ParamError
from harness.gate import DEFAULT_CHECKS, EmptyGateWarning, GatePolicy, available


def test_defaults():
    p = GatePolicy()
    assert p.mode == "auto" and p.checks == DEFAULT_CHECKS and p.min_dsr == 0.95 and p.alpha == 0.05
    assert p.approval_ttl_seconds == 72 * 3600 and p.allow_self_approval is False


def test_unknown_key_gets_did_you_mean():
    with pytest.raises(ParamError, match="did you mean 'min_dsr'"):
        GatePolicy(min_dssr=0.9)


def test_unknown_check_gets_did_you_mean():
    with pytest.raises(ParamError, match="did you mean 'deflated_sharpe'"):
        GatePolicy(checks=["oos_improvement", "deflated_sharp"])


def test_checks_as_a_string_is_refused():
    with pytest.raises(ParamError, match="list of check names"):
        GatePolicy(checks="pbo")


def test_duplicate_check_is_refused():
    with pytest.raises(ParamError, match="twice"):
        GatePolicy(checks=["pbo", "pbo"])


def test_frozen_and_keyword_only():
    p = GatePolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.alpha = 0.1
    with pytest.raises(ParamError, match="keyword"):
        GatePolicy("auto")


@pytest.mark.parametrize("field, value", [("mode", "yolo"), ("alpha", 0.9), ("min_dsr", 1.5),
                                          ("approval_ttl", "soon"), ("pbo_blocks", 15), ("approval_ttl", -3)])
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ParamError, match=field):
        GatePolicy(**{field: value})


def test_empty_checks_warn_loudly():
    with pytest.warns(EmptyGateWarning, match="EMPTY"):
        GatePolicy(checks=[])


def test_toml_round_trip_of_a_gate_table():
    text = 'mode = "governed"\nchecks = ["oos_improvement", "deflated_sharpe"]\nmin_dsr = 0.9\napproval_ttl = "7d"\n'
    p = GatePolicy.from_toml(text)
    assert p.checks == ("oos_improvement", "deflated_sharpe") and p.approval_ttl_seconds == 7 * 86400
    assert GatePolicy.from_toml(p.to_toml()) == p


def test_numeric_ttl_is_seconds():
    assert GatePolicy(approval_ttl=3600).approval_ttl_seconds == 3600


def test_every_default_check_is_available():
    assert set(DEFAULT_CHECKS) <= set(available())
    assert {"oos_improvement", "deflated_sharpe", "pbo", "reality_check", "max_drawdown", "min_trades",
            "max_turnover", "max_leverage", "fold_stability", "lookahead", "shadow"} == set(available())
