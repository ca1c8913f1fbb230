"""The gate's kernels against independent references (arch, numpy, pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from arch.bootstrap import StationaryBootstrap
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.gate import nb

finite = st.floats(-0.2, 0.2, allow_nan=False, allow_infinity=False)


def test_stationary_indices_match_arch_index_for_index():
    T, reps, block = 97, 25, 6.5
    data = np.arange(T, dtype=float)
    bs = StationaryBootstrap(block, data, seed=np.random.default_rng(11))
    theirs = np.array([bs.update_indices() for _ in range(reps)])
    gen = np.random.default_rng(11)
    ours = []
    for _ in range(reps):  # arch draws T start indices, then T uniforms, per resample
        starts = gen.integers(T, size=T, dtype=np.int64)
        u = gen.random(T)
        ours.append(nb.stationary_indices_nb(starts[None, :], u[None, :], 1.0 / block)[0])
    np.testing.assert_array_equal(np.array(ours), theirs)


def test_stationary_indices_mean_block_length_is_one_over_p():
    gen = np.random.default_rng(3)
    R, T, L = 200, 2000, 8.0
    idx = nb.stationary_indices_nb(gen.integers(0, T, (R, T)), gen.random((R, T)), 1.0 / L)
    continues = (np.diff(idx, axis=1) == 1) | ((idx[:, 1:] == 0) & (idx[:, :-1] == T - 1))
    assert abs(1.0 / (1.0 - continues.mean()) - L) < 0.3


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(3, 60), elements=finite))
def test_sharpe_matches_numpy(x):
    got = nb.sharpe_1d_nb(x)
    sd = np.std(x, ddof=1)
    want = 0.0 if not sd > 0 or np.ptp(x) == 0 else x.mean() / sd
    assert np.isclose(got, want, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 80), elements=st.floats(-0.5, 0.5)))
def test_max_drawdown_matches_pandas(r):
    eq = pd.Series(np.concatenate([[1.0], np.cumprod(1.0 + r)]))
    want = float((1.0 - eq / eq.cummax()).max())
    assert np.isclose(nb.max_drawdown_1d_nb(r), want, atol=1e-12)


def test_sharpe_difference_bootstrap_is_the_statistic_on_resampled_rows():
    gen = np.random.default_rng(0)
    a, b = gen.normal(0.001, 0.01, 50), gen.normal(0.0, 0.01, 50)
    idx = nb.stationary_indices_nb(gen.integers(0, 50, (4, 50)), gen.random((4, 50)), 0.2)
    got = nb.sharpe_diff_bootstrap_nb(a, b, idx)
    want = [a[i].mean() / a[i].std(ddof=1) - b[i].mean() / b[i].std(ddof=1) for i in idx]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_sharpe_columns_nan_for_constant_column():
    x = np.column_stack([np.linspace(0, 1, 10), np.zeros(10)])
    got = nb.sharpe_columns_nb(x)
    assert np.isclose(got[0], x[:, 0].mean() / x[:, 0].std(ddof=1)) and np.isnan(got[1])
