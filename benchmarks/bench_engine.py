"""Engine speed, side by side with vectorbt, backtesting.py and a hand-written Numba floor.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--bars 1000000] [--bt-bars 100000]``

Cases (single symbol, 1-minute bars, SMA 10/50 crossover, 0.1% fee, warm JIT, best of
``--repeat``):

* full path = signals + simulation + stats:
  ours: ``backtest(bars, "sma_crossover", {"fast": 10, "slow": 50}, config=...).stats``;
  vectorbt: ``MA.run`` x2 + ``ma_crossed_above/below`` + ``Portfolio.from_signals`` + ``stats()``;
  backtesting.py: ``Backtest(df, SmaCross, commission=.001).run()`` on ``--bt-bars`` bars,
  scaled linearly to ``--bars`` (a full 1M-bar run takes minutes; the scaling is printed);
* simulation alone: ``simulate_nb`` (all records) and its metrics-only mode, against a
  minimal hand-written Numba loop (fill at next open, fee, equity at close) on the same weights;
* first call in a fresh process with a warm Numba cache (import + backtest + stats).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np
from numba import njit

MIN_NS = 60_000_000_000


def make_prices(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 5e-4, n)))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0, 1e-4, n - 1))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 2e-4, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 2e-4, n)))
    return open_, high, low, close


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(fns, rounds: int) -> list[float]:
    """Best time of each function, measured in alternation so that a change in machine
    load between measurements does not favour one of them."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [min(t) for t in times]


@njit(cache=True)
def floor_nb(open_, close, w, fee, init_cash, equity):
    """The floor: fill target changes at the next open with a proportional fee and a cash cap; mark at the close."""
    cash = init_cash
    pos = 0.0
    prev = 0.0
    for t in range(close.shape[0]):
        if t > 0:
            tw = w[t - 1]
            if tw != prev:
                eq = cash + pos * open_[t]
                size = tw * eq / open_[t] - pos
                if size > 0.0 and size * open_[t] * (1.0 + fee) > cash:  # buys never spend missing cash
                    size = cash / (1.0 + fee) / open_[t]
                value = size * open_[t]
                cash -= value + abs(value) * fee
                pos += size
                prev = tw
        equity[t] = cash + pos * close[t]


