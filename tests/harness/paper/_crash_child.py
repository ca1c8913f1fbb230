"""Child process of the SIGKILL tests: a replay on a persistent ledger that kills itself at random.

Usage: python _crash_child.py FOLDER SEED KILL_P   (KILL_P = 0: never kill itself).

The broker wrapper sends SIGKILL to its own process, with probability KILL_P per call, at
the points the outbox protocol must survive: before a submit reaches the broker, after
the broker took it but before the runner heard back (between broker submit and ledger
commit), and after the venue processed a bar. The parent also kills at random moments.
"""

from __future__ import annotations

import os
import random
import signal
import sys

import numpy as np


def bars():
    from market_data import Bars

    day = 86_400_000_000_000
    rng = np.random.default_rng(7)
    T, N = 160, 2
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.006, (T, N)))
    close[rng.random((T, N)) < 0.04] = np.nan
    open_[np.isnan(close)] = np.nan
    return Bars(timestamps=(np.arange(T, dtype=np.int64) + 18_000) * day, symbols=("AAA", "BBB"), open=open_,
                high=np.fmax(open_, close) * 1.01, low=np.fmin(open_, close) * 0.99, close=close,
                volume=np.ones((T, N)), frequency="1d")


CONFIG = dict(fee_rate=0.001, stop_loss=0.04, size_granularity=1.0)
PARAMS = {"fast": 3, "slow": 10}


def main() -> int:
    from harness.engine.config import BacktestConfig
    from harness.paper import replay
    from harness.paper.testing import DroppingBroker

    folder, seed, p = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rng = random.Random(seed)

    def die(where):
        if p and rng.random() < p:
            sys.stdout.write(f"kill {where}\n")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    class Killing(DroppingBroker):
        def submit(self, order):
            die("before-submit")
            ack = self.inner.submit(order)
            die("after-submit-before-commit")
            return ack

        def on_bar(self, bar):
            self.inner.on_bar(bar)
            die("after-venue-bar")

    replay(bars(), "sma_crossover", PARAMS, config=BacktestConfig(**CONFIG), ledger_dir=folder, resume=True,
           broker=lambda sim: Killing(sim, p=0.0), deployment="crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
