"""BarStore atomicity and concurrency: SIGKILLed writers, concurrent writers, readers during a write."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from market_data import BarStore
from market_data.errors import ConflictError
from market_data.store import StoreLayout
from market_data.synthetic import regime_switching

LAYOUT = StoreLayout(chunk_bars=32, shard_bars=32, shard_symbols=4)  # many objects: a long write

CHILD = textwrap.dedent("""
    import sys, time
    from market_data import BarStore
    from market_data.synthetic import regime_switching
    path, stage, n_bars, n_sym = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    bars, _ = regime_switching(n_bars, n_sym, seed=1)
    store = BarStore.open(path)
    if stage == "mid-write":  # slow each field's write down so the kill lands between fields
        import market_data.store as ms
        original = ms.write_block
        def slow(*args, **kwargs):
            original(*args, **kwargs)
            print("field written", flush=True)
            time.sleep(2)
        ms.write_block = slow
    if stage == "before-commit":
        def hold():
            print("committing", flush=True)
            time.sleep(60)
        store._before_commit = hold
    print("writing", flush=True)
    store.write(bars[n_bars // 2:], message="big write")
    print("done", flush=True)
""")


def _bars(n_bars: int, n_sym: int):
    bars, _ = regime_switching(n_bars, n_sym, seed=1)
    return bars


def _spawn(path: Path, stage: str, n_bars: int, n_sym: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), stage, str(n_bars), str(n_sym)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, word: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if word in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited before {word!r}: {proc.stderr.read()}")
    raise AssertionError(f"child never printed {word!r}")


@pytest.mark.slow
@pytest.mark.parametrize("stage, delay", [("before-write", 0.0), ("timed", 0.3), ("mid-write", 0.0),
                                          ("before-commit", 0.0)])
def test_sigkilled_writer_leaves_the_store_at_its_previous_snapshot(tmp_path, stage, delay):
    n_bars, n_sym = 1600, 40
    bars = _bars(n_bars, n_sym)
    store = BarStore.open(tmp_path / "s", create=True, layout=LAYOUT)
    previous = store.write(bars[: n_bars // 2], message="before")
    chunk_files = {p.name for p in (store.path / "chunks").iterdir()}
    proc = _spawn(store.path, stage, n_bars, n_sym)
    try:
        _wait_for(proc, {"before-commit": "committing", "mid-write": "field written"}.get(stage, "writing"))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reopened = BarStore.open(store.path)
    tip = reopened.history()[0].id
    back = reopened.read()
    if tip == previous:  # killed before its commit: the old snapshot, whole
        assert back.equals(bars[: n_bars // 2])
    else:  # the write had already committed: the new snapshot, whole
        assert stage == "timed" and back.equals(bars)
    if stage in ("mid-write", "before-commit"):  # chunks were written, none committed
        assert tip == previous
        orphans = {p.name for p in (store.path / "chunks").iterdir()} - chunk_files
        assert len(orphans) >= (10 if stage == "mid-write" else 5 * 10)
    # the lock died with the writer: the next write goes through
    reopened.write(bars[n_bars // 2:], message="retry", on_conflict="replace")
    assert reopened.read().equals(bars)


CONCURRENT = textwrap.dedent("""
    import sys
    from market_data import BarStore
    from market_data.synthetic import regime_switching
    path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    bars, _ = regime_switching(60, 6, seed=2)
    store = BarStore.open(path)
    for i in range(first, first + count):
        store.write(bars.select([f"SYN{i}"]), message=f"symbol {i}")
""")


@pytest.mark.slow
def test_concurrent_writer_processes_never_lose_or_interleave_data(tmp_path):
    bars, _ = regime_switching(60, 6, seed=2)
    store = BarStore.open(tmp_path / "s", create=True, layout=LAYOUT)
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(store.path), str(first), "3"],
                              stderr=subprocess.PIPE, text=True) for first in (0, 3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    back = store.read()
    assert sorted(back.symbols) == sorted(bars.symbols)
    assert back.select(bars.symbols).equals(bars)
    writes = [h for h in store.history() if h.message.startswith("symbol ")]
    assert len(writes) == 6
    # every commit holds exactly one whole symbol: replaying history snapshot by snapshot adds one at a time
    for h in writes:
        snap = store.read(snapshot=h.id)
        i = int(h.message.split()[1])
        assert snap.select(f"SYN{i}").equals(bars.select(f"SYN{i}"))


def test_a_writer_that_loses_a_race_replans_on_the_new_tip(tmp_path):
    bars, _ = regime_switching(50, 2, seed=3)
    path = tmp_path / "s"
    a = BarStore.open(path, create=True, layout=LAYOUT)
    a.write(bars.select("SYN0")[:25], message="base")
    b = BarStore.open(path)
    b.path = None  # a writer that does not take our lock (as on object storage): only icechunk guards it
    calls = []

    def rival():
        if not calls:
            calls.append(b.write(bars.select("SYN1"), message="rival"))

    a._before_commit = rival
    sid = a.write(bars.select("SYN0")[25:], message="mine")
    assert calls and a.history()[0].id == sid and a.history()[1].id == calls[0]
    assert a.read().select(["SYN0", "SYN1"]).equals(bars)


def test_a_writer_that_keeps_losing_gets_a_clear_conflict_error_and_writes_nothing(tmp_path):
    bars, _ = regime_switching(40, 3, seed=4)
    path = tmp_path / "s"
    a = BarStore.open(path, create=True, layout=LAYOUT)
    b = BarStore.open(path)
    b.path = None
    rivals = iter(range(10))
    a._before_commit = lambda: b.write(bars.select(f"SYN{next(rivals) % 3}")[next(rivals):][:1],
                                       message="rival", on_conflict="replace")
    with pytest.raises(ConflictError, match="lost 3 races.*nothing was written"):
        a.write(bars, message="mine", on_conflict="replace")
    assert all(h.message != "mine" for h in a.history())


def test_a_reader_sees_only_the_committed_snapshot_while_a_write_is_in_progress(tmp_path):
    bars, _ = regime_switching(80, 3, seed=5)
    store = BarStore.open(tmp_path / "s", create=True, layout=LAYOUT)
    old = store.write(bars[:40], message="old")
    reader = BarStore.open(store.path)
    seen = []
    store._before_commit = lambda: seen.append(reader.read())
    new = store.write(bars[40:], message="new")
    assert seen[0].snapshot_id == old and seen[0].equals(bars[:40])
    assert reader.read().snapshot_id == new and reader.read().equals(bars)


class _VirtualClock:
    """Stands in for the store's ``time`` module: ``sleep`` advances a virtual clock and is
    recorded, and ``on_sleep`` may act (release a lock) at a given sleep; no real waiting."""

    def __init__(self, on_sleep=None):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def test_a_held_lock_times_out_with_a_conflict_error(tmp_path, monkeypatch):
    import market_data.store as ms

    bars, _ = regime_switching(10, 1, seed=6)
    store = BarStore.open(tmp_path / "s", create=True, lock_timeout=0.3)
    before = [s.id for s in store.history()]
    fd = os.open(store.path / "harness-writer.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # flock locks are per open file description: the store's own open() of the file must wait
        clock = _VirtualClock()
        monkeypatch.setattr(ms, "time", clock)
        with pytest.raises(ConflictError, match="held the store lock"):
            store.write(bars, message="x")
        # it kept retrying until the (virtual) timeout had passed, and gave up only then
        assert len(clock.sleeps) >= 2 and sum(clock.sleeps) > 0.3
        assert sum(clock.sleeps[:-1]) <= 0.3 + 1e-9
        assert [s.id for s in store.history()] == before  # nothing was written
    finally:
        os.close(fd)
    monkeypatch.undo()
    store.write(bars, message="x")
    assert np.array_equal(store.read().close, bars.close)


def test_a_writer_waiting_for_the_lock_writes_as_soon_as_it_is_released(tmp_path, monkeypatch):
    import market_data.store as ms

    bars, _ = regime_switching(10, 1, seed=7)
    store = BarStore.open(tmp_path / "s", create=True, lock_timeout=60)
    fd = os.open(store.path / "harness-writer.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    released = []

    def release_at_third_sleep(n: int) -> None:
        if n == 3:
            os.close(fd)
            released.append(n)

    clock = _VirtualClock(release_at_third_sleep)
    monkeypatch.setattr(ms, "time", clock)
    store.write(bars, message="after the other writer")
    assert released == [3] and len(clock.sleeps) == 3  # it waited, then wrote at the next attempt
    assert store.history()[0].message == "after the other writer"
