"""Grid parsing (``NAME=START:STOP:STEP`` ...) and expansion, with property tests."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.sweep import GridError, expand_grid, parse_grid, parse_grid_item


@given(start=st.integers(-1000, 1000), step=st.integers(1, 50), n=st.integers(1, 60))
def test_integer_range_is_inclusive_of_stop_on_the_grid(start, step, n):
    stop = start + (n - 1) * step
    name, values = parse_grid_item(f"fast={start}:{stop}:{step}")
    assert name == "fast"
    assert values == list(range(start, stop + 1, step))
    assert all(type(v) is int for v in values)


@given(start=st.integers(-100, 100), step=st.integers(2, 9), extra=st.integers(1, 8), n=st.integers(1, 20))
def test_integer_range_stops_before_an_off_grid_stop(start, step, extra, n):
    stop = start + (n - 1) * step + min(extra, step - 1)
    assert parse_grid_item(f"x={start}:{stop}:{step}")[1] == list(range(start, start + n * step, step))


@given(start=st.decimals(-10, 10, places=2), step=st.decimals("0.05", 3, places=2), n=st.integers(1, 40))
def test_float_range_has_n_evenly_spaced_values(start, step, n):
    stop = start + (n - 1) * step
    _, values = parse_grid_item(f"n_std={start}:{stop}:{step}")
    assert len(values) == n
    expected = [float(start + i * step) for i in range(n)]
    assert values == pytest.approx(expected, abs=1e-9)


@given(st.lists(st.one_of(st.integers(-10**6, 10**6), st.booleans()), min_size=1, max_size=8))
def test_value_lists_round_trip(values):
    text = ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    assert parse_grid_item(f"p={text}") == ("p", values)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(st.integers(), min_size=1, max_size=4),
                       min_size=1))
def test_expansion_is_the_cartesian_product_in_key_order(grid):
    combos = expand_grid(grid)
    want = [dict(zip(grid, vals, strict=True)) for vals in itertools.product(*grid.values())]
    assert combos == want


def test_list_of_param_dicts_is_kept_in_order():
    grid = [{"fast": 3, "slow": 9}, {"fast": 5}]
    assert expand_grid(grid, ["fast", "slow", "long_short"]) == grid


def test_scalar_axis_counts_as_one_value_and_single_item_parses():
    assert expand_grid({"fast": 5, "slow": [10, 20]}) == [{"fast": 5, "slow": 10}, {"fast": 5, "slow": 20}]
    assert parse_grid_item("long_short=true") == ("long_short", [True])
    assert parse_grid_item("slow=60:62") == ("slow", [60, 61, 62])
    assert parse_grid(["fast=1,2", "slow=5"]) == {"fast": [1, 2], "slow": [5]}


@pytest.mark.parametrize("text, fragment", [
    ("fast", "NAME=VALUES"),
    ("fast=", "NAME=VALUES"),
    ("1x=3", "NAME=VALUES"),
    ("fast=5:1:1", "below start"),
    ("fast=1:5:0", "step must be > 0"),
    ("fast=1:5:-1", "step must be > 0"),
    ("fast=a:b", "must be numbers"),
    ("fast=1:2:3:4", "START:STOP"),
    ("fast=1,,2", "empty value"),
    ("x=inf", "finite"),
])
def test_malformed_grid_items_are_rejected_with_the_reason(text, fragment):
    with pytest.raises(GridError, match=fragment):
        parse_grid_item(text)


def test_unknown_parameter_gets_a_did_you_mean_hint_and_duplicates_are_refused():
    with pytest.raises(GridError, match="did you mean 'fast'"):
        expand_grid({"fats": [1]}, ["fast", "slow"])
    with pytest.raises(GridError, match="given twice"):
        parse_grid(["fast=1", "fast=2"])
    with pytest.raises(GridError, match="no values"):
        expand_grid({"fast": []})
    with pytest.raises(GridError, match="empty"):
        expand_grid([])
    with pytest.raises(GridError, match="limit"):
        expand_grid({"a": range(5000), "b": range(5000)})
