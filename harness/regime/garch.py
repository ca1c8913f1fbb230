"""GARCH(1,1) conditional volatility, fitted with ``arch`` on a trailing window and filtered forward."""

from __future__ import annotations

import math
import warnings

import numpy as np

from harness.regime._base import Detector, DetectorConfig, FitWarning, classifier_state
from harness.regime.nb import empty_outputs, garch_advance_nb
from strategies.params import param

__all__ = ["GARCHDetector", "GARCHConfig"]

# garch state layout (see harness.regime.nb.garch_advance_nb) + fit bookkeeping
_S2, _NOBS, _POS, _RN, _LASTFIT = 0, 1, 4, 5, 7


class GARCHConfig(DetectorConfig):
    """Refit GARCH(1,1) every ``refit_every`` observations on the last ``window`` returns."""

    window: int = param(1000, low=100, high=100_000, search=False, doc="trailing returns each fit uses")
    refit_every: int = param(100, low=1, high=100_000, search=False,
                             doc="observations between refits; in between the last fit filters forward")
    min_fit: int = param(250, low=50, high=100_000, search=False,
                         doc="observations before the first fit (a running mean of r**2 until then)")

    def check(self) -> None:
        super().check()
        if self.min_fit > self.window:
            self.fail("min_fit", f"must be <= window ({self.window}), got {self.min_fit}")


class GARCHDetector(Detector):
    """``sigma2[t+1] = omega + alpha*r[t]**2 + beta*sigma2[t]`` with parameters fitted by
    ``arch`` (zero mean, normal errors, returns in percent) on the trailing ``window``
    returns after every ``refit_every`` observations. Only past data enter a fit and the
    filter never smooths: the volatility at bar ``t`` is the forecast made at ``t`` for
    ``t+1``; a refit made after bar ``t`` takes effect from bar ``t+1``. Cost: one
    ``arch`` fit (~10-50 ms) per ``refit_every`` bars plus a few ns per bar. Labels and changes as for the EWMA detector (trailing median + hysteresis).
    """

    name = "garch"
    Config = GARCHConfig

    def _new_state(self) -> dict[str, np.ndarray]:
        st = np.zeros(8)
        st[_LASTFIT] = -1.0
        return {"garch": st, "params": np.full(3, np.nan), "window": np.zeros(self.config.window),
                **classifier_state(self.config.calibration_window)}

    def _advance(self, state, returns):
        c = self.config
        n = returns.size
        out = empty_outputs(n)
        st = state["garch"]
        valid = np.cumsum(~np.isnan(returns))
        i = 0
        while i < n:
            nobs = int(st[_NOBS])
            next_fit = c.min_fit if nobs < c.min_fit else c.min_fit + ((nobs - c.min_fit) // c.refit_every + 1) * c.refit_every
            need = next_fit - nobs  # valid observations until the next fit
            base = int(valid[i - 1]) if i else 0
            j = int(np.searchsorted(valid, base + need, side="left")) + 1
            j = min(j, n)
            p = np.array([*state["params"], *c.classifier_params()])
            garch_advance_nb(returns[i:j], p, st, state["window"], state["cls_ring"], state["cls_sorted"],
                             state["cls"], *(o[i:j] for o in out))
            if int(st[_NOBS]) == next_fit and st[_LASTFIT] != st[_NOBS]:
                self._refit(state)
            i = j
        return out

    def _refit(self, state: dict[str, np.ndarray]) -> None:
        from arch import arch_model

        st = state["garch"]
        st[_LASTFIT] = st[_NOBS]
        ring, pos, m = state["window"], int(st[_POS]), int(st[_RN])
        data = np.concatenate([ring[pos:], ring[:pos]]) if m == ring.size else ring[:m]
        x = 100.0 * data
        prev = state["params"]
        start = prev if np.all(np.isfinite(prev)) else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = arch_model(x, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
                    disp="off", starting_values=start, show_warning=False)
            omega, alpha, beta = (float(res.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
            s2_last = float(res.conditional_volatility[-1]) ** 2
        except Exception as exc:  # noqa: BLE001 - arch raises many kinds; the warning names it
            self._fit_failed(state, f"the arch fit raised {type(exc).__name__}: {exc}")
            return
        if not all(math.isfinite(v) for v in (omega, alpha, beta, s2_last)) or omega <= 0 or alpha + beta >= 1.0:
            self._fit_failed(state, f"the arch fit gave omega={omega:.6g}, alpha={alpha:.6g}, beta={beta:.6g} "
                                    f"(need finite, omega > 0, alpha + beta < 1)")
            return
        state["params"][:] = (omega, alpha, beta)
        st[_S2] = omega + alpha * x[-1] ** 2 + beta * s2_last

    def _fit_failed(self, state: dict[str, np.ndarray], why: str) -> None:
        st, prev = state["garch"], state["params"]
        kept = ("the previous parameters omega={:.6g}, alpha={:.6g}, beta={:.6g}".format(*prev)
                if np.all(np.isfinite(prev)) else "no parameters yet: the running mean of r**2 as the variance")
        warnings.warn(f"garch detector: refit after {int(st[_NOBS])} observations (window of {int(st[_RN])} "
                      f"returns) failed: {why}; keeping {kept}", FitWarning, stacklevel=5)
