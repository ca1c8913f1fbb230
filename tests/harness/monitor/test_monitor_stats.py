"""The drift statistics against scipy, hand calculations and their properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.spatial.distance import jensenshannon

from harness.errors import InputError
from harness.monitor import (
    autocorrelation_time,
    jensen_shannon,
    ks,
    psi,
    quantile_edges,
    wasserstein,
)

samples = hs.lists(hs.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=120)
tied = hs.lists(hs.integers(-5, 5).map(float), min_size=1, max_size=120)


def _psi_reference(ref, cur, bins=10):
    """PSI written independently with numpy, straight from the documented convention."""
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    edges = np.quantile(ref, np.arange(bins + 1) / bins)
    r = np.bincount(np.searchsorted(edges[1:-1], ref, side="right"), minlength=bins) / ref.size
    c = np.bincount(np.searchsorted(edges[1:-1], cur, side="right"), minlength=bins) / cur.size
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    return float(np.sum((c - r) * np.log(c / r)))


def test_psi_hand_calculation_two_bins():
    # edges [0, 4.5, 9]: reference 5 | 5, current 3 | 1
    value = psi(np.arange(10.0), [0, 0, 0, 9], bins=2)
    assert value == pytest.approx(0.25 * math.log(1.5) + 0.25 * math.log(2.0), rel=1e-12)


def test_psi_value_on_an_edge_falls_in_the_bin_above_and_empty_bins_are_floored():
    # edges [0, 2, 4]: reference {0, 1} | {2, 3, 4}; the current 2s sit on the inner edge
    value = psi([0, 1, 2, 3, 4.0], [2, 2.0], bins=2)
    expected = (1e-4 - 0.4) * math.log(1e-4 / 0.4) + (1 - 0.6) * math.log(1 / 0.6)
    assert value == pytest.approx(expected, rel=1e-12)


def test_psi_values_outside_the_reference_range_fall_in_the_end_bins():
    assert psi([0, 1, 2, 3.0], [-100.0, 100.0], bins=2) == pytest.approx(0.0, abs=1e-15)
    assert psi([0, 1, 2, 3.0], [-100.0, -50.0], bins=2) == pytest.approx(
        (1 - 0.5) * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5), rel=1e-12)


def test_psi_edges_use_numpy_linear_quantiles():
    ref = np.array([3.0, 1.0, 7.0, 2.0, 10.0])
    assert np.array_equal(quantile_edges(ref, 4), np.quantile(ref, [0, 0.25, 0.5, 0.75, 1.0]))


def test_psi_of_a_known_mean_shift_is_about_a_quarter():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=200_000)
    assert 0.2 < psi(ref, rng.normal(0.5, size=200_000)) < 0.27  # the textbook "alert" level


@settings(max_examples=150, deadline=None)
@given(samples, samples, hs.integers(2, 12))
def test_psi_matches_an_independent_implementation_and_is_non_negative(ref, cur, bins):
    value = psi(ref, cur, bins)
    assert value == pytest.approx(_psi_reference(ref, cur, bins), rel=1e-10, abs=1e-12)
    assert value >= -1e-12


@settings(max_examples=50, deadline=None)
@given(samples)
def test_psi_and_jensen_shannon_of_a_sample_against_itself_are_zero(x):
    assert psi(x, x) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon(x, x) == pytest.approx(0.0, abs=1e-7)


@settings(max_examples=150, deadline=None)
@given(hs.one_of(samples, tied), hs.one_of(samples, tied))
def test_ks_equals_scipy_ks_2samp(ref, cur):
    expected = st.ks_2samp(ref, cur)
    d, p = ks(ref, cur)
    assert d == pytest.approx(float(expected.statistic), rel=1e-12, abs=1e-15)
    assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("n1", "n2", "shift"), [(10, 10, 0.5), (500, 2000, 0.1), (2000, 500, 0.3),
                                                 (9999, 10000, 0.05), (12_000, 300, 0.2), (20_000, 20_000, 0.02),
                                                 (700, 700, 0.0)])
def test_ks_equals_scipy_on_the_exact_and_the_asymptotic_path(n1, n2, shift):
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), rng.normal(shift, size=n2)
    expected = st.ks_2samp(a, b)
    d, p = ks(a, b)
    assert d == pytest.approx(float(expected.statistic), rel=1e-12)
    assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)


@settings(max_examples=150, deadline=None)
@given(hs.one_of(samples, tied), hs.one_of(samples, tied))
def test_wasserstein_equals_scipy_and_is_symmetric(ref, cur):
    expected = st.wasserstein_distance(ref, cur)
    assert wasserstein(ref, cur) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert wasserstein(ref, cur) == pytest.approx(wasserstein(cur, ref), rel=1e-12, abs=1e-12)


def test_wasserstein_hand_calculation():
    assert wasserstein([0.0, 1.0, 3.0], [5.0, 6.0, 8.0]) == pytest.approx(5.0)
    assert wasserstein([0.0], [2.0, 4.0]) == pytest.approx(3.0)


@settings(max_examples=100, deadline=None)
@given(samples, samples, hs.integers(2, 12))
def test_jensen_shannon_equals_scipy_on_the_psi_bins(ref, cur, bins):
    r, c = np.asarray(ref), np.asarray(cur)
    edges = np.quantile(r, np.arange(bins + 1) / bins)
    pr = np.bincount(np.searchsorted(edges[1:-1], r, side="right"), minlength=bins) / r.size
    pc = np.bincount(np.searchsorted(edges[1:-1], c, side="right"), minlength=bins) / c.size
    value = jensen_shannon(ref, cur, bins)
    assert value == pytest.approx(float(jensenshannon(pr, pc, base=2)), rel=1e-7, abs=1e-7)
    assert 0.0 <= value <= 1.0


def test_jensen_shannon_hand_calculation():
    # reference bins {0..4} | {5..9}; every current value in the top bin: p = (.5, .5), q = (0, 1),
    # m = (.25, .75); KL(p||m) = .5 + .5 log2(2/3), KL(q||m) = log2(4/3)
    jsd = 0.5 * (0.5 + 0.5 * math.log2(2 / 3)) + 0.5 * math.log2(4 / 3)
    assert jensen_shannon(np.arange(10.0), np.full(5, 100.0), bins=2) == pytest.approx(math.sqrt(jsd), rel=1e-12)


def test_nan_is_dropped_and_bad_input_is_named():
    assert psi([1, 2, np.nan, 3.0], [1, 2, 3.0]) == psi([1, 2, 3.0], [1, 2, 3.0])
    with pytest.raises(InputError, match="current has no finite value"):
        ks([1.0, 2.0], [np.nan])
    with pytest.raises(InputError, match="reference holds an infinite value"):
        psi([1.0, np.inf], [1.0])
    with pytest.raises(InputError, match="bins must be an integer >= 2"):
        psi([1.0, 2.0], [1.0], bins=1)
    with pytest.raises(InputError, match="reference must be numeric"):
        wasserstein(["a"], [1.0])
    with pytest.raises(InputError, match="must be 1-D"):
        jensen_shannon(np.ones((3, 3)), [1.0])


def test_autocorrelation_time_of_ar1_is_near_its_theoretical_value():
    rng = np.random.default_rng(3)
    phi, n = 0.95, 50_000
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    assert autocorrelation_time(x) == pytest.approx((1 + phi) / (1 - phi), rel=0.2)
    assert autocorrelation_time(rng.normal(size=n)) == pytest.approx(1.0, abs=0.1)
    assert autocorrelation_time(np.ones(100)) == 1.0


@pytest.mark.parametrize("en", [3, 5, 10, 20, 40, 218, 1000])
def test_effective_pvalue_tracks_scipys_kstwo_and_errs_on_the_quiet_side(en):
    # Stephens' form is within 5% of the exact one-sample law from 40 effective samples on (p >= 1e-4),
    # and never more than 4% below it (it over-states small p-values at tiny sizes: fewer alarms)
    from harness.monitor import ks_pvalue_effective

    for p in (0.5, 0.1, 0.01, 1e-3, 1e-4, 1e-6):
        d = float(st.kstwo.isf(p, en))
        got = float(ks_pvalue_effective(d, en * 2, en * 2, 1.0)[0])  # n1 = n2 = 2 en -> en
        assert got >= 0.96 * p, (en, p, got)
        if en >= 40 and p >= 1e-4:
            assert got == pytest.approx(p, rel=0.05), (en, p, got)


def test_effective_pvalue_grows_as_the_effective_fraction_shrinks():
    from harness.monitor import ks_pvalue_effective

    p = ks_pvalue_effective([0.1, 0.1, 0.1], 800, 300, [1.0, 0.3, 0.05])
    assert p[0] < p[1] < p[2] <= 1.0


def test_kolmogorov_survival_function_matches_scipy():
    from harness.monitor import nb

    for x in (0.2, 0.5, 0.8, 1.0, 1.17, 1.19, 1.36, 2.0, 3.0):
        assert nb.kolmogorov_sf_nb(x) == pytest.approx(float(st.kstwobign.sf(x)), rel=1e-10, abs=1e-300)


def test_exact_binomial_pvalue_matches_scipy_binomtest():
    from harness.monitor import nb

    for k, n, p in [(3, 10, 0.2), (0, 5, 0.5), (40, 100, 0.3), (7, 7, 0.9), (12, 300, 0.1), (0, 0, 0.5)]:
        expected = st.binomtest(k, n, p).pvalue if n else 1.0
        assert nb.binom_two_sided_nb(k, n, p) == pytest.approx(expected, rel=1e-9)


def test_multiple_testing_adjustments_by_hand():
    from harness.monitor._drift import adjust_pvalues

    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, np.nan, 0.12, 1.0])
    # BH: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.06, 0.0533, 0.5 -> step-up minimum from the top
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.04, 0.04 * 4 / 3, np.nan, 0.04 * 4 / 3, 0.5])
