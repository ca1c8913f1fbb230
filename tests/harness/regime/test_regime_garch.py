"""The garch detector says so when an ``arch`` fit fails, and what it keeps instead."""

from __future__ import annotations

import numpy as np
import pytest

from harness import regime

SMALL = {"window": 200, "refit_every": 60, "min_fit": 100, "calibration_window": 400, "warmup": 60}


def _returns(n: int = 400) -> np.ndarray:
    return 0.01 * np.random.default_rng(3).standard_normal(n)


def test_a_fit_that_raises_warns_and_keeps_the_running_mean_before_any_fit(monkeypatch):
    import arch

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(arch, "arch_model", broken)
    r = _returns()
    with pytest.warns(regime.FitWarning, match=r"refit after \d+ observations .* raised LinAlgError: singular "
                                                r"matrix; keeping no parameters yet") as caught:
        res = regime.get("garch", **SMALL).run(r)
    assert len(caught) == 6  # the fits at 100, 160, ..., 400 observations
    # no fit ever succeeded: the variance is the running mean of r**2 throughout
    np.testing.assert_allclose(res.volatility, np.sqrt(np.cumsum(r ** 2) / np.arange(1, r.size + 1)), rtol=1e-12)


def test_a_rejected_fit_warns_and_keeps_the_previous_parameters(monkeypatch):
    import arch

    real = arch.arch_model
    calls = {"n": 0}

    class Explosive:
        def __init__(self, res):
            self.params = {"omega": 0.01, "alpha[1]": 0.5, "beta[1]": 0.6}
            self.conditional_volatility = res.conditional_volatility

    def flaky(*args, **kwargs):
        model = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            return model

        class Wrapped:
            def fit(self, **kw):
                return Explosive(model.fit(**kw))

        return Wrapped()

    monkeypatch.setattr(arch, "arch_model", flaky)
    det = regime.get("garch", **SMALL)
    r = _returns()
    for x in r[:100]:
        det.update(x)
    first = det.state()["arrays"]["params"]["data"]
    assert np.all(np.isfinite(first))
    with pytest.warns(regime.FitWarning, match=r"alpha=0.5, beta=0.6 \(need finite, omega > 0, alpha \+ beta < 1\); "
                                                r"keeping the previous parameters omega="):
        for x in r[100:170]:
            det.update(x)
    assert det.state()["arrays"]["params"]["data"] == first


def test_successful_fits_do_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", regime.FitWarning)
        regime.get("garch", **SMALL).run(_returns())
