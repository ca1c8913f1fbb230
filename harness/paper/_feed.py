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

__all__ = ["ReplayFeed", "StoreFeed", "bars_rows"]


def bars_rows(bars: Bars, start: int = 0) -> Iterator[Bar]:
    """The rows of ``bars`` from ``start`` as :class:`Bar` objects."""
    syms = tuple(bars.symbols)
    snap = bars.snapshot_id
    for t in range(start, bars.n_bars):
        yield Bar(time=int(bars.timestamps[t]), symbols=syms, open=bars.open[t], high=bars.high[t],
                  low=bars.low[t], close=bars.close[t], volume=bars.volume[t], snapshot_id=snap)


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


class StoreFeed:
    """Follow the home bar store: poll the branch for new commits and yield each new bar once, in order.

    ``history``: the bars before ``start`` (given to the runner for its decisions, never
    traded). Bars from ``start`` on are yielded (on a restart the runner skips those it
    applied, and halts on any that changed). After the stored bars, each poll that finds
    a new snapshot yields the bars after the last one yielded; a bar already yielded whose
    values changed in a later commit is yielded again (a correction: the runner halts).
    Gaps (a new bar more than ``gap_factor`` bar lengths after the previous one) and stale
    data (no new bar for ``stale_after`` seconds) are reported to ``on_event(kind, message,
    bar_time)`` and kept in :attr:`events`. The feed ends when :meth:`stop` is called or
    after ``idle_timeout`` seconds without a new commit (None: never).
    """

    def __init__(self, symbols, *, frequency: str = "1d", start=None, poll_interval: float = 1.0,
                 stale_after: float | None = None, idle_timeout: float | None = None, gap_factor: float = 1.5,
                 correction_window: int = 5, store=None, on_event=None) -> None:
        from harness._bars import home_store
        from market_data.bars import to_ns

        self.store = store if store is not None else home_store()
        self.symbols = tuple(symbols)
        self.frequency = frequency
        self.poll_interval = float(poll_interval)
        self.stale_after = stale_after
        self.idle_timeout = idle_timeout
        self.gap_factor = gap_factor
        self.correction_window = int(correction_window)
        self.on_event = on_event
        self.on_poll = None  # called on every poll without a new bar (a runner applies control requests)
        self.events: list[dict] = []
        self._stop = False
        self.snapshot = self.store.resolve()
        bars = self.store.read(list(self.symbols), frequency=frequency)
        self._check_symbols(bars)
        if start is None:  # trade from the next new bar: everything stored is history
            cut = bars.n_bars
        else:
            cut = int(np.searchsorted(bars.timestamps, to_ns(start, name="start"), "left"))
        self.history = bars[:cut] if cut else None
        self._pending = bars[cut:]
        self._recent: dict[int, str] = {}
        self.last_time: int | None = int(bars.timestamps[cut - 1]) if cut else None
        self.detect_s: list[float] = []

    def _check_symbols(self, bars: Bars) -> None:
        from harness.errors import InputError

        if tuple(bars.symbols) != self.symbols:
            raise InputError(f"the store gave symbols {bars.symbols}, expected {self.symbols}")

    def stop(self) -> None:
        self._stop = True

    def _event(self, kind: str, message: str, bar_time: int | None) -> None:
        ev = {"kind": kind, "message": message, "bar_time": bar_time}
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(kind, message, bar_time)

    def _emit(self, bars: Bars, seen_at: float):
        from market_data.frequency import frequency_ns

        step = frequency_ns(self.frequency)
        for bar in bars_rows(bars):
            t = int(bar.time)
            if self.last_time is not None and t <= self.last_time:
                d = self._recent.get(t)
                if d is not None and d == bar.digest():
                    continue  # unchanged
            elif self.last_time is not None and step and t - self.last_time > self.gap_factor * step:
                self._event("gap", f"gap in the feed: {(t - self.last_time) / step:.1f} bar lengths between "
                            f"{self.last_time} and {t}", t)
            self._recent[t] = bar.digest()
            if len(self._recent) > 4 * self.correction_window + 8:
                for k in sorted(self._recent)[: len(self._recent) - 2 * self.correction_window]:
                    del self._recent[k]
            if self.last_time is None or t > self.last_time:
                self.last_time = t
            object.__setattr__(bar, "seen_at", seen_at)
            yield bar

    def __iter__(self) -> Iterator[Bar]:
        yield from self._emit(self._pending, time.monotonic())
        self._pending = None
        last_new = time.monotonic()
        stale_reported = False
        while not self._stop:
            snap = self.store.resolve()
            now = time.monotonic()
            if snap != self.snapshot:
                self.snapshot = snap
                since = None
                if self.last_time is not None:
                    known = sorted(self._recent)
                    since = known[max(0, len(known) - self.correction_window)] if known else self.last_time + 1
                bars = self.store.read(list(self.symbols), start=since, frequency=self.frequency, snapshot=snap)
                self._check_symbols(bars)
                n_before = len(self.detect_s)
                for bar in self._emit(bars, now):
                    self.detect_s.append(now)
                    yield bar
                if len(self.detect_s) > n_before:
                    last_new = time.monotonic()
                    stale_reported = False
                continue
            if self.stale_after is not None and not stale_reported and now - last_new > self.stale_after:
                self._event("stale", f"no new bar for {now - last_new:.0f} s (stale_after {self.stale_after} s)",
                            self.last_time)
                stale_reported = True
            if self.idle_timeout is not None and now - last_new > self.idle_timeout:
                return
            if self.on_poll is not None:
                self.on_poll()
            time.sleep(self.poll_interval)


