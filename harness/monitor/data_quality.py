"""Data quality of the live feed: stale feed, gaps, NaN bursts, price jumps, symbols that stop trading.

Readings (value, threshold, state):

- ``stale``: bar intervals since the last bar at the wall clock ``now`` (``insufficient
  data`` without a clock, e.g. in a replay); alert beyond ``stale_intervals``;
- ``gaps``: spacings in the live window longer than ``gap_factor`` median spacings and
  longer than every spacing of the reference calendar; alert on any;
- ``nan_burst``: the longest run of missing closes, after which the symbol traded
  again, of a symbol listed before it; warn at ``nan_burst``;
- ``price_jump``: the largest ``|log return|`` in reference sigmas (each symbol's
  training-window standard deviation of log returns); alert beyond ``jump_z``;
- ``stopped``: the longest run of missing or zero-volume bars that lasts to the end of
  the window; alert at ``stopped_bars``.
"""

from __future__ import annotations

import numpy as np

from harness.monitor import nb
from harness.monitor._base import ALERT, INSUFFICIENT, OK, WARN, Monitor, MonitorData, Reading

__all__ = ["DataQuality"]


class DataQuality(Monitor):
    name = "data_quality"
    requires = ("bars",)

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self._sigma_key: tuple | None = None
        self._sigma: np.ndarray | None = None

    def _reference_sigma(self, ref_close) -> np.ndarray:
        key = (id(ref_close), np.shape(ref_close))
        if self._sigma_key != key:
            ref = np.asarray(ref_close, dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                rr = np.diff(np.log(np.where(ref > 0, ref, np.nan)), axis=0)
                self._sigma = np.nanstd(rr, axis=0, ddof=1)
            self._sigma_key = key
        return self._sigma

    def _evaluate(self, data: MonitorData) -> list[Reading]:
        cfg = self.config
        bars = data.bars
        ts = np.asarray(bars.timestamps, dtype=np.int64)
        window = data.window()
        if ts.size < 2:
            return [self.insufficient(data, m, f"{ts.size} live bars; data quality needs 2")
                    for m in ("stale", "gaps", "nan_burst", "price_jump", "stopped")]
        close = np.asarray(bars.close, dtype=np.float64)
        volume = np.asarray(bars.volume, dtype=np.float64)
        symbols = tuple(bars.symbols)
        spacing = np.diff(ts)
        if data.frequency or getattr(bars, "frequency", None):
            from market_data.frequency import frequency_ns

            interval = float(frequency_ns(data.frequency or bars.frequency))
        else:
            interval = float(np.median(spacing))
        out = []
        # stale feed
        if data.now is None:
            out.append(Reading(self.name, "stale", float("nan"), cfg.stale_intervals, INSUFFICIENT, window,
                               {"why": "no wall clock (replay)"}))
        else:
            lag = (int(data.now) - int(ts[-1])) / interval
            out.append(Reading(self.name, "stale", float(lag), cfg.stale_intervals,
                               ALERT if lag > cfg.stale_intervals else OK, window, {"last_bar": int(ts[-1])}))
        # gaps
        limit = cfg.gap_factor * float(np.median(spacing))
        if data.reference_timestamps is not None and len(data.reference_timestamps) > 1:
            limit = max(limit, float(np.diff(np.asarray(data.reference_timestamps, dtype=np.int64)).max()))
        gap_idx = np.flatnonzero(spacing > limit)
        out.append(Reading(self.name, "gaps", float(gap_idx.size), 0.0, ALERT if gap_idx.size else OK, window,
                           {"after": [int(ts[i]) for i in gap_idx[:20]], "limit_ns": limit}))
        # NaN bursts (ended runs of a listed symbol) and stopped symbols (runs to the end)
        missing = ~np.isfinite(close)
        dead = missing | (np.nan_to_num(volume, nan=0.0) <= 0.0)
        bursts = {s: int(nb.longest_interior_run_nb(missing[:, j])) for j, s in enumerate(symbols)}
        stopped = {s: int(nb.trailing_run_nb(dead[:, j])) for j, s in enumerate(symbols)
                   if not dead[:, j].all()}
        worst_burst = max(bursts.values(), default=0)
        out.append(Reading(self.name, "nan_burst", float(worst_burst), float(cfg.nan_burst),
                           WARN if worst_burst >= cfg.nan_burst else OK, window,
                           {"symbols": {s: n for s, n in bursts.items() if n >= cfg.nan_burst}}))
        worst_stop = max(stopped.values(), default=0)
        out.append(Reading(self.name, "stopped", float(worst_stop), float(cfg.stopped_bars),
                           ALERT if worst_stop >= cfg.stopped_bars else OK, window,
                           {"symbols": sorted(s for s, n in stopped.items() if n >= cfg.stopped_bars)}))
        # price jumps in reference sigmas
        with np.errstate(invalid="ignore", divide="ignore"):
            logc = np.log(np.where(close > 0, close, np.nan))
            r = np.diff(logc, axis=0)
            if data.reference_close is not None and np.shape(data.reference_close)[0] > 2:
                sigma = self._reference_sigma(data.reference_close)
            else:
                sigma = np.nanstd(r, axis=0, ddof=1)
            z = np.abs(r) / np.where(sigma > 0, sigma, np.nan)
        if np.isfinite(z).any():
            zmax = float(np.nanmax(z))
            t, j = np.unravel_index(int(np.nanargmax(z)), z.shape)
            out.append(Reading(self.name, "price_jump", zmax, cfg.jump_z, ALERT if zmax > cfg.jump_z else OK, window,
                               {"symbol": symbols[j], "time": int(ts[t + 1])}))
        else:
            out.append(Reading(self.name, "price_jump", float("nan"), cfg.jump_z, INSUFFICIENT, window,
                               {"why": "no two consecutive prices"}))
        return out
