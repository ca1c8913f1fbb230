"""Overfitting statistics: PSR, DSR, MinTRL and PBO (wrappers around ``harness.validation.nb``).

References
----------
* Bailey, D. H. & López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
  Journal of Risk 15(2), 3-44. — probabilistic Sharpe ratio (PSR), minimum track
  record length (MinTRL).
* Bailey, D. H. & López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting and Non-Normality". Journal of Portfolio
  Management 40(5), 94-107. — deflated Sharpe ratio (DSR), expected maximum Sharpe.
* Bailey, D. H., Borwein, J., López de Prado, M. & Zhu, Q. J. (2015/2017). "The
  Probability of Backtest Overfitting". Journal of Computational Finance 20(4). —
  combinatorially symmetric cross-validation (CSCV), PBO, performance degradation,
  probability of loss.

Every Sharpe ratio here is **per period** (not annualised) and every kurtosis **raw**
(3 for normal returns), as in the papers. Divide an annualised Sharpe ratio by
``sqrt(periods_per_year)`` before passing it in.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np

from harness.errors import InputError
from harness.validation import nb

__all__ = [
    "SharpeStats",
    "sharpe_stats",
    "probabilistic_sharpe_ratio",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length",
    "pbo",
    "PBOResult",
]

_EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


class SharpeStats(NamedTuple):
    """The moments the Sharpe-ratio statistics need: per-period ``sr``, ``n_obs``,
    ``skew`` and raw ``kurtosis`` (3 = normal)."""

    sr: float
    n_obs: int
    skew: float = 0.0
    kurtosis: float = 3.0


def _as_returns(returns: Any, name: str = "returns") -> np.ndarray:
    arr = np.asarray(getattr(returns, "to_numpy", lambda: returns)(), dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D series of per-period returns, got shape {arr.shape}")
    if np.isinf(arr).any():
        i = int(np.flatnonzero(np.isinf(arr))[0])
        raise InputError(f"{name} has an infinite value at row {i}; expected finite returns (NaN is skipped)")
    return np.ascontiguousarray(arr)


def sharpe_stats(returns: Any) -> SharpeStats:
    """Per-period Sharpe ratio (``mean / std``, ``ddof=1``), count, skewness and raw kurtosis.

    NaNs are skipped. Raises :class:`InputError` with fewer than 3 finite values or a
    constant series.
    """
    arr = _as_returns(returns)
    n, mean, std, skew, kurt = nb.moments_1d_nb(arr)
    if n < 3:
        raise InputError(f"returns need at least 3 finite values for Sharpe statistics, got {n}")
    if not std > 0.0 or not np.isfinite(kurt):
        raise InputError("returns are (numerically) constant (standard deviation 0); the Sharpe ratio is undefined")
    return SharpeStats(sr=float(mean / std), n_obs=int(n), skew=float(skew), kurtosis=float(kurt))


def _stats_of(x: Any) -> SharpeStats:
    if isinstance(x, SharpeStats):
        if x.n_obs < 2:
            raise InputError(f"SharpeStats.n_obs must be at least 2, got {x.n_obs}")
        return x
    return sharpe_stats(x)


def _sr_variance_term(s: SharpeStats) -> float:
    """``1 - skew * SR + (kurtosis - 1) / 4 * SR**2`` (the non-normal SR variance factor)."""
    v = 1.0 - s.skew * s.sr + (s.kurtosis - 1.0) / 4.0 * s.sr ** 2
    if not v > 0.0:
        raise InputError(
            f"the Sharpe-ratio variance term 1 - skew*SR + (kurtosis-1)/4*SR^2 is {v:.4g} <= 0 "
            f"(SR={s.sr:.4g}, skew={s.skew:.4g}, kurtosis={s.kurtosis:.4g}); "
            "check that the kurtosis is raw (3 = normal), not excess"
        )
    return v


def probabilistic_sharpe_ratio(returns: Any, sr_benchmark: float = 0.0) -> float:
    """PSR: the probability that the true Sharpe ratio exceeds ``sr_benchmark``.

    ``PSR = Phi((SR - SR*) * sqrt(n - 1) / sqrt(1 - skew*SR + (kurt - 1)/4 * SR^2))``
    (Bailey & López de Prado 2012, eq. 11). ``returns`` is a 1-D array of per-period
    returns or a :class:`SharpeStats`; ``sr_benchmark`` is per period.
    """
    s = _stats_of(returns)
    z = (s.sr - float(sr_benchmark)) * math.sqrt(s.n_obs - 1) / math.sqrt(_sr_variance_term(s))
    return float(_NORMAL.cdf(z))


def expected_max_sharpe(n_trials: float, sr_variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe ratios with true value 0 and variance ``sr_variance``.

    ``sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))`` with ``g`` the
    Euler-Mascheroni constant (Bailey & López de Prado 2014, eq. 6 / the "False
    Strategy" theorem). 0 for a single trial.
    """
    n = float(n_trials)
    if not n >= 1.0:
        raise InputError(f"n_trials must be at least 1, got {n_trials!r}")
    if not sr_variance >= 0.0:
        raise InputError(f"sr_variance must be >= 0, got {sr_variance!r}")
    if n == 1.0 or sr_variance == 0.0:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(sr_variance) * ((1.0 - _EULER_GAMMA) * z1 + _EULER_GAMMA * z2)


