"""Realised (EWMA) volatility with trailing-calibrated thresholds and hysteresis."""

from __future__ import annotations

import numpy as np

from harness.regime._base import Detector, DetectorConfig, classifier_state
from harness.regime.nb import empty_outputs, ewma_advance_nb
from strategies.params import param

__all__ = ["EWMADetector", "EWMAConfig"]


class EWMAConfig(DetectorConfig):
    """EWMA of squared returns; a change is a transition of the low/normal/high label."""

    halflife: float = param(20.0, low=1.0, high=1000.0, log=True,
                            doc="half-life of the EWMA of squared returns (bars)")

    def check(self) -> None:
        super().check()


class EWMADetector(Detector):
    """``vol[t] = sqrt(EWMA of r**2)`` (a running mean until the EWMA has its span).

    Labels compare ``vol`` to the median of its own trailing ``calibration_window`` bars:
    high above ``high_enter`` x the median (back to normal below ``high_exit`` x), low
    below median / ``low_enter``. Every label transition is a detected change.
    """

    name = "ewma"
    Config = EWMAConfig

    def _params(self) -> np.ndarray:
        lam = 0.5 ** (1.0 / self.config.halflife)
        return np.array([lam, *self.config.classifier_params()])

    def _new_state(self) -> dict[str, np.ndarray]:
        return {"ewma": np.zeros(4), **classifier_state(self.config.calibration_window)}

    def _advance(self, state, returns):
        out = empty_outputs(returns.size)
        ewma_advance_nb(returns, self._params(), state["ewma"], state["cls_ring"], state["cls_sorted"],
                        state["cls"], *out)
        return out
