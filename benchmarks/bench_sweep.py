"""Parameter sweeps: the fused Numba kernel (``harness.sweep``) against vectorbt, side by side.

1. ``--combos`` (100) SMA-crossover combinations (fast x slow, 10 x 10) over ``--bars``
   (100,000) hourly synthetic bars with a 0.1% fee, filled at the next open. vectorbt does
   the same: ``vbt.MA.run`` with the parameter product, the crossovers of the
   fast-above-slow state (entries/exits, shifted one bar so they fill at the next open,
   ``price=open``), ``Portfolio.from_signals`` with the same fee, then total return and
   Sharpe of every column. The benchmark asserts that both give the same numbers to
   1e-9 and prints the speed ratio (best of ``--repeat`` warm runs; compile excluded and
   reported separately).
2. ``--big-combos`` (10,000) combinations over the same bars in a fresh subprocess that
   reports its wall time and its peak resident memory (``VmHWM``); the goal is under
   1.5 GB on 2 cores. vectorbt is not run there: each of its (bars x combinations) float64
   arrays would take ``bars * combos * 8`` bytes (8 GB at the default sizes).

    python benchmarks/bench_sweep.py                      # the full table (a few minutes)
    python benchmarks/bench_sweep.py --bars 20000 --big-combos 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

FEE = 0.001
FREQ = "1h"


def make_bars(n_bars: int, seed: int = 42):
    from market_data.synthetic import regime_switching

    bars, _ = regime_switching(n_bars, 1, seed=seed, frequency=FREQ, start="2000-01-03")
    return bars


def grid_100() -> dict[str, list[int]]:
    return {"fast": list(range(5, 55, 5)), "slow": list(range(60, 260, 20))}


def grid_big(n: int) -> dict[str, list[int]]:
    k = int(round(n ** 0.5))
    return {"fast": list(range(2, 2 + k)), "slow": list(range(200, 200 + 2 * k, 2))}


TWO = ("total_return", "sharpe")


def run_ours(bars, grid, config, metrics=TWO):
    from harness.sweep import sweep

    return sweep(bars, "sma_crossover", grid, config=config, metrics=metrics, progress=False)


def all_metrics():
    from harness.sweep import METRICS

    return tuple(METRICS)


def run_vectorbt(bars, fast, slow, ppy, full=False):
    """vectorbt's sweep: total return and Sharpe of every column; with ``full`` also the rest
    of our metric set (CAGR, volatility, Sortino, Calmar, max drawdown and its duration,
    order count), in vectorbt's own definitions."""
    import vectorbt as vbt

    idx = bars.index() if callable(getattr(bars, "index", None)) else None
    close = pd.Series(bars.close[:, 0], index=idx)
    open_ = pd.Series(bars.open[:, 0], index=idx)
    fast_ma = vbt.MA.run(close, fast, short_name="fast")
    slow_ma = vbt.MA.run(close, slow, short_name="slow")
    above = fast_ma.ma_above(slow_ma).to_numpy()  # state: fast > slow (NaN compares False)
    above = above.reshape(len(close), -1)
    prev = np.vstack([np.zeros((1, above.shape[1]), bool), above[:-1]])
    entries, exits = above & ~prev, ~above & prev  # the crossovers of that state
    # decided at the close of t -> filled at the open of t + 1
    entries = np.vstack([np.zeros((1, above.shape[1]), bool), entries[:-1]])
    exits = np.vstack([np.zeros((1, above.shape[1]), bool), exits[:-1]])
    pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees=FEE, init_cash=100_000.0,
                                    freq=pd.Timedelta(FREQ))
    total = np.atleast_1d(pf.total_return())
    rets = pf.returns().vbt.returns(freq=pd.Timedelta(FREQ), year_freq=pd.Timedelta(FREQ) * ppy)
    sharpe = rets.sharpe_ratio()
    if not full:
        return total, np.atleast_1d(sharpe)
    rest = (rets.annualized(), rets.annualized_volatility(), rets.sortino_ratio(), rets.calmar_ratio(),
            rets.max_drawdown(), pf.drawdowns.max_duration(), pf.orders.count())
    return total, np.atleast_1d(sharpe), rest


def best_of(fn, repeat):
    best, cpu, out = float("inf"), 0.0, None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        if dt < best:
            best, cpu = dt, time.process_time() - c0
    return best, cpu, out


