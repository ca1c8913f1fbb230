"""Regime detectors against synthetic ground truth: delay, precision, recall, false alarms, cost.

Series come from ``market_data.synthetic.regime_switching`` (Gaussian log returns, base
volatility 1% per bar). For each factor f in (1.5, 2, 3) and seed, a 3,000-bar series
has four known change points: x f up at bar 1000, back down at 1400, / f down at 2000,
back up at 2400. Separate stable series (one regime, 10,000 bars) measure false alarms.
A detection within ``--tolerance`` bars after a change point is a hit (the first one);
bars outside those windows are "stable bars"; the first ``--skip`` bars of every series
(the detectors' calibration warm-up) are not scored. Cost is CPU time of this process
(``time.process_time``) per bar, so a busy machine inflates it less than wall time.

    python benchmarks/bench_regime.py                 # the full table (a few minutes)
    python benchmarks/bench_regime.py --series 3 --stable-series 2 --detectors cusum
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from harness import regime
from market_data.synthetic import Regime, regime_switching

BASE_VOL = 0.01
FACTORS = (1.5, 2.0, 3.0)
SCHEDULE = [(0, 0), (1000, 1), (1400, 0), (2000, 2), (2400, 0)]
N_CHANGE_BARS = 3000


def change_series(factor: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    regs = (Regime(vol=BASE_VOL), Regime(vol=BASE_VOL * factor), Regime(vol=BASE_VOL / factor))
    bars, truth = regime_switching(N_CHANGE_BARS, regimes=regs, schedule=SCHEDULE, seed=seed)
    return regime.returns_from_bars(bars), truth.change_points


def stable_series(n_bars: int, seed: int) -> np.ndarray:
    bars, _ = regime_switching(n_bars, regimes=(Regime(vol=BASE_VOL),), schedule=[(0, 0)], seed=seed)
    return regime.returns_from_bars(bars)


def score(cps: np.ndarray, truth: np.ndarray, n: int, skip: int, tol: int) -> regime.DetectionReport:
    return regime.score_detections(cps[cps >= skip] - skip, truth[truth >= skip] - skip, n - skip, tol)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=20, help="seeded change series per factor")
    ap.add_argument("--stable-series", type=int, default=20, help="seeded stable series")
    ap.add_argument("--stable-bars", type=int, default=10_000, help="bars per stable series")
    ap.add_argument("--tolerance", type=int, default=100)
    ap.add_argument("--skip", type=int, default=250, help="warm-up bars not scored")
    ap.add_argument("--detectors", default=",".join(regime.available()))
    ap.add_argument("--param", action="append", default=[], help="NAME=VALUE for every detector given")
    args = ap.parse_args(argv)
    extra = {}
    for item in args.param:
        k, _, v = item.partition("=")
        extra[k] = float(v) if any(c in v for c in ".e") else int(v)

    data = {f: [change_series(f, 1000 * i + int(10 * f)) for i in range(args.series)] for f in FACTORS}
    stable = [stable_series(args.stable_bars, 7_000_000 + i) for i in range(args.stable_series)]
    n_bars_total = sum(x.size for f in FACTORS for x, _ in data[f]) + sum(x.size for x in stable)
    print(f"# {args.series} change series x {len(FACTORS)} factors x {N_CHANGE_BARS} bars, "
          f"{args.stable_series} stable series x {args.stable_bars} bars; tolerance {args.tolerance} bars; "
          f"{n_bars_total:,} bars per detector")
    print(f"# default detector: {regime.DEFAULT_DETECTOR}")
    for name in args.detectors.split(","):
        det = regime.get(name, **extra)
        det.run(stable[0][:500])  # compile
        rows = []
        t_run = 0.0
        bars_run = 0
        stable_reports = []
        for f in FACTORS:
            reps, up, dn = [], [], []
            for x, truth in data[f]:
                t0 = time.process_time()
                res = det.run(x)
                t_run += time.process_time() - t0
                bars_run += x.size
                rep = score(res.change_points, truth, x.size, args.skip, args.tolerance)
                reps.append(rep)
                # split hits by direction: truth order is up, down, down, up
                for c, is_up in zip(truth, (True, False, False, True), strict=True):
                    (up if is_up else dn).append(score(res.change_points, np.array([c]), x.size, args.skip,
                                                       args.tolerance).hits)
            m = regime.DetectionReport.merge(reps)
            rows.append((f"x{f:g}", m, float(np.mean(up)), float(np.mean(dn))))
            stable_reports.append(m)
        for x in stable:
            t0 = time.process_time()
            res = det.run(x)
            t_run += time.process_time() - t0
            bars_run += x.size
            stable_reports.append(score(res.change_points, np.empty(0, np.int64), x.size, args.skip, args.tolerance))
        pooled = regime.DetectionReport.merge(stable_reports)
        only_stable = regime.DetectionReport.merge(stable_reports[len(FACTORS):])
        # streaming cost: update() one bar at a time
        det.reset()
        xs = stable[0][:2000]
        t0 = time.process_time()
        for v in xs:
            det.update(v)
        t_upd = (time.process_time() - t0) / xs.size
        print(f"\n## {name}  {det.config.to_dict() if extra else ''}")
        print(f"{'shift':>6} {'med delay':>9} {'p90 delay':>9} {'precision':>9} {'recall':>7} "
              f"{'recall up':>9} {'recall dn':>9} {'FA/10k':>7}")
        for label, m, ru, rd in rows:
            print(f"{label:>6} {m.median_delay:9.0f} {m.p90_delay:9.0f} {m.precision:9.2f} {m.recall:7.2f} "
                  f"{ru:9.2f} {rd:9.2f} {m.false_alarms_per_10k:7.2f}")
        print(f"false alarms on stable series: {only_stable.false_alarms} in {only_stable.stable_bars:,} bars "
              f"= {only_stable.false_alarms_per_10k:.2f} per 10,000; on all stable bars (with those between "
              f"changes): {pooled.false_alarms} in {pooled.stable_bars:,} = {pooled.false_alarms_per_10k:.2f} per 10,000")
        print(f"CPU time per bar: batch run {1e9 * t_run / bars_run:,.0f} ns, streaming update {1e9 * t_upd:,.0f} ns")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
