"""Regime detectors against synthetic ground truth, beside the oracle: delay, recall, false alarms, cost.

Families of i.i.d. log returns (base volatility 1% per bar): Gaussian with volatility
shifts x1.5, x2 and x3, and Student-t with 3, 4, 5 and 8 degrees of freedom (scaled to
the same standard deviation) with x2 shifts. Per family and seed a 3,000-bar series has
four known change points: x f up at bar 1000, back down at 1400, / f down at 2000, back
up at 2400. Stable series of each family (one regime, 10,000 bars) and GARCH(1,1)
series without any regime change (Student-t(5) innovations, two persistences) measure
false alarms. A detection within ``--tolerance`` bars after a change point is a hit (the
first one); bars outside those windows are "stable bars"; the first ``--skip`` bars of
every series (the detectors' calibration warm-up) are not scored. Cost is CPU time of
this process (``time.process_time``) per bar.

The **oracle** knows the family, the direction and both scales: it is Page's CUSUM of
the exact log-likelihood ratio ``log f1(x) / f0(x)`` of the true post- and pre-change
densities, its threshold set by simulation for 1 false alarm per 10,000 pre-change bars
(the goal's rate, one CUSUM per direction), started at zero at the change point; its
median delay over ``--oracle-reps`` simulated changes is the physical limit our
detectors are compared with.

    python benchmarks/bench_regime.py                 # the full table (several minutes)
    python benchmarks/bench_regime.py --series 3 --stable-series 2 --detectors cusum
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np
from numba import njit

from harness import regime

BASE_VOL = 0.01
CHANGES = np.array([1000, 1400, 2000, 2400])
UP = (True, False, False, True)
N_CHANGE_BARS = 3000
#: (name, Student-t degrees of freedom or None for Gaussian, volatility factor)
FAMILIES = (("gauss", None, 1.5), ("gauss", None, 2.0), ("gauss", None, 3.0),
            ("t3", 3, 2.0), ("t4", 4, 2.0), ("t5", 5, 2.0), ("t8", 8, 2.0))
#: GARCH(1,1) without regime changes: sigma2[t+1] = omega + alpha r[t]**2 + beta sigma2[t], t(5) shocks
GARCH = (("garch a=.05 b=.90", 0.05, 0.90), ("garch a=.10 b=.88", 0.10, 0.88))
FA_RATE = 1e-4  # the oracle's false alarms per bar: 1 per 10,000


def draw(rng: np.random.Generator, n: int, df: int | None) -> np.ndarray:
    """``n`` i.i.d. shocks with unit standard deviation: Gaussian, or Student-t(df) rescaled."""
    if df is None:
        return rng.standard_normal(n)
    return rng.standard_t(df, n) / math.sqrt(df / (df - 2))


def change_series(df: int | None, factor: float, seed: int) -> np.ndarray:
    vol = np.full(N_CHANGE_BARS, BASE_VOL)
    vol[CHANGES[0]:CHANGES[1]] *= factor
    vol[CHANGES[2]:CHANGES[3]] /= factor
    return vol * draw(np.random.default_rng(seed), N_CHANGE_BARS, df)


def stable_series(df: int | None, n: int, seed: int) -> np.ndarray:
    return BASE_VOL * draw(np.random.default_rng(seed), n, df)


def garch_series(alpha: float, beta: float, n: int, seed: int, df: int = 5, burn: int = 2000) -> np.ndarray:
    """A GARCH(1,1) path with unconditional volatility BASE_VOL and t(df) shocks."""
    omega = BASE_VOL ** 2 * (1.0 - alpha - beta)
    return _garch_nb(draw(np.random.default_rng(seed), n + burn, df), omega, alpha, beta)[burn:]


@njit(cache=True)
def _garch_nb(e, omega, alpha, beta):
    out = np.empty_like(e)
    s2 = omega / (1.0 - alpha - beta)
    for t in range(e.shape[0]):
        out[t] = math.sqrt(s2) * e[t]
        s2 = omega + alpha * out[t] * out[t] + beta * s2
    return out


@njit(cache=True)
def _llr_nb(x, s0, s1, nu):
    """Exact ``log f1(x) - log f0(x)`` of zero-mean scale families (t(nu) of unit variance, nu <= 0 Gaussian)."""
    if nu <= 0:
        return -math.log(s1 / s0) - 0.5 * ((x / s1) ** 2 - (x / s0) ** 2)
    c = nu - 2.0  # t(nu) scaled to unit variance: density of x/s with scale sqrt((nu-2)/nu)
    return -math.log(s1 / s0) - 0.5 * (nu + 1.0) * (math.log1p((x / s1) ** 2 / c) - math.log1p((x / s0) ** 2 / c))


@njit(cache=True)
def _oracle_alarms_nb(x, s0, s1, nu, h):
    """Alarms of the oracle CUSUM (restarting at zero after each) over pre-change data ``x``."""
    s, n = 0.0, 0
    for t in range(x.shape[0]):
        s = max(0.0, s + _llr_nb(x[t], s0, s1, nu))
        if s > h:
            n += 1
            s = 0.0
    return n


@njit(cache=True)
def _oracle_delay_nb(x, s0, s1, nu, h):
    """Bars from the change (x[0] is its first post-change bar) to the oracle's alarm; -1 if none."""
    s = 0.0
    for t in range(x.shape[0]):
        s = max(0.0, s + _llr_nb(x[t], s0, s1, nu))
        if s > h:
            return t
    return -1


