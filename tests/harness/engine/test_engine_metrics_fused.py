"""``metrics_nb`` (fused passes, branch-free sums, division only at new lows) gives bit for
bit what the single-metric kernels give: total return, CAGR, volatility, Sharpe,
Sortino, Calmar, max drawdown and its duration."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.engine import nb

_returns = arrays(np.float64, st.integers(0, 200),
                  elements=st.floats(-0.5, 0.5, allow_nan=False) | st.sampled_from([0.0, -1.0, np.nan]))


def _reference(eq: np.ndarray, init: float, ppy: float) -> np.ndarray:
    r = nb.returns_nb(eq, init)
    mdd, dur = nb.max_drawdown_nb(eq, init)
    return np.array([nb.total_return_nb(eq, init), nb.cagr_nb(eq, init, ppy), nb.ann_volatility_nb(r, ppy),
                     nb.sharpe_nb(r, ppy), nb.sortino_nb(r, ppy), nb.calmar_nb(eq, init, ppy), mdd, dur])


@settings(max_examples=200, deadline=None)
@given(_returns, st.sampled_from([1.0, 100_000.0, 3.5]), st.sampled_from([252.0, 525_600.0]))
def test_metrics_nb_is_bit_identical_to_the_single_metric_kernels(r, init, ppy):
    # equity paths with flat stretches, new highs, zeros (wiped out) and missing values
    eq = init * np.cumprod(1.0 + np.nan_to_num(r, nan=0.0))
    eq[np.isnan(r)] = np.nan
    out = np.empty(8)
    nb.metrics_nb(eq, init, ppy, out)
    np.testing.assert_array_equal(out, _reference(eq, init, ppy))


def test_drawdown_found_when_a_lower_low_comes_after_a_partial_recovery():
    eq = np.array([100.0, 80.0, 90.0, 70.0, 95.0, 120.0, 60.0, 110.0])
    out = np.empty(8)
    nb.metrics_nb(eq, 100.0, 252.0, out)
    assert out[6] == 60.0 / 120.0 - 1.0
    assert out[7] == 4  # bars 1..4 under the peak of 100
    np.testing.assert_array_equal(out, _reference(eq, 100.0, 252.0))
