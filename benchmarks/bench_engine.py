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
* the full path's overhead: ``backtest(...).stats`` against its kernels alone on the same
  data, the **reference** = strategy kernel (``target_weights``) + ``simulate_nb``
  (metrics-only) + ``metrics_nb``;
* from signals: entries/exits precomputed from the strategy's weights (the same ones on
  both sides); ours ``backtest(bars, weights=w).stats`` (all stats), vectorbt
  ``Portfolio.from_signals(close, entries, exits, price=open, fees=...)`` (shifted one bar:
  the same fills at the next open) + total return, Sharpe, max drawdown and trade count;
* first call in a fresh process with a warm Numba cache (import + backtest + stats).

Every case is timed in alternation with its peer (``--repeat`` rounds); the table gives
the best and the median round, and ratios of medians (and of bests).
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


def interleaved_all(fns, rounds: int) -> list[list[float]]:
    """Every round's time of each function, measured in alternation so that a change in
    machine load between measurements does not favour one of them."""
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return times


def interleaved(fns, rounds: int) -> list[float]:
    """Best time of each function, measured in alternation (see :func:`interleaved_all`)."""
    return [min(t) for t in interleaved_all(fns, rounds)]


def med(t: list[float]) -> float:
    return float(np.median(t))


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
    load0 = ' / '.join(f'{x:.1f}' for x in os.getloadavg())

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

    # the full path's overhead over its kernels on the same data
    strat = strategies.get("sma_crossover")
    sp = strat.Params(fast=10, slow=50)
    m_out = np.empty(8)
    from market_data.frequency import periods_per_year

    ppy = float(periods_per_year("1min"))
    eq_ref = np.empty(T)

    def ref_signal():
        return strat.target_weights(bars, sp)

    def ref_sim():
        nb.simulate_nb(bars.open, bars.high, bars.low, bars.close, w, True, 0, 100_000.0, p, eq_ref, np.empty(0),
                       np.empty((0, 1)), empty_o)

    def ref_metrics():
        nb.metrics_nb(eq_ref, 100_000.0, ppy, m_out)

    for f in (ref_signal, ref_sim, ref_metrics):
        f()
    rt = interleaved_all([ours_full, ref_signal, ref_sim, ref_metrics], 3 * args.repeat)
    ref_med = med(rt[1]) + med(rt[2]) + med(rt[3])
    ref_best = min(rt[1]) + min(rt[2]) + min(rt[3])
    overhead = (med(rt[0]) / ref_med, min(rt[0]) / ref_best)

    full_fns = [ours_full]
    if not args.skip_peers:
        import pandas as pd

        warnings.filterwarnings("ignore")
        import vectorbt as vbt

        index = pd.date_range("2020-01-01", periods=n, freq="1min")
        close = pd.Series(c, index=index)

        def vbt_full():
            fast = vbt.MA.run(close, 10)
            slow = vbt.MA.run(close, 50)
            entries = fast.ma_crossed_above(slow)
            exits = fast.ma_crossed_below(slow)
            pf = vbt.Portfolio.from_signals(close, entries, exits, fees=0.001, freq="1min")
            return pf.stats()

        vs = vbt_full()
        full_fns.append(vbt_full)
    full_all = interleaved_all(full_fns, args.repeat)
    full_times = [min(t) for t in full_all]
    t_ours = full_times[0]
    rows.append(("ours: full path (signals + simulation + stats)", t_ours,
                 f"median {med(full_all[0]):.4f} s; {stats['Number of Trades']} trades"))
    rows.append(("reference: strategy kernel + simulate_nb (metrics-only) + metrics_nb", ref_best,
                 f"median {ref_med:.4f} s (kernel {med(rt[1]):.4f} + simulate {med(rt[2]):.4f} + metrics "
                 f"{med(rt[3]):.4f}); full path / reference = {overhead[0]:.2f}x (medians), "
                 f"{overhead[1]:.2f}x (bests)"))
    if not args.skip_peers:
        t_vbt = full_times[1]
        rows.append(("vectorbt: MA + crossover + from_signals + stats", t_vbt,
                     f"median {med(full_all[1]):.4f} s; {vs['Total Trades']} trades; ours is "
                     f"{med(full_all[1]) / med(full_all[0]):.1f}x faster (medians), {t_vbt / t_ours:.1f}x (bests)"))

        # from precomputed signals, the same fills on both sides (next open, fee 0.1%)
        held = w[:, 0] > 0
        prev = np.concatenate([[False], held[:-1]])
        entries = np.concatenate([[False], (held & ~prev)[:-1]])  # decided at the close of t-1, filled at t
        exits = np.concatenate([[False], (~held & prev)[:-1]])
        e_s, x_s = pd.Series(entries, index=index), pd.Series(exits, index=index)
        open_s = pd.Series(o, index=index)
        w_sig = w.copy()

        def ours_signals():
            s_ = backtest(bars, weights=w_sig, config=cfg).stats
            return s_["Total Return [%]"], s_["Sharpe Ratio"], s_["Max Drawdown [%]"], s_["Number of Trades"]

        def vbt_signals():
            pf = vbt.Portfolio.from_signals(close, e_s, x_s, price=open_s, fees=0.001, init_cash=100_000.0,
                                            freq="1min")
            return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown(), pf.trades.count()

        ours_sig, vbt_sig = ours_signals(), vbt_signals()
        sig_all = interleaved_all([ours_signals, vbt_signals], args.repeat)
        rows.append(("ours: backtest(weights=...).stats from precomputed signals", min(sig_all[0]),
                     f"median {med(sig_all[0]):.4f} s; total return {ours_sig[0]:.6f}%, {ours_sig[3]} trades"))
        rows.append(("vectorbt: from_signals + total return, Sharpe, max drawdown, trades", min(sig_all[1]),
                     f"median {med(sig_all[1]):.4f} s; total return {vbt_sig[0] * 100:.6f}%, {vbt_sig[3]} trades; "
                     f"ours is {med(sig_all[1]) / med(sig_all[0]):.1f}x faster (medians), "
                     f"{min(sig_all[1]) / min(sig_all[0]):.1f}x (bests)"))

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
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average (1/5/15 min) "
          f"{load0} at the start, {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    print("| case | seconds | note |")
    print("|---|---:|---|")
    for name, t, note in rows:
        print(f"| {name} | {t:.4f} | {note} |")


if __name__ == "__main__":
    main()