def oracle(df: int | None, factor: float, *, reps: int, seed: int = 99) -> dict[str, float]:
    """Thresholds (for FA_RATE) and median delays of the oracle, per direction and pooled."""
    rng = np.random.default_rng(seed)
    nu = 0.0 if df is None else float(df)
    out: dict[str, float] = {}
    delays_all = []
    for direction, (s0, s1) in (("up", (1.0, factor)), ("down", (1.0, 1.0 / factor))):
        pre = draw(rng, 2_000_000, df) * s0
        target = FA_RATE * pre.size
        lo, hi = 1.0, 25.0
        for _ in range(20):  # bisection: alarms fall as h rises (to 0.00002 in h)
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _oracle_alarms_nb(pre, s0, s1, nu, mid) > target else (lo, mid)
        h = 0.5 * (lo + hi)
        d = np.array([_oracle_delay_nb(draw(rng, 2000, df) * s1, s0, s1, nu, h) for _ in range(reps)])
        d = d[d >= 0]
        out[f"h_{direction}"] = h
        out[direction] = float(np.median(d))
        delays_all.append(d)
    out["all"] = float(np.median(np.concatenate(delays_all)))
    return out


def score(cps: np.ndarray, truth: np.ndarray, n: int, skip: int, tol: int) -> regime.DetectionReport:
    return regime.score_detections(cps[cps >= skip] - skip, truth[truth >= skip] - skip, n - skip, tol)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=20, help="seeded change series per family")
    ap.add_argument("--stable-series", type=int, default=10, help="seeded stable series per family and GARCH")
    ap.add_argument("--stable-bars", type=int, default=10_000, help="bars per stable series")
    ap.add_argument("--tolerance", type=int, default=150)
    ap.add_argument("--skip", type=int, default=250, help="warm-up bars not scored")
    ap.add_argument("--oracle-reps", type=int, default=4000, help="simulated changes per oracle delay")
    ap.add_argument("--detectors", default=",".join(regime.available()))
    ap.add_argument("--param", action="append", default=[], help="NAME=VALUE for every detector given")
    args = ap.parse_args(argv)
    extra = {}
    for item in args.param:
        k, _, v = item.partition("=")
        extra[k] = float(v) if any(c in v for c in ".e") else int(v)

    fams = [(f"{name} x{f:g}", df, f) for name, df, f in FAMILIES]
    data = {label: [change_series(df, f, 1000 * i + 17 * k) for i in range(args.series)]
            for k, (label, df, f) in enumerate(fams)}
    stable = {label: [stable_series(df, args.stable_bars, 7_000_000 + 100 * k + i) for i in range(args.stable_series)]
              for k, (label, df, f) in enumerate(fams) if f == 2.0 or df is None and f == 1.5}
    stable["gauss x3"] = stable["gauss x2"] = stable["gauss x1.5"]  # one Gaussian stable set
    garch = {label: [garch_series(a, b, args.stable_bars, 8_000_000 + 100 * k + i) for i in range(args.stable_series)]
             for k, (label, a, b) in enumerate(GARCH)}
    t0 = time.perf_counter()
    oracles = {label: oracle(df, f, reps=args.oracle_reps) for label, df, f in fams}
    print(f"# {args.series} change series x {len(fams)} families x {N_CHANGE_BARS} bars, {args.stable_series} "
          f"stable series x {args.stable_bars:,} bars per family and per GARCH; tolerance {args.tolerance} bars; "
          f"oracle: {args.oracle_reps} changes per direction ({time.perf_counter() - t0:.0f} s)")
    print(f"# default detector: {regime.DEFAULT_DETECTOR}")
    for name in args.detectors.split(","):
        det = regime.get(name, **extra)
        det.run(stable["gauss x2"][0][:500])  # compile
        t_run, bars_run = 0.0, 0

        failed_fits = []

        def run(x, det=det, failed_fits=failed_fits):
            nonlocal t_run, bars_run
            t = time.process_time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", regime.FitWarning)
                res = det.run(x)
            failed_fits.extend(w for w in caught if issubclass(w.category, regime.FitWarning))
            t_run += time.process_time() - t
            bars_run += x.size
            return res

        print(f"\n## {name}  {det.config.to_dict() if extra else ''}")
        print(f"{'family':>10} {'med delay':>9} {'(up/down)':>11} {'oracle':>6} {'(up/down)':>11} {'ratio':>5} "
              f"{'p90':>4} {'recall':>6} {'FA/10k':>6} {'FA/10k stable':>13}")
        for label, *_ in fams:
            reps, up, dn = [], [], []
            for x in data[label]:
                res = run(x)
                reps.append(score(res.change_points, CHANGES, x.size, args.skip, args.tolerance))
                for c, is_up in zip(CHANGES, UP, strict=True):
                    one = score(res.change_points, np.array([c]), x.size, args.skip, args.tolerance)
                    (up if is_up else dn).extend(one.delays.tolist())
            st_reps = [score(run(x).change_points, np.empty(0, np.int64), x.size, args.skip, args.tolerance)
                       for x in stable[label]]
            m = regime.DetectionReport.merge(reps)
            s = regime.DetectionReport.merge(st_reps)
            pooled = regime.DetectionReport.merge(reps + st_reps)
            o = oracles[label]
            print(f"{label:>10} {m.median_delay:9.0f} {np.median(up) if up else np.nan:5.0f}/"
                  f"{np.median(dn) if dn else np.nan:<5.0f} {o['all']:6.0f} {o['up']:5.0f}/{o['down']:<5.0f} "
                  f"{m.median_delay / o['all']:5.2f} {m.p90_delay:4.0f} {m.recall:6.2f} "
                  f"{pooled.false_alarms_per_10k:6.2f} {s.false_alarms_per_10k:13.2f}")
        for label, *_ in GARCH:
            s = regime.DetectionReport.merge(
                [score(run(x).change_points, np.empty(0, np.int64), x.size, args.skip, args.tolerance)
                 for x in garch[label]])
            print(f"{label}: {s.false_alarms} false alarms in {s.stable_bars:,} bars = "
                  f"{s.false_alarms_per_10k:.2f} per 10,000")
        if failed_fits:
            print(f"model fits that failed or were rejected (FitWarning): {len(failed_fits)}")
        det.reset()
        xs = stable["gauss x2"][0][:2000]
        t = time.process_time()
        for v in xs:
            det.update(v)
        t_upd = (time.process_time() - t) / xs.size
        print(f"CPU time per bar: batch run {1e9 * t_run / bars_run:,.0f} ns, streaming update {1e9 * t_upd:,.0f} ns")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
