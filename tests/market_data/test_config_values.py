"""``parse_value``: the one reader of values typed on a command line (--param, --grid, --space, --cv)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market_data.config import parse_value


@pytest.mark.parametrize(("text", "want"), [
    ("10", 10), (" -3 ", -3), ("2.5", 2.5), ("1e-3", 0.001), ("true", True), ("False", False),
    ("none", None), ("NULL", None), ("ewma", "ewma"), (" next_open ", "next_open"),
])
def test_values_typed_on_the_command_line(text, want):
    got = parse_value(text)
    assert got == want and type(got) is type(want)


@given(st.integers(-10**12, 10**12))
def test_integers_stay_integers(i):
    assert parse_value(str(i)) == i and isinstance(parse_value(str(i)), int)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_through_their_repr(x):
    got = parse_value(repr(x))
    assert got == x
