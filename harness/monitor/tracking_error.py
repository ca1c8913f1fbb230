"""Tracking error: the paper ledger's equity against a backtest over the same bars.

The SimBroker calls the backtest's fill kernel, so the two must agree exactly:
``tracking_tolerance = 0`` and any non-zero difference is an alert (a bug, or a real
broker diverging from the model). Value = the largest ``|paper / backtest - 1|`` over
the common bars (infinite when one of them is missing a value the other has).
"""

from __future__ import annotations

import numpy as np

from harness.monitor._base import ALERT, OK, Monitor, MonitorData, Reading

__all__ = ["TrackingError"]


class TrackingError(Monitor):
    name = "tracking_error"
    requires = ("paper_equity", "backtest_equity")

    def _evaluate(self, data: MonitorData) -> list[Reading]:
        cfg = self.config
        paper = np.asarray(data.paper_equity, dtype=np.float64)
        bt = np.asarray(data.backtest_equity, dtype=np.float64)
        window = data.window()
        n = min(paper.size, bt.size)
        if n == 0:
            return [self.insufficient(data, "equity", "no common bars", cfg.tracking_tolerance)]
        p, b = paper[-n:], bt[-n:]
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(p == b, 0.0, np.abs(p / b - 1.0))
        rel = np.where(np.isnan(rel), np.inf, rel)
        i = int(np.argmax(rel))
        value = float(rel[i])
        first = np.flatnonzero(rel > cfg.tracking_tolerance)
        detail = {"bars": int(n), "paper": float(p[i]), "backtest": float(b[i]),
                  "first_divergence": int(first[0]) if first.size else None,
                  "length_mismatch": int(paper.size - bt.size)}
        state = ALERT if value > cfg.tracking_tolerance else OK
        return [Reading(self.name, "equity", value, cfg.tracking_tolerance, state, window, detail)]