FRESH = r"""
import sys, time
import numpy as np
sys.path.insert(0, {bench_dir!r})
from bench_engine import make_prices
o, h, l, c = make_prices({n})
t0 = time.perf_counter()
from harness import backtest, BacktestConfig
from market_data import Bars
bars = Bars(timestamps=np.arange({n}, dtype=np.int64) * {min_ns}, symbols=("X",), open=o, high=h, low=l,
            close=c, volume=np.ones({n}), frequency="1min")
res = backtest(bars, "sma_crossover", {{"fast": 10, "slow": 50}}, config=BacktestConfig(fee_rate=0.001))
s = res.stats
print(time.perf_counter() - t0)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--bt-bars", type=int, default=100_000, help="bars for backtesting.py (scaled to --bars)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-peers", action="store_true")
    args = ap.parse_args()
    n = args.bars

    from harness.engine import BacktestConfig, backtest, nb
    from harness.engine.enums import order_dt
    from market_data import Bars

    o, h, lo, c = make_prices(n)
    bars = Bars(timestamps=np.arange(n, dtype=np.int64) * MIN_NS, symbols=("X",), open=o, high=h, low=lo,
                close=c, volume=np.ones(n), frequency="1min")
    cfg = BacktestConfig(fee_rate=0.001)
    rows: list[tuple[str, float, str]] = []

    def ours_full():
        bars._digest.clear()  # lineage hashes the data: count it every time
        return backtest(bars, "sma_crossover", {"fast": 10, "slow": 50}, config=cfg).stats

    stats = ours_full()  # warm-up (JIT from cache)

    import strategies

    w = strategies.get("sma_crossover").target_weights(bars, {"fast": 10, "slow": 50})
    p = cfg.fill_params()
    T = n
    eq = np.empty(T)
    cap = 2 * T + 1
    o2, h2, l2, c2 = (a.reshape(-1, 1) for a in (o, h, lo, c))
    empty_o = np.empty(0, dtype=order_dt)

    orders_buf = np.empty(cap, dtype=order_dt)  # outputs preallocated, as the kernel is designed for
    cash_buf = np.empty(T)
    pos_buf = np.empty((T, 1))

    def sim_full():
        return nb.simulate_nb(o2, h2, l2, c2, w, True, 0, 100_000.0, p, eq, cash_buf, pos_buf, orders_buf)

    def sim_metrics():
        return nb.simulate_nb(o2, h2, l2, c2, w, True, 0, 100_000.0, p, eq, np.empty(0), np.empty((0, 1)), empty_o)

    w1 = np.ascontiguousarray(w[:, 0])
    eq_floor = np.empty(T)

    def floor():
        floor_nb(o, c, w1, 0.001, 100_000.0, eq_floor)

    for f in (sim_full, sim_metrics, floor):
        f()
    t_sim, t_simm, t_floor = interleaved([sim_full, sim_metrics, floor], 5 * args.repeat)
    sim_metrics()
    floor()
    agree = np.allclose(eq, eq_floor, rtol=1e-9)

    full_fns = [ours_full]
    if not args.skip_peers:
        import pandas as pd

        warnings.filterwarnings("ignore")
        import vectorbt as vbt

        close = pd.Series(c, index=pd.date_range("2020-01-01", periods=n, freq="1min"))

        def vbt_full():
            fast = vbt.MA.run(close, 10)
            slow = vbt.MA.run(close, 50)
            entries = fast.ma_crossed_above(slow)
            exits = fast.ma_crossed_below(slow)
            pf = vbt.Portfolio.from_signals(close, entries, exits, fees=0.001, freq="1min")
            return pf.stats()

        vs = vbt_full()
        full_fns.append(vbt_full)
    full_times = interleaved(full_fns, args.repeat)
    t_ours = full_times[0]
    rows.append(("ours: full path (signals + simulation + stats)", t_ours, f"{stats['Number of Trades']} trades"))
    if not args.skip_peers:
        t_vbt = full_times[1]
        rows.append(("vectorbt: MA + crossover + from_signals + stats", t_vbt,
                     f"{vs['Total Trades']} trades; ours is {t_vbt / t_ours:.1f}x faster"))

        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover
        from backtesting.test import SMA

        class SmaCross(Strategy):
            def init(self):
                self.f = self.I(SMA, self.data.Close, 10)
                self.s = self.I(SMA, self.data.Close, 50)

            def next(self):
                if crossover(self.f, self.s):
                    self.buy()
                elif crossover(self.s, self.f):
                    self.position.close()

        m = min(args.bt_bars, n)
        df = pd.DataFrame({"Open": o[:m], "High": h[:m], "Low": lo[:m], "Close": c[:m], "Volume": 1.0},
                          index=close.index[:m])

        def bt_run():
            return Backtest(df, SmaCross, cash=100_000, commission=0.001).run()

        t_bt_raw = best(bt_run, 1)
        t_ours_now = best(ours_full, 3)  # measured right after, under the same load
        t_bt = t_bt_raw * n / m
        rows.append((f"backtesting.py: run() on {m:,} bars, scaled x{n / m:g}", t_bt,
                     f"ours is {t_bt / t_ours_now:.0f}x faster (ours {t_ours_now:.3f} s right after)"))
    rows.append(("ours: simulate_nb, all records", t_sim, f"{t_sim / t_floor:.2f}x floor"))
    rows.append(("ours: simulate_nb, metrics-only", t_simm, f"{t_simm / t_floor:.2f}x floor"))
    rows.append(("floor: hand-written Numba loop", t_floor, f"equity agrees with ours: {agree}"))

    bench_dir = os.path.dirname(os.path.abspath(__file__))
    code = FRESH.format(bench_dir=bench_dir, n=n, min_ns=MIN_NS)
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # warm the cache
    fresh = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.strip()) for _ in range(3)]
    rows.append(("ours: fresh process, warm cache: import + backtest + stats", min(fresh),
                 f"runs: {', '.join(f'{x:.2f}' for x in fresh)} s"))

    print(f"\nengine benchmark, {n:,} x 1 one-minute bars, SMA 10/50, fee 0.1%, best of {args.repeat}")
    print(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}\n")
    print("| case | seconds | note |")
    print("|---|---:|---|")
    for name, t, note in rows:
        print(f"| {name} | {t:.4f} | {note} |")


if __name__ == "__main__":
    main()
