"""Bayesian online change-point detection (Adams & MacKay 2007), Normal-Gamma model."""

from __future__ import annotations

import numpy as np

from harness.regime._base import Detector, DetectorConfig, classifier_state
from harness.regime.nb import bocpd_advance_nb, empty_outputs, lgamma_ratio_table
from strategies.params import param

__all__ = ["BOCPDDetector", "BOCPDConfig"]


class BOCPDConfig(DetectorConfig):
    """Run-length posterior with a constant hazard and a bounded run length."""

    expected_run: float = param(1000.0, low=2.0, high=1e6, log=True,
                                doc="prior expected regime length (bars); hazard = 1 / expected_run")
    max_run: int = param(300, low=8, high=5000, search=False,
                         doc="run-length bound: runs of max_run - 1 bars or more share one bucket")
    threshold: float = param(0.9, low=0.01, high=0.999,
                             doc="posterior probability of a new run (since the last change) that detects a change")
    window: int = param(150, low=1, high=5000,
                        doc="a change is a new run that started within the last window bars")
    guard: int = param(10, low=0, high=1000,
                       doc="runs starting within guard bars after the last detected change are not a new change")
    kappa0: float = param(1.0, low=1e-6, high=1e6, log=True, doc="Normal-Gamma prior strength of the mean")
    alpha0: float = param(1.0, low=0.5, high=1e6, log=True, doc="Normal-Gamma prior shape of the precision")
    prior_halflife: float = param(250.0, low=1.0, high=1e6, log=True,
                                  doc="half-life (bars) of the EWMA of r**2 that scales the prior variance")
    min_obs: int = param(30, low=0, high=100_000, search=False, doc="observations before the first detection")

    def check(self) -> None:
        super().check()
        if self.window > self.max_run - 2:
            self.fail("window", f"must be <= max_run - 2 ({self.max_run - 2}), got {self.window}")


class BOCPDDetector(Detector):
    """Adams & MacKay's recursion over run lengths ``0..max_run-1`` with a Student-t
    predictive per run (Normal-Gamma conjugate: unknown mean and variance).

    The score is the posterior probability that the current run started after the last
    detected change (plus ``guard`` bars); above ``threshold`` a change is detected at
    this bar and the segment restarts at the most probable run's start. Volatility is
    the posterior mean of sigma under the current segment's run. O(max_run) per bar.
    """

    name = "bocpd"
    Config = BOCPDConfig
    _cache: tuple | None = None  # (params, scratch, lgamma table): derived from the frozen config

    def _params(self) -> np.ndarray:
        c = self.config
        lam = 0.5 ** (1.0 / c.prior_halflife)
        return np.array([1.0 / c.expected_run, c.threshold, float(c.guard), c.kappa0, c.alpha0, lam,
                         float(c.min_obs), *c.classifier_params(), float(c.window)])

    def _new_state(self) -> dict[str, np.ndarray]:
        R = self.config.max_run
        st = np.zeros(6)
        return {"bocpd": st, "prob": np.zeros(R), "mu": np.zeros(R), "kappa": np.zeros(R),
                "alpha": np.zeros(R), "beta": np.zeros(R), **classifier_state(self.config.calibration_window)}

    def _advance(self, state, returns):
        out = empty_outputs(returns.size)
        if self._cache is None:
            c = self.config
            self._cache = (self._params(), np.empty((5, c.max_run)), lgamma_ratio_table(c.alpha0, c.max_run))
        p, scratch, lg_tab = self._cache
        bocpd_advance_nb(returns, p, state["bocpd"], state["prob"], state["mu"], state["kappa"],
                         state["alpha"], state["beta"], scratch, lg_tab, state["cls_ring"], state["cls_sorted"],
                         state["cls"], *out)
        return out
