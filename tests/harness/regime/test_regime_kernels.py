"""The Numba kernels against independent references (NumPy/SciPy loops, the arch package)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness import regime
from harness.regime import nb


@settings(max_examples=40, deadline=None)
@given(values=arrays(np.float64, st.integers(1, 60), elements=st.floats(-5, 5, allow_nan=False)),
       window=st.integers(1, 12))
def test_classifier_reference_is_the_median_of_the_trailing_window(values, window):
    ring, srt, cst = np.zeros(window), np.zeros(window), np.array([0.0, 0.0, 1.0, 0.0])
    for t, v in enumerate(values):
        _, x = nb.classify_step_nb(v, ring, srt, cst, 0.0, 1.5, 1.25, 1.5, 1.25)
        expected = v - np.median(values[max(0, t - window + 1):t + 1])
        assert x == pytest.approx(expected, abs=1e-12)
        np.testing.assert_array_equal(srt[:int(cst[0])], np.sort(values[max(0, t - window + 1):t + 1]))


def test_classifier_hysteresis_enters_and_exits_at_the_configured_ratios():
    ring, srt, cst = np.zeros(1000), np.zeros(1000), np.array([0.0, 0.0, 1.0, 0.0])
    for _ in range(500):
        nb.classify_step_nb(0.0, ring, srt, cst, 0.0, 1.5, 1.25, 1.5, 1.25)
    labels = [nb.classify_step_nb(math.log(v), ring, srt, cst, 0.0, 1.5, 1.25, 1.5, 1.25)[0]
              for v in (1.4, 1.6, 1.3, 1.2, 1.0, 0.7, 0.62, 0.75, 0.85)]
    # 1.4 below entry; 1.6 enters high; 1.3 stays (above exit 1.25); 1.2 exits;
    # 0.7 > 1/1.5 stays normal; 0.62 enters low; 0.75 < 1/1.25 stays; 0.85 exits
    assert labels == [1, 2, 2, 1, 1, 1, 0, 0, 1]


def test_ewma_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    r = rng.standard_normal(400) * 0.01
    hl = 15.0
    lam = 0.5 ** (1 / hl)
    var, expected = 0.0, []
    for n, x in enumerate(r, 1):
        var += max(1 - lam, 1 / n) * (x * x - var)
        expected.append(math.sqrt(var))
    res = regime.get("ewma", halflife=hl).run(r)
    np.testing.assert_allclose(res.volatility, expected, rtol=1e-13)
    # once past the running-mean start it is pandas' recursive EWMA of r**2
    import pandas as pd

    n0 = int(1 / (1 - lam)) + 1
    seed = expected[n0 - 1] ** 2
    ew = pd.Series(np.concatenate([[seed], r[n0:] ** 2])).ewm(alpha=1 - lam, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(res.volatility[n0:], np.sqrt(ew[1:]), rtol=1e-12)


def _cusum_reference(r, rho, h, ref_window, min_ref):
    """The documented CUSUM, written out plainly."""
    ref, nref = 0.0, 0
    s_up = s_dn = 0.0
    up, dn = [], []  # squared returns since each statistic last left zero
    alarms, vols = [], []
    for t, x in enumerate(r):
        x2 = x * x
        alarm = False
        if nref >= min_ref:
            z = x2 / ref
            s_up += 0.5 * (1 - 1 / rho) * z - 0.5 * math.log(rho)
            s_dn += 0.5 * (1 - rho) * z + 0.5 * math.log(rho)
            up = [] if s_up <= 0 else up + [x2]
            dn = [] if s_dn <= 0 else dn + [x2]
            s_up, s_dn = max(s_up, 0.0), max(s_dn, 0.0)
            if s_up > h or s_dn > h:
                seg = up if s_up >= s_dn else dn
                ref, nref = sum(seg) / len(seg), len(seg)
                s_up = s_dn = 0.0
                up, dn = [], []
                alarm = True
        if not alarm:
            nref += 1
            ref += (x2 - ref) / min(nref, ref_window)
        else:
            alarms.append(t)
        vols.append(math.sqrt(ref))
    return np.array(alarms), np.array(vols)


@pytest.mark.parametrize("seed", [1, 2])
def test_cusum_matches_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    vol = np.repeat([0.01, 0.025, 0.008, 0.012], 300)
    r = rng.standard_normal(vol.size) * vol
    det = regime.get("cusum", nu=0.0, rho=2.5, threshold=8.0, ref_window=200, min_ref=15)
    res = det.run(r)
    alarms, vols = _cusum_reference(r, 2.5, 8.0, 200, 15)
    assert alarms.size >= 3
    np.testing.assert_array_equal(res.change_points, alarms)
    np.testing.assert_allclose(res.volatility, vols, rtol=1e-10)


def _t_cusum_reference(r, rho, h, nu, ref_window, min_ref):
    """The documented Student-t CUSUM, written out plainly, its log-likelihood ratios from SciPy."""
    from scipy import stats

    def m_step(s2, x2, n):  # the t likelihood's reweighted mean of squares
        w = (nu + 1) / (nu + x2 / s2)
        return s2 + (w * x2 - s2) / n

    def llr(x, scale2_1, scale2_0):
        return stats.t.logpdf(x, nu, scale=math.sqrt(scale2_1)) - stats.t.logpdf(x, nu, scale=math.sqrt(scale2_0))

    var, s2, nref = 0.0, 0.0, 0
    s_up = s_dn = 0.0
    up, dn = [], []  # squared returns since each statistic last left zero
    cand_up = cand_dn = 0.0
    alarms, vols = [], []
    for t, x in enumerate(r):
        x2 = x * x
        alarm = False
        if nref >= min_ref and s2 > 0:
            s_up += llr(x, rho * s2, s2)
            s_dn += llr(x, s2 / rho, s2)
            if s_up <= 0:
                s_up, up = 0.0, []
            else:
                cand_up = m_step(cand_up if up else s2 * rho, x2, len(up) + 2)
                up = up + [x2]
            if s_dn <= 0:
                s_dn, dn = 0.0, []
            else:
                cand_dn = m_step(cand_dn if dn else s2 / rho, x2, len(dn) + 2)
                dn = dn + [x2]
            if s_up > h or s_dn > h:
                seg, s2 = (up, cand_up) if s_up >= s_dn else (dn, cand_dn)
                var, nref = sum(seg) / len(seg), len(seg)
                s_up = s_dn = 0.0
                up, dn = [], []
                alarm = True
        if not alarm:
            nref += 1
            n = min(nref, ref_window)
            var += (x2 - var) / n
            s2 = m_step(s2, x2, n) if s2 > 0 else x2
        else:
            alarms.append(t)
        vols.append(math.sqrt(var))
    return np.array(alarms), np.array(vols)


@pytest.mark.parametrize(("seed", "nu"), [(1, 5.0), (2, 3.0)])
def test_student_t_cusum_matches_a_plain_loop_with_scipy_likelihoods(seed, nu):
    rng = np.random.default_rng(seed)
    vol = np.repeat([0.01, 0.025, 0.008, 0.012], 300)
    r = rng.standard_t(4, vol.size) * vol
    det = regime.get("cusum", nu=nu, rho=2.5, threshold=8.0, ref_window=200, min_ref=15)
    res = det.run(r)
    alarms, vols = _t_cusum_reference(r, 2.5, 8.0, nu, 200, 15)
    assert alarms.size >= 3
    np.testing.assert_array_equal(res.change_points, alarms)
    np.testing.assert_allclose(res.volatility, vols, rtol=1e-10)


@pytest.mark.parametrize("df", [3, 5, 8])
def test_the_online_t_scale_converges_to_scipys_maximum_likelihood_scale(df):
    from scipy import stats

    r = 0.01 * np.random.default_rng(df).standard_t(df, 9999)
    det = regime.get("cusum", nu=float(df), threshold=100.0, ref_window=100_000, min_ref=10_000)
    for x in r:
        det.update(x)
    scale = math.sqrt(det.state()["arrays"]["cusum"]["data"][10])
    _, _, mle = stats.t.fit(r, f0=df, floc=0)
    assert scale == pytest.approx(mle, rel=0.02)


def test_one_outlier_moves_the_student_t_cusum_by_a_bounded_step():
    """The t log-likelihood ratio of a huge return is at most nu/2 * log(rho): no single alarm."""
    from harness.regime.nb import cusum_llr_nb

    for nu, rho in ((5.0, 3.0), (3.0, 4.0)):
        up, dn = cusum_llr_nb(1e12, rho, nu)
        assert up == pytest.approx(0.5 * nu * math.log(rho), rel=1e-6) and dn < 0
    r = np.full(600, 0.01) * np.random.default_rng(0).standard_normal(600)
    r[400] = 0.5  # a 50-sigma return
    assert regime.get("cusum").run(r).change_points.size == 0
    assert regime.get("cusum", nu=0.0).run(r).change_points[0] == 400  # the Gaussian CUSUM alarms at once


def _bocpd_reference(r, hazard, kappa0, alpha0, lam):
    """Adams & MacKay (2007), Algorithm 1, unbounded run length, SciPy's Student-t."""
    from scipy import stats

    probs = np.array([1.0])
    mu, kappa = np.array([0.0]), np.array([kappa0])
    alpha, beta = np.array([alpha0]), np.array([alpha0 * r[0] ** 2])
    long_var = r[0] ** 2
    out = []
    for n, x in enumerate(r, 1):
        beta0 = alpha0 * long_var
        pred = stats.t.pdf(x, df=2 * alpha, loc=mu, scale=np.sqrt(beta * (kappa + 1) / (alpha * kappa)))
        growth = probs * pred * (1 - hazard)
        cp = np.sum(probs * pred * hazard)
        probs = np.concatenate([[cp], growth])
        probs /= probs.sum()
        beta = np.concatenate([[beta0], beta + kappa * (x - mu) ** 2 / (2 * (kappa + 1))])
        mu = np.concatenate([[0.0], (kappa * mu + x) / (kappa + 1)])
        kappa = np.concatenate([[kappa0], kappa + 1])
        alpha = np.concatenate([[alpha0], alpha + 0.5])
        long_var += max(1 - lam, 1 / n) * (x * x - long_var)
        out.append(probs.copy())
    return out


