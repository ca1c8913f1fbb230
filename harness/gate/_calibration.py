"""Simulated champion–challenger evidence for calibrating the gate (bench_gate, tests).

Daily returns with fat tails and mild autocorrelation: AR(1) with coefficient ``phi``
(default 0.1) driven by Student-t(``df`` = 4) innovations, scaled to unit variance.
The champion has annualised Sharpe ``champion_sharpe`` (0.5) and daily volatility
``vol`` (1 %). Every challenger is the champion plus independent noise of the same
kind, scaled so that its correlation with the champion is ``corr`` (0.9), as a
retrained version of one strategy is. Cases:

* ``no_edge``: one challenger with no edge (the champion plus zero-mean noise), ``n_trials = 1``;
* ``real_edge``: one challenger whose annualised Sharpe is ``edge`` (1.0) above the champion's;
* ``snooping``: ``n_candidates`` (100) no-edge candidates, the challenger the one with the
  best Sharpe on the evidence bars, ``n_trials = 100``, all of them in ``trial_returns``.
* ``edge_among_trials``: as ``snooping``, but candidate 0 has the real edge (power under search);
* ``zero_gain``: one challenger whose true Sharpe equals the champion's exactly (the drift
  makes up for the noise's volatility): the boundary of ``oos_improvement``'s null, so its
  pass rate there is the test's size.

Seeds are independent streams (``numpy.random.SeedSequence([seed, case])``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numba import njit

from harness.gate._evidence import Evidence
from harness.gate._policy import GatePolicy

__all__ = ["CASES", "STATISTICAL_CHECKS", "simulate", "ar_t_nb", "calibrate", "CaseResult"]

CASES: tuple[str, ...] = ("no_edge", "real_edge", "snooping", "edge_among_trials", "zero_gain")
#: The checks the calibration runs, at their default thresholds.
STATISTICAL_CHECKS: tuple[str, ...] = ("oos_improvement", "deflated_sharpe", "pbo", "reality_check")


@njit(cache=True)
def ar_t_nb(innovations, phi, burn):
    """AR(1) ``x[t] = phi x[t-1] + e[t]`` per column, the first ``burn`` rows dropped, scaled
    by ``sqrt(1 - phi^2)`` (unit variance for unit-variance innovations)."""
    T, K = innovations.shape
    out = np.empty((T - burn, K))
    s = np.sqrt(1.0 - phi * phi)
    for k in range(K):
        x = 0.0
        for t in range(T):
            x = phi * x + innovations[t, k]
            if t >= burn:
                out[t - burn, k] = x * s
    return out


def _noise(rng: np.random.Generator, n_bars: int, k: int, df: float, phi: float) -> np.ndarray:
    burn = 100
    e = rng.standard_t(df, size=(n_bars + burn, k)) / math.sqrt(df / (df - 2.0))
    return ar_t_nb(e, phi, burn)


def simulate(case: str, seed: int, *, n_bars: int = 504, n_candidates: int = 100, df: float = 4.0,
             phi: float = 0.1, vol: float = 0.01, champion_sharpe: float = 0.5, corr: float = 0.9,
             edge: float = 1.0, periods_per_year: float = 252.0) -> Evidence:
    """Evidence for one seed of one calibration case (daily bars, ``frequency="1d"``)."""
    if case not in CASES:
        raise ValueError(f"unknown calibration case {case!r} (cases: {', '.join(CASES)})")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(case.encode())]))
    root = math.sqrt(periods_per_year)
    mu_b = champion_sharpe / root * vol
    champion = mu_b + vol * _noise(rng, n_bars, 1, df, phi)[:, 0]
    noise_vol = vol * math.sqrt(1.0 / corr ** 2 - 1.0)
    # drift that lifts a challenger's Sharpe by `edge` (its volatility is vol / corr)
    lift = (champion_sharpe + edge) / root * (vol / corr) - mu_b
    if case in ("no_edge", "real_edge", "zero_gain"):
        challenger = champion + noise_vol * _noise(rng, n_bars, 1, df, phi)[:, 0]
        if case == "real_edge":
            challenger = challenger + lift
        elif case == "zero_gain":
            challenger = challenger + mu_b * (1.0 / corr - 1.0)
        return Evidence(challenger_returns=challenger, champion_returns=champion, n_trials=1,
                        meta={"case": case, "seed": int(seed)})
    trials = champion[:, None] + noise_vol * _noise(rng, n_bars, n_candidates, df, phi)
    if case == "edge_among_trials":
        trials[:, 0] += lift
    from harness.gate import nb

    best = int(np.argmax(nb.sharpe_columns_nb(np.ascontiguousarray(trials))))
    return Evidence(challenger_returns=trials[:, best], champion_returns=champion, n_trials=n_candidates,
                    trial_returns=trials, meta={"case": case, "seed": int(seed), "best": best})


@dataclass(frozen=True)
class CaseResult:
    """Promotion rate of one case over ``n_seeds`` seeds, with per-check pass rates."""

    case: str
    n_seeds: int
    promoted: int
    check_pass: dict
    values: dict
    peers: dict
    check_runs: dict | None = None  # lazy mode: on how many seeds each check ran

    @property
    def rate(self) -> float:
        return self.promoted / self.n_seeds

    @property
    def stderr(self) -> float:
        p = self.rate
        return math.sqrt(max(p * (1 - p), 1e-12) / self.n_seeds)


def naive_promotes(ev: Evidence, alpha: float) -> dict[str, bool]:
    """The peers a gate is compared with: ``naive`` promotes on any holdout Sharpe gain;
    ``t_test`` on a one-sided iid t-test of the paired difference at ``alpha`` (scipy),
    blind to the number of trials and to autocorrelation."""
    from scipy import stats

    from harness.gate import nb

    a, b = ev.challenger_returns, ev.champion_returns
    t = stats.ttest_1samp(a - b, 0.0, alternative="greater")
    return {"naive": bool(nb.sharpe_1d_nb(a) > nb.sharpe_1d_nb(b)), "t_test": bool(t.pvalue <= alpha)}


def calibrate(case: str, seeds: Iterable[int], *, policy: GatePolicy | None = None, progress=None,
              lazy: bool = False, **sim_kwargs) -> CaseResult:
    """Evaluate the statistical checks on every seed of a case; count promotions (the
    gate's and its peers'), per-check passes and per-check values.

    ``lazy``: run the checks in the policy's order and stop at the first failure (the
    decision is ``reject`` whatever the rest say). Every check's verdict is the one
    :func:`evaluate` gives (each check has its own seeded generator), so the promotion
    rate is exactly the full evaluation's; the per-check counts are then over the seeds
    where the check ran (``check_runs``). It spares the SPA bootstrap where an earlier
    check already rejected.
    """
    from harness.gate._evaluate import evaluate
    from harness.gate.checks import check_class

    policy = policy or GatePolicy(checks=STATISTICAL_CHECKS)
    seeds = list(seeds)
    promoted = 0
    passes = {c: 0 for c in policy.checks}
    runs = {c: 0 for c in policy.checks}
    values: dict[str, list] = {c: [] for c in policy.checks}
    peers = {"naive": 0, "t_test": 0}
    checks = [check_class(c)() for c in policy.checks]
    for s in seeds:
        ev = simulate(case, s, **sim_kwargs)
        if lazy:
            results = []
            for chk in checks:
                results.append(chk.evaluate(ev, policy))
                if not results[-1].passed:
                    break
            ok = len(results) == len(checks) and all(r.passed for r in results)
        else:
            d = evaluate(ev, policy)
            results, ok = list(d.checks), d.outcome == "promote"
        promoted += ok
        for c in results:
            runs[c.name] += 1
            passes[c.name] += bool(c.passed)
            values[c.name].append(math.nan if c.value is None else c.value)
        for k, v in naive_promotes(ev, policy.alpha).items():
            peers[k] += v
        if progress is not None:
            progress(1)
    return CaseResult(case=case, n_seeds=len(seeds), promoted=promoted, check_pass=passes,
                      values={k: np.asarray(v) for k, v in values.items()}, peers=peers,
                      check_runs=runs if lazy else None)