def append_bars(symbols, *, start, end, speed: float = 0.0, source_snapshot: str | None = None,
                source_store=None, csv=None, frequency: str = "1d", progress=None) -> int:
    """``harness feed replay``: append the source's bars between ``start`` and ``end`` to the home
    store, one bar time per commit. The source is a snapshot of a bar store or a CSV file
    (read and validated exactly as ``harness data ingest`` reads it). Returns the commits made."""
    from harness._bars import home_store
    from harness.errors import InputError
    from market_data import BarStore
    from market_data.ingest import read_file

    if (source_snapshot is None) == (csv is None):
        raise InputError("give exactly one of --source-snapshot or --csv")
    if not symbols:
        raise InputError("--symbols needs at least one symbol")
    if not (speed >= 0 and np.isfinite(speed)):
        raise InputError(f"--speed must be >= 0 bars per second, got {speed!r}")
    if csv is not None:
        src = read_file(csv, frequency=frequency)
        missing = [s for s in symbols if s not in src.symbols]
        if missing:
            raise InputError(f"{csv}: no bars for symbol(s) {missing} (it holds {list(src.symbols)})")
        src = src.select(symbols).between(start, end)
    else:
        store = home_store() if source_store is None else BarStore.open(source_store)
        src = store.read(symbols, start=start, end=end, frequency=frequency, snapshot=source_snapshot)
    if src.n_bars == 0:
        raise InputError(f"the source has no bars of {symbols} between {start} and {end}")
    dest = home_store(create=True)
    wait = 1.0 / speed if speed > 0 else 0.0
    nxt = time.monotonic()
    for t in range(src.n_bars):
        row = src[t:t + 1]
        have = ~np.isnan(row.close[0])
        if not have.all():  # symbols without a bar at this time are left out of the commit
            row = row.select([s for s, h in zip(row.symbols, have, strict=True) if h])
        dest.write(row.with_snapshot(None), message=f"feed replay {int(row.timestamps[0])}")
        if progress is not None:
            progress(t + 1, src.n_bars, int(row.timestamps[0]))
        if wait:
            nxt += wait
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return src.n_bars