def side_by_side(n_bars: int, repeat: int) -> None:
    from harness.engine import BacktestConfig
    from market_data.frequency import periods_per_year

    bars = make_bars(n_bars)
    grid = grid_100()
    combos = [(f, s) for f in grid["fast"] for s in grid["slow"]]
    cfg = BacktestConfig(fee_rate=FEE)
    ppy = periods_per_year(FREQ)

    fasts, slows = [f for f, _ in combos], [s for _, s in combos]
    t0 = time.perf_counter()  # first calls on a short prefix: compile (or load caches), same types
    run_ours(bars[:1000], grid, cfg)
    ours_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_vectorbt(bars[:1000], fasts, slows, ppy)
    vbt_cold = time.perf_counter() - t0
    run_ours(bars[:1000], grid, cfg, all_metrics())  # the full sets' first calls, outside the timing
    run_vectorbt(bars[:1000], fasts, slows, ppy, True)

    t_ours, c_ours, df = best_of(lambda: run_ours(bars, grid, cfg), repeat)
    t_vbt, c_vbt, (tot, sh) = best_of(lambda: run_vectorbt(bars, fasts, slows, ppy), repeat)
    assert list(zip(df["fast"], df["slow"], strict=True)) == combos
    np.testing.assert_allclose(df["total_return"].to_numpy(), tot, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(df["sharpe"].to_numpy(), sh, rtol=1e-9, atol=1e-12)
    t_ours_f, c_ours_f, df_f = best_of(lambda: run_ours(bars, grid, cfg, all_metrics()), repeat)
    t_vbt_f, c_vbt_f, (tot_f, sh_f, _rest) = best_of(lambda: run_vectorbt(bars, fasts, slows, ppy, True), repeat)
    np.testing.assert_allclose(df_f["total_return"].to_numpy(), tot_f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(df_f["sharpe"].to_numpy(), sh_f, rtol=1e-9, atol=1e-12)
    n_steps = len(combos) * n_bars
    print(f"\n1) {len(combos)} SMA-crossover combinations x {n_bars:,} bars, fee {FEE}, fill at next open")
    print("   same total return and Sharpe on every column: yes (rtol 1e-9, asserted)")
    print(f"   {'':<34}{'wall s':>10}{'CPU s':>10}{'first call s':>14}")
    print(f"   {'harness.sweep, 2 metrics':<34}{t_ours:>10.3f}{c_ours:>10.3f}{ours_cold:>14.2f}")
    print(f"   {'vectorbt 1.2, 2 metrics':<34}{t_vbt:>10.3f}{c_vbt:>10.3f}{vbt_cold:>14.2f}")
    print(f"   {'harness.sweep, all 9 metrics':<34}{t_ours_f:>10.3f}{c_ours_f:>10.3f}")
    print(f"   {'vectorbt 1.2, the same 9':<34}{t_vbt_f:>10.3f}{c_vbt_f:>10.3f}")
    print(f"   speed-up, 2 metrics (wall): {t_vbt / t_ours:.1f}x   (CPU): {c_vbt / c_ours:.1f}x")
    print(f"   speed-up, all metrics (wall): {t_vbt_f / t_ours_f:.1f}x   (CPU): {c_vbt_f / c_ours_f:.1f}x")
    print(f"   ours: {n_steps / c_ours / 1e6:.0f}M bar-steps per CPU second (2 metrics), "
          f"{n_steps / c_ours_f / 1e6:.0f}M (all metrics)   [best of {repeat} warm runs; first call = compile or "
          f"cache load]")


def peak_rss_mb() -> float:
    """Peak resident memory of this process: ``VmHWM`` (Linux), else ``ru_maxrss``.

    ``ru_maxrss`` alone is wrong for a child: on Linux it keeps the parent's peak from
    before ``exec`` (here the vectorbt half), while ``VmHWM`` belongs to the new image.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_child(n_bars: int, n_combos: int) -> None:
    from harness.engine import BacktestConfig

    bars = make_bars(n_bars)
    base = peak_rss_mb()
    run_ours(bars, {"fast": [5], "slow": [60]}, BacktestConfig(fee_rate=FEE))  # compile / load the cache
    warm = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    df = run_ours(bars, grid_big(n_combos), BacktestConfig(fee_rate=FEE))
    out = {"rows": len(df), "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
           "maxrss_mb": peak_rss_mb(), "rss_before_mb": warm, "rss_data_mb": base,
           "finite": int(np.isfinite(df["sharpe"]).sum())}
    t0, c0 = time.perf_counter(), time.process_time()
    run_ours(bars, grid_big(n_combos), BacktestConfig(fee_rate=FEE), all_metrics())
    out.update(wall_all_s=time.perf_counter() - t0, cpu_all_s=time.process_time() - c0, maxrss_all_mb=peak_rss_mb())
    print(json.dumps(out))


def big(n_bars: int, n_combos: int) -> None:
    import numba

    proc = subprocess.run([sys.executable, __file__, "--child", "--bars", str(n_bars), "--big-combos", str(n_combos)],
                          capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n2) {r['rows']:,} combinations x {n_bars:,} bars on {numba.config.NUMBA_NUM_THREADS} threads "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    steps = r["rows"] * n_bars
    threads = numba.config.NUMBA_NUM_THREADS
    print(f"   total return + Sharpe: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, "
          f"{r['wall_s'] / r['rows'] * 1e3:.2f} ms per combination (wall); "
          f"{steps / r['cpu_s'] / 1e6:.0f}M bar-steps per CPU second, "
          f"{steps / r['wall_s'] / threads / 1e6:.0f}M per thread of wall time")
    print(f"   all 9 metrics: wall {r['wall_all_s']:.1f} s, CPU {r['cpu_all_s']:.1f} s; "
          f"{steps / r['cpu_all_s'] / 1e6:.0f}M bar-steps per CPU second, "
          f"{steps / r['wall_all_s'] / threads / 1e6:.0f}M per thread of wall time")
    print(f"   peak RSS of the process {r['maxrss_all_mb']:.0f} MB (after imports and data: {r['rss_data_mb']:.0f} MB, "
          f"+ first call: {r['rss_before_mb']:.0f} MB; after the first 10,000: {r['maxrss_mb']:.0f} MB); "
          f"goal < 1536 MB: {'yes' if r['maxrss_all_mb'] < 1536 else 'NO'}")
    print(f"   vectorbt equivalent: one float64 (bars x combinations) array = "
          f"{n_bars * r['rows'] * 8 / 2**30:.1f} GiB (not run)")
    print(f"   load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--big-combos", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        big_child(args.bars, args.big_combos)
        return 0
    print(f"bench_sweep: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    side_by_side(args.bars, args.repeat)
    if not args.skip_big:
        big(args.bars, args.big_combos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
