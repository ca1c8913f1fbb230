"""Two-sided CUSUM on standardised squared returns (rises and falls of volatility)."""

from __future__ import annotations

import numpy as np

from harness.regime._base import Detector, DetectorConfig, classifier_state
from harness.regime.nb import cusum_advance_nb, empty_outputs
from strategies.params import param

__all__ = ["CUSUMDetector", "CUSUMConfig"]


class CUSUMConfig(DetectorConfig):
    """Page's CUSUM of the variance log-likelihood ratio, both directions."""

    rho: float = param(3.0, low=1.05, high=20.0, log=True,
                       doc="variance ratio the CUSUMs are tuned to detect (up: x rho, down: / rho)")
    threshold: float = param(10.0, low=0.5, high=100.0, log=True,
                             doc="decision threshold h on the log-likelihood-ratio CUSUM")
    ref_window: int = param(500, low=10, high=100_000, search=False,
                            doc="span (bars) of the regime's reference variance once it is that long")
    min_ref: int = param(20, low=2, high=10_000,
                         doc="bars of a new regime before the CUSUMs restart (grace after a change)")

    def check(self) -> None:
        super().check()
        if self.min_ref > self.ref_window:
            self.fail("min_ref", f"must be <= ref_window ({self.ref_window}), got {self.min_ref}")


class CUSUMDetector(Detector):
    """Two CUSUMs of ``z = r**2 / ref_var``: one for a rise by ``rho``, one for a fall.

    A change is detected when either exceeds ``threshold``; the new reference variance
    is the mean of ``r**2`` since the alarming CUSUM last left zero (the estimated change
    point). Volatility is ``sqrt(ref_var)``; labels as for every detector (trailing
    median + hysteresis). Change points are the alarms only: a label may also move
    between alarms as the regime's variance estimate matures.
    """

    name = "cusum"
    Config = CUSUMConfig

    def _params(self) -> np.ndarray:
        c = self.config
        return np.array([c.rho, c.threshold, float(c.ref_window), float(c.min_ref), *c.classifier_params()])

    def _new_state(self) -> dict[str, np.ndarray]:
        return {"cusum": np.zeros(10), **classifier_state(self.config.calibration_window)}

    def _advance(self, state, returns):
        out = empty_outputs(returns.size)
        cusum_advance_nb(returns, self._params(), state["cusum"], state["cls_ring"], state["cls_sorted"],
                         state["cls"], *out)
        return out
