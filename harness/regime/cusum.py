"""Two-sided CUSUM of the scale log-likelihood ratio (rises and falls of volatility),
under a Student-t observation model by default (Gaussian with ``nu=0``)."""

from __future__ import annotations

import numpy as np

from harness.regime._base import Detector, DetectorConfig, classifier_state
from harness.regime.nb import CUSUM_STATE_SIZE, cusum_advance_nb, empty_outputs
from strategies.params import param

__all__ = ["CUSUMDetector", "CUSUMConfig"]


class CUSUMConfig(DetectorConfig):
    """Page's CUSUM of the variance log-likelihood ratio, both directions."""

    nu: float = param(5.0, low=0.0, high=1000.0, search=False,
                      doc="degrees of freedom of the Student-t observation model; 0 = Gaussian")
    rho: float = param(3.0, low=1.05, high=20.0, log=True,
                       doc="variance ratio the CUSUMs are tuned to detect (up: x rho, down: / rho)")
    threshold: float = param(9.0, low=0.5, high=100.0, log=True,
                             doc="decision threshold h on the log-likelihood-ratio CUSUM")
    ref_window: int = param(500, low=10, high=100_000, search=False,
                            doc="span (bars) of the regime's reference variance once it is that long")
    min_ref: int = param(20, low=2, high=10_000,
                         doc="bars of a new regime before the CUSUMs restart (grace after a change)")

    def check(self) -> None:
        super().check()
        if 0.0 < self.nu < 1.0:
            self.fail("nu", f"must be 0 (Gaussian) or >= 1 degrees of freedom, got {self.nu!r}")
        if self.min_ref > self.ref_window:
            self.fail("min_ref", f"must be <= ref_window ({self.ref_window}), got {self.min_ref}")


class CUSUMDetector(Detector):
    """Two CUSUMs of ``z = r**2 / scale2``: one for a rise of the variance by ``rho``, one
    for a fall, each accumulating the log-likelihood ratio of a Student-t(``nu``)
    observation model (Gaussian when ``nu == 0``; see ``harness.regime.nb.cusum_llr_nb``).

    The t likelihood bounds what one return can add (``nu/2 * log(rho)``), so single
    outliers of fat-tailed returns do not raise alarms, and ``scale2`` is the online t
    M-estimate of the regime's scale, which outliers cannot drag either. A change is
    detected when either CUSUM exceeds ``threshold``; the new regime's statistics are
    those of the bars since the alarming CUSUM last left zero (the estimated change
    point). Volatility is the square root of the regime's mean ``r**2`` (a per-bar
    standard deviation); labels as for every detector (trailing median + hysteresis).
    Change points are the alarms only: a label may also move between alarms as the
    regime's variance estimate matures. Defaults chosen by ``benchmarks/bench_regime.py``.
    """

    name = "cusum"
    Config = CUSUMConfig

    def _params(self) -> np.ndarray:
        c = self.config
        return np.array([c.rho, c.threshold, float(c.ref_window), float(c.min_ref), *c.classifier_params(),
                         c.nu])

    def _new_state(self) -> dict[str, np.ndarray]:
        return {"cusum": np.zeros(CUSUM_STATE_SIZE), **classifier_state(self.config.calibration_window)}

    def _advance(self, state, returns):
        out = empty_outputs(returns.size)
        cusum_advance_nb(returns, self._params(), state["cusum"], state["cls_ring"], state["cls_sorted"],
                         state["cls"], *out)
        return out