def deflated_sharpe_ratio(returns: Any, sr_trials: Any = None, *, n_trials: float | None = None,
                          sr_variance: float | None = None) -> float:
    """DSR: the PSR of the selected strategy against the expected maximum Sharpe of the trials.

    ``returns`` are the selected strategy's per-period returns (or a :class:`SharpeStats`);
    ``sr_trials`` are the per-period Sharpe ratios of *every* trial of the search (the
    selected one included): their count is ``N`` and their variance ``V``. ``n_trials``
    (e.g. an effective number of independent trials) and ``sr_variance`` override them.
    (Bailey & López de Prado 2014, eq. 2 and 6.)
    """
    if sr_trials is not None:
        trials = np.asarray(sr_trials, dtype=np.float64).ravel()
        trials = trials[np.isfinite(trials)]
        if trials.size < 1:
            raise InputError("sr_trials has no finite Sharpe ratio; pass the Sharpe ratio of every trial")
        if n_trials is None:
            n_trials = trials.size
        if sr_variance is None:
            sr_variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    if n_trials is None or sr_variance is None:
        raise InputError("deflated_sharpe_ratio needs sr_trials, or both n_trials and sr_variance")
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(returns, sr_benchmark=sr0)


def min_track_record_length(returns: Any, sr_benchmark: float = 0.0, *, alpha: float = 0.05) -> float:
    """MinTRL: observations needed for ``PSR(sr_benchmark) >= 1 - alpha``.

    ``1 + (1 - skew*SR + (kurt - 1)/4 * SR^2) * (Z_{1-alpha} / (SR - SR*))^2``
    (Bailey & López de Prado 2012, eq. 13), in periods of the returns; divide by the
    periods per year for years. ``inf`` when ``SR <= SR*`` (no track record suffices).
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    s = _stats_of(returns)
    if s.sr <= sr_benchmark:
        return math.inf
    z = _NORMAL.inv_cdf(1.0 - alpha)
    return 1.0 + _sr_variance_term(s) * (z / (s.sr - float(sr_benchmark))) ** 2


# ------------------------------------------------------------------------- PBO
@dataclass(frozen=True, kw_only=True)
class PBOResult:
    """Outcome of CSCV over ``n_combinations`` in-sample/out-of-sample splits.

    ``pbo``: probability of backtest overfitting, the share of combinations whose
    in-sample best strategy ranks at or below the out-of-sample median (logit <= 0).
    ``logits``: the logit of each combination's out-of-sample relative rank.
    ``is_perf``/``oos_perf``: in- and out-of-sample performance of the selected strategy.
    ``best``: the selected strategy (column index) per combination.
    ``degradation_slope``/``degradation_intercept``/``degradation_r2``: OLS of
    ``oos_perf`` on ``is_perf`` (performance degradation; a negative slope is typical of
    overfitting). ``prob_loss``: share of combinations whose selected strategy loses
    out of sample (``oos_perf < 0``).
    """

    pbo: float
    logits: np.ndarray
    is_perf: np.ndarray
    oos_perf: np.ndarray
    best: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    degradation_r2: float
    prob_loss: float
    n_blocks: int
    n_combinations: int
    metric: str

    def summary(self) -> dict[str, float]:
        """The scalar results as a plain dict (for tables and JSON)."""
        return {"pbo": self.pbo, "prob_loss": self.prob_loss, "degradation_slope": self.degradation_slope,
                "degradation_r2": self.degradation_r2, "logit_median": float(np.nanmedian(self.logits)),
                "n_blocks": self.n_blocks, "n_combinations": self.n_combinations}


def _combinations(n_blocks: int, max_combinations: int | None, seed: int | None) -> np.ndarray:
    half = n_blocks // 2
    total = math.comb(n_blocks, half)
    if max_combinations is None or total <= max_combinations:
        return np.asarray(list(itertools.combinations(range(n_blocks), half)), dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked: set[tuple[int, ...]] = set()
    while len(picked) < max_combinations:
        picked.add(tuple(sorted(rng.choice(n_blocks, half, replace=False).tolist())))
    return np.asarray(sorted(picked), dtype=np.int64)


def _complements(combos: np.ndarray, n_blocks: int) -> np.ndarray:
    """Row of each combination's complement in ``combos``, or -1 where it is not there."""
    if n_blocks > 62 or combos.shape[0] == 0:  # block sets as bits of an int64
        return np.full(combos.shape[0], -1, dtype=np.int64)
    masks = (np.int64(1) << combos).sum(axis=1)
    comp = ((np.int64(1) << n_blocks) - 1) ^ masks
    order = np.argsort(masks, kind="stable")
    pos = np.minimum(np.searchsorted(masks[order], comp), masks.size - 1)
    found = masks[order][pos] == comp
    return np.where(found, order[pos], -1).astype(np.int64)


