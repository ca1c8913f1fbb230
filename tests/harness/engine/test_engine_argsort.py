"""``argsort_stable_nb`` (the engine's own merge sort, quick to compile) gives exactly
``np.argsort(kind="mergesort")``: the same permutation, ties in their original order."""

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
