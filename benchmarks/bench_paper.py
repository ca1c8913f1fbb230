"""Paper runner: per-bar latency at 1 and 500 symbols with 100,000 bars of history, the store
feed's detection delay, and replay throughput.

    python benchmarks/bench_paper.py            # the issue's sizes (a few minutes, ~2.5 GB RAM)
    python benchmarks/bench_paper.py --quick    # small sizes, for a smoke run

Per-bar latency: from the moment the runner is handed a bar (``Bar.seen_at``, set where the
feed saw its commit) to the bar's orders submitted and its ledger transaction committed
(SQLite WAL, synchronous=NORMAL), measured over ``--bars`` live bars after a history of
``--history`` minute bars (sma_crossover 10/50, a SimBroker on disk). Detection delay: a
writer appends one bar per commit to a real home store; delay = the feed's ``seen_at``
minus the moment the writer's commit returned (poll interval 10 ms). Replay throughput:
``replay()`` of one symbol, bars per second, with the ledger's commits as specified.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

MIN = 60_000_000_000


def synthetic(T: int, N: int, seed: int = 0):
    from market_data import Bars

    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.0003, (T, N)))
    return Bars(timestamps=np.arange(T, dtype=np.int64) * MIN + 1_600_000_000 * 1_000_000_000,
                symbols=tuple(f"S{i:03d}" for i in range(N)), open=open_, high=np.fmax(open_, close) * 1.0005,
                low=np.fmin(open_, close) * 0.9995, close=close, volume=np.full((T, N), 1e4), frequency="1min")


def latency(N: int, history: int, live: int, folder: Path) -> np.ndarray:
    from harness import BacktestConfig
    from harness.paper import Ledger, SimBroker
    from harness.paper._core import Runner
    from harness.paper._decide import FixedSource, History, WindowedDecider
    from harness.paper._feed import bars_rows

    bars = synthetic(history + live, N, seed=N)
    cfg = BacktestConfig(fee_rate=0.0005)
    hist = History(bars.symbols, bars.frequency, capacity=history + live + 1)
    hist.extend(bars[:history])
    led = Ledger.create(folder / f"lat{N}-{history}.db", deployment="bench", symbols=bars.symbols,
                        init_cash=cfg.init_cash)
    sim = SimBroker(bars.symbols, config=cfg, path=folder / f"lat{N}-{history}.broker.db")
    dec = WindowedDecider("sma_crossover", {"fast": 10, "slow": 50})
    run = Runner(deployment="bench", symbols=bars.symbols, frequency=bars.frequency, config=cfg, broker=sim,
                 ledger=led, source=FixedSource("1", dec), history=hist)
    out = []
    for bar in bars_rows(bars, history):
        t0 = time.perf_counter()
        run.process(bar)
        out.append(time.perf_counter() - t0)
    assert dec.fallbacks == 0
    led.close()
    sim.close()
    return np.array(out[5:])  # the first bars compile and warm caches


def detection(N: int, history: int, live: int, home: Path) -> np.ndarray:
    os.environ["HARNESS_HOME"] = str(home)
    from harness._bars import home_store
    from harness.paper import StoreFeed

    bars = synthetic(history + live, N, seed=3)
    store = home_store(create=True)
    store.write(bars[:history], message="history")
    feed = StoreFeed(bars.symbols, frequency="1min", poll_interval=0.01, idle_timeout=10.0, store=store)
    done: dict[int, float] = {}
    seen: dict[int, float] = {}

    def consume():
        for bar in feed:
            seen[int(bar.time)] = bar.seen_at
            if len(seen) >= live:
                feed.stop()

    th = threading.Thread(target=consume)
    th.start()
    for t in range(history, history + live):
        store.write(bars[t:t + 1], message=f"bar {t}")
        done[int(bars.timestamps[t])] = time.monotonic()
        time.sleep(0.05)
    th.join(timeout=60)
    return np.array([seen[k] - done[k] for k in seen if k in done])


def throughput(T: int, folder: Path) -> float:
    from harness import BacktestConfig
    from harness.paper import replay

    bars = synthetic(T, 1, seed=9)
    replay(bars[:300], "sma_crossover", {"fast": 10, "slow": 50}, ledger_dir=folder / "warm")  # compile
    t0 = time.perf_counter()
    replay(bars, "sma_crossover", {"fast": 10, "slow": 50}, config=BacktestConfig(fee_rate=0.0005),
           ledger_dir=folder / "tp")
    return T / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bars", type=int, default=300, help="live bars measured per setting")
    a = ap.parse_args()
    big = 5_000 if a.quick else 100_000
    live = 50 if a.quick else a.bars
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        rows = []
        for N in (1, 500):
            for H in (1_000, big):
                lat = latency(N, H, live, folder) * 1e3
                rows.append((N, H, np.percentile(lat, 50), np.percentile(lat, 99)))
                print(f"symbols {N:4d}  history {H:7d}  p50 {rows[-1][2]:7.2f} ms  p99 {rows[-1][3]:7.2f} ms",
                      flush=True)
        for N in (1, 500):
            small = next(r for r in rows if r[0] == N and r[1] == 1_000)
            large = next(r for r in rows if r[0] == N and r[1] == big)
            print(f"symbols {N:4d}: p99 at {big:,} bars of history / at 1,000 = {large[3] / small[3]:.2f}x "
                  "(goal <= 1.5x)")
        p99_500 = next(r for r in rows if r[0] == 500 and r[1] == big)[3]
        print(f"p99 at 500 symbols, {big:,} bars: {p99_500:.1f} ms (goal <= 50 ms): {p99_500 / 50:.2f}x the goal")
        det = detection(500 if not a.quick else 20, 1_000, 40 if not a.quick else 10, folder / "home") * 1e3
        print(f"detection delay (store commit -> feed sees it, poll 10 ms): p50 {np.percentile(det, 50):.1f} ms  "
              f"p99 {np.percentile(det, 99):.1f} ms", flush=True)
        tp = throughput(5_000 if a.quick else 20_000, folder)
        print(f"replay throughput, one symbol: {tp:,.0f} bars/s (goal >= 5,000): {tp / 5000:.2f}x the goal")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
