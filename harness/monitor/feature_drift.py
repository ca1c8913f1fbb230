"""Feature drift: the strategy's inputs over the live window against the training window.

Each (symbol, input) series is one test: two-sample KS with the sample sizes divided
by the reference's autocorrelation time (``[monitor] autocorrelation = "ess"``), the
family of all tested series corrected by Bonferroni (default) or Benjamini-Hochberg at
``alpha``. A significant series is reported when its PSI also reaches ``psi_warn``
(warn) or ``psi_alert`` (alert). One reading per input: value = the largest PSI over
symbols, threshold = ``psi_alert``; ``detail`` holds every symbol's PSI, KS, p-values
and ``tau``.
"""

from __future__ import annotations

import numpy as np

from harness.monitor._base import ALERT, INSUFFICIENT, OK, WARN, Monitor, MonitorData, Reading
from harness.monitor._drift import DriftReference, finite_or_none

__all__ = ["FeatureDrift", "state_of"]


def state_of(significant: bool, effect: float, warn: float, alert: float) -> str:
    if not significant or not np.isfinite(effect):
        return OK
    if effect >= alert:
        return ALERT
    if effect >= warn:
        return WARN
    return OK


class FeatureDrift(Monitor):
    name = "feature_drift"
    requires = ("reference_inputs", "live_inputs")

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self._ref_key: tuple | None = None
        self._ref: DriftReference | None = None

    def reference(self, ref: np.ndarray) -> DriftReference:
        key = (id(ref), ref.shape)
        if self._ref_key != key:
            self._ref = DriftReference(ref.reshape(ref.shape[0], -1), bins=self.config.bins)
            self._ref_key = key
        return self._ref

    def _evaluate(self, data: MonitorData) -> list[Reading]:
        cfg = self.config
        ref = np.asarray(data.reference_inputs, dtype=np.float64)
        live = np.asarray(data.live_inputs, dtype=np.float64)[-cfg.window:]
        if ref.ndim == 2:
            ref, live = ref[:, None, :], live[:, None, :]
        T, N, F = ref.shape
        names = data.input_names or tuple(f"input_{f}" for f in range(F))
        symbols = data.symbols or tuple(f"s{n}" for n in range(N))
        res = self.reference(ref).compare(live.reshape(live.shape[0], -1), min_samples=cfg.min_samples,
                                          alpha=cfg.alpha, correction=cfg.correction,
                                          autocorrelation=cfg.autocorrelation)
        window = data.window()
        if not res.tested.any():
            return [Reading(self.name, "inputs", float("nan"), cfg.psi_alert, INSUFFICIENT, window,
                            {"why": f"fewer than {cfg.min_samples} live (or {4 * cfg.min_samples} reference) "
                                    f"finite values in every input", "live_rows": int(live.shape[0])})]
        out = []
        for f, feature in enumerate(names):
            cols = [n * F + f for n in range(N)]
            tested = [c for c in cols if res.tested[c]]
            per_symbol = {}
            state, worst_psi = OK, float("nan")
            for n, c in enumerate(cols):
                sig = bool(res.tested[c] and res.padj[c] <= cfg.alpha)
                s = state_of(sig, res.psi[c], cfg.psi_warn, cfg.psi_alert) if res.tested[c] else INSUFFICIENT
                per_symbol[symbols[n]] = {"psi": finite_or_none(res.psi[c]), "ks": finite_or_none(res.ks[c]),
                                          "p": finite_or_none(res.pvalue[c]), "p_adj": finite_or_none(res.padj[c]),
                                          "tau": float(res.tau[c]), "n_ref": int(res.n_ref[c]),
                                          "n_live": int(res.n_cur[c]), "state": s}
                if res.tested[c]:
                    if not np.isfinite(worst_psi) or res.psi[c] > worst_psi:
                        worst_psi = float(res.psi[c])
                    if s == ALERT or (s == WARN and state == OK):
                        state = s
            if not tested:
                state = INSUFFICIENT
            out.append(Reading(self.name, feature, worst_psi, cfg.psi_alert, state, window,
                               {"symbols": per_symbol, "alpha": cfg.alpha, "correction": cfg.correction,
                                "family": int(res.tested.sum())}))
        return out
