"""Promotion-gate calibration: false promotions without an edge, power with one, snooping.

Simulated daily returns (``harness.gate._calibration``): Student-t(4) innovations,
AR(1) 0.1, champion annualised Sharpe 0.5 at 1 % daily volatility, every challenger
correlated 0.9 with the champion, 504 bars (2 years) of holdout. The gate runs its
statistical checks (oos_improvement, deflated_sharpe, pbo, reality_check) at their
default thresholds (``GatePolicy()``: alpha 0.05, min_sharpe_gain 0.1, min_dsr 0.95,
max_pbo 0.3, 1,000 bootstrap reps). Side by side, two peers a user might write
instead: ``naive`` (promote whenever the holdout Sharpe is higher) and ``t_test``
(a one-sided iid t-test of the paired difference at alpha, blind to the trials).

Cases and goals:
  no_edge            challenger = champion + noise, n_trials 1     promoted <= alpha + 1.5 %
  real_edge          +1.0 annualised Sharpe, n_trials 1            promoted >= 80 %
  snooping           best of 100 no-edge candidates, n_trials 100  promoted <= alpha
  edge_among_trials  one +1.0 candidate among 100 (no goal: power under a large search)
  zero_gain          true Sharpe gain exactly 0 (no goal; the oos_improvement column is its size)

    python benchmarks/bench_gate.py                      # 1,000 seeds per case (tens of minutes)
    python benchmarks/bench_gate.py --seeds 100 --cases no_edge,real_edge
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from harness.gate import GatePolicy
from harness.gate._calibration import CASES, STATISTICAL_CHECKS, calibrate

GOALS = {"no_edge": ("<=", 0.05 + 0.015), "real_edge": (">=", 0.80), "snooping": ("<=", 0.05)}


def _load() -> str:
    try:
        return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1000, help="seeds per case")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--checks", default=",".join(STATISTICAL_CHECKS),
                    help="checks to run (default: the four statistical ones; e.g. pbo alone for its distribution)")
    ap.add_argument("--lazy", action="store_true",
                    help="stop at a seed's first failing check (same promotion rate; per-check columns "
                         "then count passes over the seeds where the check ran)")
    args = ap.parse_args(argv)
    policy = GatePolicy(checks=tuple(args.checks.split(",")))
    print(f"# bench_gate: {args.seeds} seeds per case, checks {', '.join(policy.checks)}"
          f"{' (lazy: passed/ran)' if args.lazy else ''}; {_load()}", flush=True)
    header = (f"{'case':<18} {'promoted':>9} {'± s.e.':>7} {'goal':>9} {'met':>4} {'naive':>7} {'t_test':>7}  "
              + "  ".join(f"{c[:14]:>14}" for c in policy.checks) + f"  {'ms/decision':>11}")
    print(header)
    failed = False
    for case in args.cases.split(","):
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        t0 = time.perf_counter()
        res = calibrate(case, seeds, policy=policy, lazy=args.lazy)
        ms = (time.perf_counter() - t0) / args.seeds * 1e3
        op, goal = GOALS.get(case, (None, None))
        met = "-" if goal is None else ("yes" if (res.rate <= goal if op == "<=" else res.rate >= goal) else "NO")
        failed |= met == "NO"
        goal_s = "-" if goal is None else f"{op}{goal:.1%}"
        if res.check_runs is None:
            passes = "  ".join(f"{res.check_pass[c] / res.n_seeds:>14.1%}" for c in policy.checks)
        else:
            passes = "  ".join(f"{f'{res.check_pass[c]}/{res.check_runs[c]}':>14}" for c in policy.checks)
        print(f"{case:<18} {res.rate:>9.1%} {res.stderr:>7.1%} {goal_s:>9} {met:>4} "
              f"{res.peers['naive'] / res.n_seeds:>7.1%} {res.peers['t_test'] / res.n_seeds:>7.1%}  {passes}  "
              f"{ms:>11.0f}", flush=True)
        pbo = res.values.get("pbo", np.array([]))
        pbo = pbo[np.isfinite(pbo)]
        if pbo.size:
            q = np.quantile(pbo, [0.1, 0.5, 0.9])
            print(f"{'':<18} PBO quantiles 10/50/90 %: {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}; "
                  f"share <= 0.3: {np.mean(pbo <= 0.3):.1%}", flush=True)
    print(f"# done; {_load()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
