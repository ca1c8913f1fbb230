"""Decision drift: the live target weights and turnover against the backtest's.

Columns: each symbol's target weight and the gross exposure ``sum |w|``, tested like
features (KS with the sample sizes divided by the reference's autocorrelation time,
Bonferroni or BH across the columns and the turnover test) with an effect-size floor
``decision_ks_min`` on the KS statistic (weights are discrete, so PSI is not used).
Turnover: the number of bars whose weights change, live against the backtest, by the
exact conditional binomial test of two Poisson rates; alert when significant and the
rate ratio is beyond ``turnover_ratio`` (or its inverse).
"""

from __future__ import annotations

import numpy as np

from harness.monitor import nb
from harness.monitor._base import ALERT, INSUFFICIENT, OK, Monitor, MonitorData, Reading
from harness.monitor._drift import DriftReference, adjust_pvalues, finite_or_none

__all__ = ["DecisionDrift", "turnover_series"]


def turnover_series(w: np.ndarray) -> np.ndarray:
    """``sum_n |w[t, n] - w[t-1, n]|`` per bar (NaN weights count as 0; row 0 is NaN)."""
    w = np.nan_to_num(np.asarray(w, dtype=np.float64), nan=0.0)
    out = np.full(w.shape[0], np.nan)
    if w.shape[0] > 1:
        out[1:] = np.abs(np.diff(w, axis=0)).sum(axis=1)
    return out


class DecisionDrift(Monitor):
    name = "decision_drift"
    requires = ("reference_weights", "live_weights")

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self._key: tuple | None = None
        self._ref: DriftReference | None = None

    @staticmethod
    def _columns(w: np.ndarray) -> np.ndarray:
        w = np.nan_to_num(np.asarray(w, dtype=np.float64), nan=0.0)
        if w.ndim == 1:
            w = w[:, None]
        return np.column_stack([w, np.abs(w).sum(axis=1)])

    def _evaluate(self, data: MonitorData) -> list[Reading]:
        cfg = self.config
        ref_w = np.asarray(data.reference_weights, dtype=np.float64)
        live_w = np.asarray(data.live_weights, dtype=np.float64)[-cfg.window:]
        window = data.window()
        if live_w.shape[0] < cfg.min_samples or ref_w.shape[0] < 4 * cfg.min_samples:
            return [self.insufficient(data, "weights", f"{live_w.shape[0]} live and {ref_w.shape[0]} backtest bars; "
                                      f"need {cfg.min_samples} and {4 * cfg.min_samples}", cfg.decision_ks_min)]
        key = (id(data.reference_weights), ref_w.shape)
        if self._key != key:
            self._ref = DriftReference(self._columns(ref_w), bins=cfg.bins)
            self._key = key
        res = self._ref.compare(self._columns(live_w), min_samples=cfg.min_samples, alpha=cfg.alpha,
                                correction=cfg.correction, autocorrelation=cfg.autocorrelation)
        # turnover: bars with a change, live vs backtest (conditional binomial test of two rates)
        ref_changes = int((turnover_series(ref_w)[1:] > 1e-12).sum())
        live_changes = int((turnover_series(live_w)[1:] > 1e-12).sum())
        n_ref, n_live = ref_w.shape[0] - 1, live_w.shape[0] - 1
        total = ref_changes + live_changes
        p_turn = float(nb.binom_two_sided_nb(live_changes, total, n_live / (n_live + n_ref))) if total else 1.0
        pvals = np.append(np.where(res.tested, res.pvalue, np.nan), p_turn)
        padj = adjust_pvalues(pvals, cfg.correction)
        N = ref_w.shape[1] if ref_w.ndim == 2 else 1
        symbols = data.symbols or tuple(f"s{n}" for n in range(N))
        names = [f"weight[{s}]" for s in symbols] + ["gross_exposure"]
        out = []
        for c, metric in enumerate(names):
            if not res.tested[c]:
                out.append(Reading(self.name, metric, float("nan"), cfg.decision_ks_min, INSUFFICIENT, window,
                                   {"why": "too few finite weights"}))
                continue
            sig = padj[c] <= cfg.alpha and res.ks[c] >= cfg.decision_ks_min
            out.append(Reading(self.name, metric, float(res.ks[c]), cfg.decision_ks_min, ALERT if sig else OK, window,
                               {"p": finite_or_none(res.pvalue[c]), "p_adj": finite_or_none(padj[c]),
                                "tau": float(res.tau[c])}))
        rate_ref = ref_changes / n_ref if n_ref else 0.0
        rate_live = live_changes / n_live if n_live else 0.0
        ratio = rate_live / rate_ref if rate_ref > 0 else (np.inf if rate_live > 0 else 1.0)
        beyond = ratio >= cfg.turnover_ratio or ratio <= 1.0 / cfg.turnover_ratio
        state = ALERT if (padj[-1] <= cfg.alpha and beyond) else OK
        out.append(Reading(self.name, "turnover_ratio", float(ratio), cfg.turnover_ratio, state, window,
                           {"live_changes": live_changes, "live_bars": n_live, "backtest_changes": ref_changes,
                            "backtest_bars": n_ref, "p": float(p_turn), "p_adj": finite_or_none(padj[-1])}))
        return out
