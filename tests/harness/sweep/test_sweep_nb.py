"""The sweep's metric kernel is bit-identical to the engine's ``metrics_nb`` (property test)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.engine.nb import metrics_nb
from harness.sweep.nb import N_METRICS, SWEEP_METRICS, metrics_into_nb


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 300), flat=st.booleans(),
       want_bits=st.lists(st.booleans(), min_size=N_METRICS, max_size=N_METRICS))
def test_metrics_into_scratch_equal_engine_metrics_for_every_wanted_metric(seed, T, flat, want_bits):
    rng = np.random.default_rng(seed)
    rets = np.zeros(T) if flat else rng.normal(0.0005, 0.02, T)
    equity = 1000.0 * np.cumprod(1 + rets)
    ref = np.empty(8)
    metrics_nb(equity, 1000.0, 252.0, ref)
    out = np.full(N_METRICS, -7.0)
    r = np.full(T, 123.0)  # dirty scratch must not matter
    want = np.array(want_bits, dtype=np.bool_)
    metrics_into_nb(equity, 1000.0, 252.0, r, want, out)
    for i, name in enumerate(SWEEP_METRICS[:8]):
        if want[i]:
            np.testing.assert_array_equal(out[i], ref[i], err_msg=name)  # bit-identical (NaN == NaN)
    full = np.empty(N_METRICS)
    metrics_into_nb(equity, 1000.0, 252.0, r, np.ones(N_METRICS, np.bool_), full)
    np.testing.assert_array_equal(full[:8], ref)
