"""``argsort_stable_nb`` (the engine's own merge sort, quick to compile) gives exactly
``np.argsort(kind="mergesort")``: the same permutation, ties in their original order; and the
exposure count (union of holding intervals) is right with and without that sort."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.engine import nb

_values = st.lists(st.sampled_from([-2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, np.inf, -np.inf]) | st.floats(
    allow_nan=False, width=64), min_size=0, max_size=70)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_float_argsort_equals_numpy_mergesort(values):
    a = np.array(values, dtype=np.float64)
    np.testing.assert_array_equal(nb.argsort_stable_nb(a), np.argsort(a, kind="mergesort"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=70))
def test_int_argsort_equals_numpy_mergesort_with_many_ties(values):
    a = np.array(values, dtype=np.int64)
    np.testing.assert_array_equal(nb.argsort_stable_nb(a), np.argsort(a, kind="mergesort"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 15)), max_size=25))
def test_exposure_bars_count_the_union_of_the_intervals_sorted_or_not(spans):
    entry = np.array([a for a, _ in spans], dtype=np.int64)
    exit_ = np.array([a + d for a, d in spans], dtype=np.int64)
    covered = set()
    for a, b in zip(entry, exit_, strict=True):
        covered.update(range(a, b))
    assert nb.exposure_bars_nb(entry, exit_) == len(covered)
    order = np.argsort(entry, kind="stable")
    assert nb.exposure_bars_sorted_nb(entry[order], exit_[order]) == len(covered)
