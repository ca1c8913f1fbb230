"""Feeds: where the runner's bars come from.

A feed is an iterable of :class:`~harness.paper.Bar` (one row of the universe per bar
time, NaN where a symbol has no bar), in increasing time, each bar once.
:class:`ReplayFeed` replays stored ``Bars``; :class:`~harness.paper.StoreFeed` follows
the home bar store as new commits arrive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from harness.paper._broker import Bar
from market_data import Bars

__all__ = ["ReplayFeed", "bars_rows"]


def bars_rows(bars: Bars, start: int = 0) -> Iterator[Bar]:
    """The rows of ``bars`` from ``start`` as :class:`Bar` objects."""
    syms = tuple(bars.symbols)
    for t in range(start, bars.n_bars):
        yield Bar(time=int(bars.timestamps[t]), symbols=syms, open=bars.open[t], high=bars.high[t],
                  low=bars.low[t], close=bars.close[t], volume=bars.volume[t])


class ReplayFeed:
    """Replay ``bars`` one row at a time; ``speed`` bars per second (0: as fast as possible).

    ``history`` bars before the replayed range are handed to the runner as history (they
    are never traded): the runner's decisions then see what a live runner would have seen.
    """

    def __init__(self, bars: Bars, *, speed: float = 0.0, history: Bars | None = None) -> None:
        from harness.errors import InputError

        if not isinstance(bars, Bars):
            raise InputError(f"ReplayFeed needs market_data.Bars, got {type(bars).__name__}")
        if not (speed >= 0 and np.isfinite(speed)):
            raise InputError(f"speed must be >= 0 bars per second (0 = as fast as possible), got {speed!r}")
        self.bars = bars
        self.speed = float(speed)
        self.history = history
        self.symbols = tuple(bars.symbols)
        self.frequency = bars.frequency
        self.gaps: list[dict] = []

    def __iter__(self) -> Iterator[Bar]:
        wait = 1.0 / self.speed if self.speed > 0 else 0.0
        nxt = time.monotonic()
        for bar in bars_rows(self.bars):
            if wait:
                nxt += wait
                delay = nxt - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield bar
