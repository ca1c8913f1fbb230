"""Synthetic bars with known ground truth, for tests, benchmarks and detector evaluation.

:func:`regime_switching` simulates a geometric random walk whose volatility and drift
switch between regimes at known bars. Every symbol shares the regime path (a market
regime) with its own noise, correlated through a common factor. OHLC bars are
consistent by construction: the open gaps from the previous close, and the high and
low are exact samples of the extremes of a Brownian bridge from open to close.
Everything is deterministic per ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from market_data.bars import Bars, to_ns
from market_data.errors import InputError
from market_data.frequency import canonical_frequency, frequency_ns, parse_frequency

__all__ = ["Regime", "RegimeTruth", "regime_switching", "DEFAULT_REGIMES"]


@dataclass(frozen=True, kw_only=True)
class Regime:
    """One regime: per-bar standard deviation and mean of log returns."""

    vol: float
    drift: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.vol) and self.vol > 0):
            raise InputError(f"Regime.vol must be a positive number, got {self.vol!r}")
        if not np.isfinite(self.drift):
            raise InputError(f"Regime.drift must be finite, got {self.drift!r}")


#: Calm, normal and stressed daily regimes (about 10%, 19% and 38% annualised volatility).
DEFAULT_REGIMES: tuple[Regime, ...] = (
    Regime(name="calm", vol=0.006, drift=0.0004),
    Regime(name="normal", vol=0.012, drift=0.0002),
    Regime(name="stressed", vol=0.024, drift=-0.0004),
)


@dataclass(frozen=True, kw_only=True)
class RegimeTruth:
    """The ground truth of a synthetic series.

    ``labels[t]`` is the index (into ``regimes``) of the regime in force at bar ``t``;
    ``change_points`` are the bars at which a new regime starts (bar 0 excluded);
    ``volatility[t]`` / ``drift[t]`` are that regime's per-bar log-return std and mean.
    """

    labels: np.ndarray
    change_points: np.ndarray
    volatility: np.ndarray
    drift: np.ndarray
    regimes: tuple[Regime, ...]

    def vol_ratios(self) -> np.ndarray:
        """Volatility after / before each change point (>1 = volatility rose)."""
        cp = self.change_points
        return self.volatility[cp] / self.volatility[cp - 1] if cp.size else np.empty(0)


def _schedule_labels(n_bars: int, n_regimes: int, rng: np.random.Generator,
                     schedule: Sequence[tuple[int, int]] | None, mean_duration: float,
                     min_duration: int) -> np.ndarray:
    labels = np.empty(n_bars, dtype=np.int64)
    if schedule is not None:
        items = sorted((int(s), int(r)) for s, r in schedule)
        if not items or items[0][0] != 0:
            raise InputError("schedule must start at bar 0, e.g. [(0, 0), (500, 1)]")
        for start, reg in items:
            if not 0 <= reg < n_regimes:
                raise InputError(f"schedule names regime {reg}, but only {n_regimes} regimes are defined")
            if not 0 <= start < n_bars:
                raise InputError(f"schedule starts a regime at bar {start}, outside 0..{n_bars - 1}")
        starts = [s for s, _ in items]
        if len(set(starts)) != len(starts):
            raise InputError("schedule has two regimes starting at the same bar")
        for (start, reg), nxt in zip(items, starts[1:] + [n_bars], strict=True):
            labels[start:nxt] = reg
        return labels
    if mean_duration < min_duration or min_duration < 1:
        raise InputError(f"need 1 <= min_duration ({min_duration}) <= mean_duration ({mean_duration})")
    t = 0
    current = int(rng.integers(n_regimes))
    while t < n_bars:
        extra = rng.geometric(1.0 / max(mean_duration - min_duration + 1, 1.0)) - 1
        length = int(min_duration + extra)
        labels[t:t + length] = current
        t += length
        if n_regimes > 1:
            current = int((current + 1 + rng.integers(n_regimes - 1)) % n_regimes)
    return labels


def _timestamps(n_bars: int, start: object, frequency: str) -> np.ndarray:
    t0 = to_ns(start, name="start")
    _, unit = parse_frequency(frequency)
    if unit == "d" and frequency_ns(frequency) == 86_400_000_000_000:
        import pandas as pd

        days = pd.bdate_range(pd.Timestamp(t0, tz="UTC"), periods=n_bars, freq="B")
        return np.asarray(days.as_unit("ns").asi8, dtype=np.int64)
    return t0 + np.arange(n_bars, dtype=np.int64) * frequency_ns(frequency)


def regime_switching(n_bars: int, n_symbols: int = 1, *, regimes: Sequence[Regime] | None = None,
                     schedule: Sequence[tuple[int, int]] | None = None, mean_duration: float = 500.0,
                     min_duration: int = 100, correlation: float = 0.5, gap_fraction: float = 0.1,
                     seed: int = 0, frequency: str = "1d", start: object = "2000-01-03",
                     start_price: float = 100.0, symbols: Sequence[str] | None = None,
                     ) -> tuple[Bars, RegimeTruth]:
    """Simulate ``n_bars`` x ``n_symbols`` bars whose volatility regime switches at known bars.

    Parameters
    ----------
    regimes:
        The regimes (default :data:`DEFAULT_REGIMES`: calm, normal, stressed).
    schedule:
        Explicit ``[(start_bar, regime_index), ...]`` starting at bar 0; when omitted,
        regimes switch at random with durations of at least ``min_duration`` bars and
        ``mean_duration`` bars on average, each switch to a different regime.
    correlation:
        Correlation of symbols' returns through a common factor (0..1).
    gap_fraction:
        Share of each bar's return variance that happens as the open's gap.

    Returns ``(bars, truth)``; see :class:`RegimeTruth`.

    >>> bars, truth = regime_switching(1000, 2, schedule=[(0, 0), (600, 2)], seed=1)
    >>> bars.shape, truth.change_points.tolist(), truth.labels[[0, 599, 600]].tolist()
    ((1000, 2), [600], [0, 0, 2])
    """
    if not isinstance(n_bars, (int, np.integer)) or n_bars < 1:
        raise InputError(f"n_bars must be a positive integer, got {n_bars!r}")
    if not isinstance(n_symbols, (int, np.integer)) or n_symbols < 1:
        raise InputError(f"n_symbols must be a positive integer, got {n_symbols!r}")
    if not 0.0 <= correlation <= 1.0:
        raise InputError(f"correlation must be within [0, 1], got {correlation!r}")
    if not 0.0 <= gap_fraction < 1.0:
        raise InputError(f"gap_fraction must be within [0, 1), got {gap_fraction!r}")
    if not (np.isfinite(start_price) and start_price > 0):
        raise InputError(f"start_price must be positive, got {start_price!r}")
    regs = tuple(regimes) if regimes is not None else DEFAULT_REGIMES
    if not regs or not all(isinstance(r, Regime) for r in regs):
        raise InputError("regimes must be a non-empty sequence of Regime objects")
    if symbols is None:
        width = len(str(n_symbols - 1))
        symbols = tuple(f"SYN{i:0{width}d}" for i in range(n_symbols))
    elif len(symbols) != n_symbols:
        raise InputError(f"{len(symbols)} symbols given for n_symbols={n_symbols}")
    frequency = canonical_frequency(frequency)
    rng = np.random.default_rng(seed)
    labels = _schedule_labels(int(n_bars), len(regs), rng, schedule, mean_duration, int(min_duration))
    vol = np.array([r.vol for r in regs])[labels]
    drift = np.array([r.drift for r in regs])[labels]
    T, N = int(n_bars), int(n_symbols)

    def noise() -> np.ndarray:
        common = rng.standard_normal((T, 1))
        own = rng.standard_normal((T, N))
        return np.sqrt(correlation) * common + np.sqrt(1.0 - correlation) * own

    sig = vol[:, None]
    gap = drift[:, None] * gap_fraction + np.sqrt(gap_fraction) * sig * noise()
    intra = drift[:, None] * (1.0 - gap_fraction) + np.sqrt(1.0 - gap_fraction) * sig * noise()
    s2 = (1.0 - gap_fraction) * sig**2
    # extremes of a Brownian bridge from 0 to `intra` with variance s2 over the bar
    u = rng.random((T, N))
    v = rng.random((T, N))
    hi_log = 0.5 * (intra + np.sqrt(intra**2 - 2.0 * s2 * np.log1p(-u)))
    lo_log = 0.5 * (intra - np.sqrt(intra**2 - 2.0 * s2 * np.log1p(-v)))
    log_close = np.log(start_price) + np.cumsum(gap + intra, axis=0)
    log_open = log_close - intra
    close = np.exp(log_close)
    open_ = np.exp(log_open)
    high = np.maximum(np.exp(log_open + hi_log), np.maximum(open_, close))
    low = np.minimum(np.exp(log_open + lo_log), np.minimum(open_, close))
    base = float(regs[0].vol)
    volume = np.round(1e6 * (sig / base) * np.exp(0.3 * rng.standard_normal((T, N))))
    bars = Bars(timestamps=_timestamps(T, start, frequency), symbols=tuple(symbols), open=open_,
                high=high, low=low, close=close, volume=volume, frequency=frequency)
    change_points = np.flatnonzero(np.diff(labels) != 0) + 1
    truth = RegimeTruth(labels=labels, change_points=change_points.astype(np.int64), volatility=vol,
                        drift=drift, regimes=regs)
    return bars, truth