def test_bocpd_run_length_posterior_matches_adams_mackay_reference():
    rng = np.random.default_rng(3)
    r = np.concatenate([rng.standard_normal(60) * 0.01, rng.standard_normal(40) * 0.04])
    det = regime.get("bocpd", max_run=200, expected_run=100.0, kappa0=0.5, alpha0=2.0,
                     prior_halflife=30.0, min_obs=10_000)
    ref = _bocpd_reference(r, 1 / 100, 0.5, 2.0, 0.5 ** (1 / 30))
    for t, x in enumerate(r):
        det.update(x)
        np.testing.assert_allclose(det._state["prob"][:t + 2], ref[t], rtol=1e-9, atol=1e-300)
    # after the shift at bar 60 most mass sits on runs that started there
    post = ref[-1]
    assert int(np.argmax(post)) == 40 and post[30:50].sum() > 0.85


def test_bocpd_bounded_run_length_keeps_a_proper_distribution():
    rng = np.random.default_rng(4)
    det = regime.get("bocpd", max_run=30, window=20)
    res = det.run(rng.standard_normal(500) * 0.01)
    prob = det._state["prob"]
    assert res.volatility.size == 500
    for x in rng.standard_normal(100) * 0.01:
        det.update(x)
        assert math.isclose(det._state["prob"].sum(), 1.0, rel_tol=1e-12)
    assert prob.shape == (30,)


def test_garch_refit_continues_from_arch_forecast():
    from arch import arch_model

    rng = np.random.default_rng(5)
    n = 300
    r = np.empty(n)
    s2 = 1e-4
    for t in range(n):  # a genuine GARCH(1,1) path
        r[t] = math.sqrt(s2) * rng.standard_normal()
        s2 = 2e-6 + 0.1 * r[t] ** 2 + 0.85 * s2
    det = regime.get("garch", window=200, min_fit=200, refit_every=1000)
    for x in r[:200]:
        det.update(x)
    res = arch_model(100 * r[:200], mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
    fc = float(res.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0])
    omega, a, b = (float(res.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    np.testing.assert_allclose(det._state["params"], [omega, a, b], rtol=1e-4)
    assert det._state["garch"][0] == pytest.approx(fc, rel=1e-4)
    s = det.update(r[200])
    assert s.volatility == pytest.approx(math.sqrt(omega + a * (100 * r[200]) ** 2 + b * fc) / 100, rel=1e-4)