def pbo(returns_matrix: Any, n_blocks: int = 16, *, metric: str = "sharpe",
        max_combinations: int | None = None, seed: int | None = None) -> PBOResult:
    """Probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado & Zhu).

    ``returns_matrix`` is ``(T, N)``: the per-period returns of ``N`` strategy
    configurations (the trials of a search) over the same ``T`` periods, e.g. their
    out-of-sample returns concatenated across folds. Rows are cut into ``n_blocks``
    (even) blocks; every choice of half the blocks is an in-sample set, the other half
    out-of-sample. ``metric`` is ``"sharpe"`` (per period) or ``"mean"``.
    ``C(16, 8) = 12,870`` combinations by default; ``max_combinations`` samples fewer.
    """
    arr = np.asarray(getattr(returns_matrix, "to_numpy", lambda: returns_matrix)(), dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"returns_matrix must be 2-D (periods x strategies), got shape {arr.shape}")
    T, N = arr.shape
    if N < 2:
        raise InputError(f"returns_matrix needs at least 2 strategies (columns), got {N}")
    if not isinstance(n_blocks, (int, np.integer)) or n_blocks < 2 or n_blocks % 2:
        raise InputError(f"n_blocks must be an even integer >= 2, got {n_blocks!r}")
    if T < 2 * n_blocks:
        raise InputError(f"returns_matrix has {T} rows; n_blocks={n_blocks} needs at least {2 * n_blocks}")
    if np.isinf(arr).any():
        r, c = np.argwhere(np.isinf(arr))[0]
        raise InputError(f"returns_matrix has an infinite value at row {r}, column {c}")
    metrics = {"sharpe": 0, "mean": 1}
    if metric not in metrics:
        raise InputError(f"metric must be one of {', '.join(metrics)}, got {metric!r}")
    combos = _combinations(int(n_blocks), max_combinations, seed)
    sums = nb.block_sums_nb(np.ascontiguousarray(arr), int(n_blocks))
    best, is_perf, oos_perf, logits = nb.cscv_nb(sums, combos, metrics[metric], _complements(combos, int(n_blocks)))
    ok = np.isfinite(logits)
    if not ok.any():
        raise InputError("no combination gave a finite out-of-sample rank (constant or empty returns?)")
    pbo_value = float(np.mean(logits[ok] <= 0.0))
    both = np.isfinite(is_perf) & np.isfinite(oos_perf)
    slope = intercept = r2 = math.nan
    if both.sum() >= 3 and np.ptp(is_perf[both]) > 0:
        x, y = is_perf[both], oos_perf[both]
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
        resid = y - (slope * x + intercept)
        sst = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid ** 2)) / sst if sst > 0 else math.nan
    fin = np.isfinite(oos_perf)
    prob_loss = float(np.mean(oos_perf[fin] < 0.0)) if fin.any() else math.nan
    return PBOResult(pbo=pbo_value, logits=logits, is_perf=is_perf, oos_perf=oos_perf, best=best,
                     degradation_slope=slope, degradation_intercept=intercept, degradation_r2=r2,
                     prob_loss=prob_loss, n_blocks=int(n_blocks), n_combinations=int(combos.shape[0]),
                     metric=metric)
