"""Performance: live P&L and rolling Sharpe against the champion's holdout promise.

The band comes from the champion's **holdout** (out-of-sample) per-bar returns, never
from its best-trial cross-validation returns, which selection inflates. A circular
block bootstrap (block length = the larger autocorrelation time of the holdout returns and of
their squares, at least 5 bars and at most a quarter of them, so return and volatility
or exposure clustering are kept; each path shifted by the block-resampled error of the
holdout mean, so the band carries the uncertainty of the evidence itself) draws ``n_boot`` paths of ``perf_window`` bars;
the ``percentile``-th percentiles of their compounded return and Sharpe ratio are the
band. At every live bar the trailing ``perf_window``-bar compounded return and Sharpe
are compared with it, and a metric alerts when it has sat below its band for the last
``k_bars`` bars in a row. Readings ``pnl`` and ``sharpe``: value = the latest live
figure, threshold = the band; ``detail.run`` = bars below in a row.
"""

from __future__ import annotations

import math

import numpy as np

from harness.monitor import nb
from harness.monitor._base import ALERT, OK, WARN, Monitor, MonitorData, Reading
from harness.monitor._stats import autocorrelation_time

__all__ = ["Performance", "holdout_band"]


def holdout_band(holdout_returns: np.ndarray, *, window: int, percentile: float, n_boot: int, seed: int = 0,
                 block: int | None = None) -> dict:
    """The bootstrap band of ``window``-bar compounded return and Sharpe from holdout returns."""
    r = np.asarray(holdout_returns, dtype=np.float64)
    r = np.ascontiguousarray(r[np.isfinite(r)])
    if block is None:  # long enough for both return and volatility (exposure) clustering
        tau = max(autocorrelation_time(r), autocorrelation_time(r * r)) if r.size >= 4 else 1.0
        block = max(5, int(math.ceil(tau)))
        block = min(block, max(5, r.size // 4))
    block = int(min(block, max(1, r.size)))
    cum = np.empty(n_boot)
    sharpe = np.empty(n_boot)
    nb.block_bootstrap_nb(r, int(window), block, int(n_boot), int(seed), cum, sharpe)
    return {"pnl": float(np.percentile(cum, percentile)),
            "sharpe": float(np.nanpercentile(sharpe, percentile)) if np.isfinite(sharpe).any() else float("nan"),
            "block": block, "n": int(r.size)}


class Performance(Monitor):
    name = "performance"
    requires = ("holdout_returns", "live_returns")

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self._key: tuple | None = None
        self._band: dict | None = None

    def band(self, holdout: np.ndarray) -> dict:
        cfg = self.config
        key = (id(holdout), np.shape(holdout), cfg.perf_window, cfg.percentile, cfg.n_boot, cfg.seed)
        if self._key != key:
            self._band = holdout_band(holdout, window=cfg.perf_window, percentile=cfg.percentile,
                                      n_boot=cfg.n_boot, seed=cfg.seed)
            self._key = key
        return self._band

    def _evaluate(self, data: MonitorData) -> list[Reading]:
        cfg = self.config
        window = data.window()
        hold = np.asarray(data.holdout_returns, dtype=np.float64)
        live = np.asarray(data.live_returns, dtype=np.float64)
        live = np.ascontiguousarray(np.nan_to_num(live, nan=0.0))
        w = cfg.perf_window
        n_hold = int(np.isfinite(hold).sum())
        if n_hold < w:
            why = f"holdout evidence has {n_hold} returns; the band needs at least perf_window = {w}"
            return [self.insufficient(data, m, why) for m in ("pnl", "sharpe")]
        if live.size < w:
            why = f"{live.size} live bars; rolling performance needs perf_window = {w}"
            return [self.insufficient(data, m, why) for m in ("pnl", "sharpe")]
        band = self.band(data.holdout_returns)
        tail = live[-(w + cfg.k_bars + cfg.remind_every):]
        cum = np.empty(tail.size)
        sharpe = np.empty(tail.size)
        nb.rolling_perf_nb(tail, w, cum, sharpe)
        out = []
        for metric, series in (("pnl", cum), ("sharpe", sharpe)):
            thr = band[metric]
            valid = series[w - 1:]
            below = np.asarray(valid < thr) if math.isfinite(thr) else np.zeros(valid.size, dtype=bool)
            run = int(nb.trailing_run_nb(below))
            state = ALERT if run >= cfg.k_bars else (WARN if run > 0 else OK)
            if state == WARN:
                state = OK  # below the band for fewer than k bars is not yet a condition
            out.append(Reading(self.name, metric, float(valid[-1]), thr, state, window,
                               {"run": run, "k_bars": cfg.k_bars, "percentile": cfg.percentile,
                                "perf_window": w, "block": band["block"], "holdout_n": band["n"]}))
        return out
