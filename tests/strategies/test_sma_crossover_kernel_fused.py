"""The SMA-crossover kernel (means stepped in place, branch-free rule) gives bit for bit
the weights of the plain composition: two ``rolling_mean_1d_nb`` passes, the
crossover rule, then ``scale_by_active_nb``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from strategies import sma_crossover
from strategies.indicators.nb import rolling_mean_1d_nb, scale_by_active_nb


def _reference(close: np.ndarray, fast: int, slow: int, long_short: bool) -> np.ndarray:
    T, N = close.shape
    out = np.zeros((T, N))
    for j in range(N):
        a = np.ascontiguousarray(close[:, j])
        f = rolling_mean_1d_nb(a, fast, fast, np.empty(T))
        s = rolling_mean_1d_nb(a, slow, slow, np.empty(T))
        for t in range(T):
            if t >= slow - 1 and not np.isnan(f[t]) and not np.isnan(s[t]):
                if f[t] > s[t]:
                    out[t, j] = 1.0
                elif long_short and f[t] < s[t]:
                    out[t, j] = -1.0
    scale_by_active_nb(out, close, 0)
    return out


_prices = st.sampled_from([100.0, 100.5, 101.0, 99.0, np.nan, np.inf]) | st.floats(50.0, 150.0)


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 120), st.integers(1, 3)), elements=_prices),
       st.integers(1, 12), st.integers(1, 40), st.booleans())
def test_kernel_weights_equal_the_two_pass_composition_bit_for_bit(close, fast, extra, long_short):
    slow = fast + extra
    out = np.zeros(close.shape)
    sma_crossover.kernel(close, close, close, close, close, np.array([fast, slow, float(long_short)]), out)
    np.testing.assert_array_equal(out, _reference(close, fast, slow, long_short))


def test_kernel_on_a_long_random_walk_equals_the_composition():
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, (5_000, 1)), axis=0))
    close[rng.random(close.shape) < 0.01] = np.nan
    out = np.zeros(close.shape)
    sma_crossover.kernel(close, close, close, close, close, np.array([10.0, 50.0, 1.0]), out)
    np.testing.assert_array_equal(out, _reference(close, 10, 50, True))
    assert (out == 1.0).any() and (out == -1.0).any()
