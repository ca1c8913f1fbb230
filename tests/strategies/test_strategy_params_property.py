"""Property test: any valid parameters drawn from a strategy's bounds keep the contract."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as hs

import strategies
from strategies import ParamError
from strategies import testing as st

RULE_BASED = [n for n in strategies.available() if getattr(strategies.get(n), "kernel", None) is not None]


@functools.cache
def _bars():
    return st.contract_bars(160, 4, seed=3)


def _draw_params(data, name: str) -> dict:
    out = {}
    for f in strategies.get(name).Params.describe():
        lo, hi = f["low"], f["high"]
        if f["type"] == "bool":
            out[f["name"]] = data.draw(hs.booleans(), label=f["name"])
        elif f["type"] == "int" and lo is not None:
            out[f["name"]] = data.draw(hs.integers(int(lo), int(min(hi, lo + 60))), label=f["name"])
        elif f["type"] == "float" and lo is not None:
            out[f["name"]] = data.draw(hs.floats(lo, min(hi, 100.0)), label=f["name"])
    return out


@pytest.mark.parametrize("name", RULE_BASED)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hs.data())
def test_any_valid_params_keep_warmup_leverage_and_no_lookahead(name, data):
    try:
        params = strategies.get(name).Params(**_draw_params(data, name))
    except ParamError:
        assume(False)  # a cross-field rule (e.g. fast < slow) rejects the draw
    st.check_weights(name, _bars(), params)
    st.check_no_lookahead(name, _bars(), params, cuts=[40, 100, 159])
