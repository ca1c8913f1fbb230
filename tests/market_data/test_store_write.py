"""BarStore: round trips, appends, widening, overlaps, corrections, time travel, tags, layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market_data import Bars, BarStore
from market_data.errors import (
    ConflictError,
    InputError,
    SnapshotNotFoundError,
    StoreError,
    ValidationError,
)
from market_data.store import StoreLayout
from market_data.synthetic import regime_switching

SMALL = StoreLayout(chunk_bars=16, shard_bars=32, shard_symbols=3)  # many shards even for tiny data


def make_bars(n_bars: int = 120, n_symbols: int = 4, seed: int = 0, **kw) -> Bars:
    bars, _ = regime_switching(n_bars, n_symbols, seed=seed, **kw)
    return bars


def new_store(where, layout: StoreLayout = SMALL) -> BarStore:
    """A new store in ``tmp_path`` (a Path) or wherever the ``store_at`` backend fixture says."""
    uri = str(where / "store") if isinstance(where, Path) else where("store")
    return BarStore.open(uri, create=True, layout=layout)


def test_write_then_read_returns_identical_bars_and_names_the_snapshot(store_at):
    store = new_store(store_at)
    bars = make_bars()
    sid = store.write(bars, message="first")
    back = store.read()
    assert back.equals(bars) and back.digest() == bars.digest()
    assert back.snapshot_id == sid
    assert store.symbols("1d") == list(bars.symbols)
    assert store.frequencies() == ["1d"]


def test_open_missing_store_without_create_says_how_to_get_data(tmp_path):
    with pytest.raises(StoreError, match="harness data samples"):
        BarStore.open(tmp_path / "nothing")


def test_appends_in_pieces_equal_one_write(store_at):
    bars = make_bars(150, 3, seed=1)
    store = new_store(store_at)
    for lo, hi in ((0, 40), (40, 41), (41, 100), (100, 150)):
        store.write(bars[lo:hi], message=f"rows {lo}-{hi}")
    assert store.read().equals(bars)
    assert len(store.history()) == 4 + 2  # four writes, the store's creation, icechunk's root


def test_new_symbols_widen_the_arrays_and_unlisted_bars_read_as_nan(store_at):
    bars = make_bars(100, 5, seed=2)
    store = new_store(store_at)
    store.write(bars.select(["SYN0", "SYN1"]), message="two")
    late = bars.select(["SYN2", "SYN3", "SYN4"])[60:]  # listed at bar 60
    store.write(late, message="three more")
    back = store.read()
    assert back.symbols == bars.symbols
    assert np.isnan(back.close[:60, 2:]).all()  # never written: NaN, not zarr's default 0.0
    np.testing.assert_array_equal(back.close[60:, 2:], bars.close[60:, 2:])
    np.testing.assert_array_equal(back.open[:, :2], bars.open[:, :2])
    only_late = store.read("SYN3")
    assert only_late.n_bars == 40 and only_late.timestamps[0] == bars.timestamps[60]


def test_bars_inserted_into_a_gap_keep_every_other_bar(store_at):
    bars = make_bars(90, 3, seed=3)
    store = new_store(store_at)
    store.write(bars[:30], message="head")
    store.write(bars[60:], message="tail")
    store.write(bars[30:60], message="the gap")
    assert store.read().equals(bars)


def test_overlap_is_rejected_naming_the_first_overlapping_bar_and_nothing_changes(tmp_path, tree_digest):
    bars = make_bars(80, 2, seed=4)
    store = new_store(tmp_path)
    store.write(bars[:50], message="first")
    before = tree_digest(store.path)
    with pytest.raises(ConflictError) as err:
        store.write(bars[40:70], message="overlaps")
    text = str(err.value)
    assert "SYN0" in text and str(np.datetime64(int(bars.timestamps[40]), "ns").astype("datetime64[D]")) in text
    assert "on_conflict='replace'" in text
    assert tree_digest(store.path) == before


def test_replace_writes_a_correction_and_the_old_snapshot_stays_readable(store_at):
    bars = make_bars(60, 2, seed=5)
    store = new_store(store_at)
    old = store.write(bars, message="original")
    fixed_close = bars.close.copy()
    fixed_close[10, 1] *= 1.01
    fixed_high = np.maximum(bars.high, fixed_close)
    fix = Bars(timestamps=bars.timestamps[10:11], symbols=("SYN1",), open=bars.open[10:11, 1:],
               high=fixed_high[10:11, 1:], low=bars.low[10:11, 1:], close=fixed_close[10:11, 1:],
               volume=bars.volume[10:11, 1:])
    new = store.write(fix, message="correct one close", on_conflict="replace")
    assert new != old
    now = store.read()
    assert now.close[10, 1] == fixed_close[10, 1]
    assert now.close[10, 0] == bars.close[10, 0]
    assert store.read(snapshot=old).equals(bars)  # time travel
    assert store.history()[0].metadata["replaced"] == 1


def test_tags_name_snapshots_and_reads_by_tag_see_that_snapshot(store_at):
    bars = make_bars(40, 2, seed=6)
    store = new_store(store_at)
    first = store.write(bars[:20], message="a")
    assert store.tag("train-2024", first) == first
    store.write(bars[20:], message="b")
    assert store.read(snapshot="train-2024").equals(bars[:20])
    assert store.read(snapshot="train-2024").snapshot_id == first
    assert store.tags() == {"train-2024": first}
    assert store.history()[1].tags == ("train-2024",)
    with pytest.raises(ConflictError, match="already exists"):
        store.tag("train-2024")
    with pytest.raises(InputError, match="invalid"):
        store.tag("bad name/with slash")


def test_unknown_snapshot_or_tag_is_a_clear_error(store_at):
    store = new_store(store_at)
    store.write(make_bars(10, 1), message="x")
    store.tag("release-1")
    with pytest.raises(SnapshotNotFoundError, match="unknown snapshot or tag 'release-2'.*did you mean 'release-1'"):
        store.read(snapshot="release-2")


def test_read_by_symbols_and_time_range(store_at):
    bars = make_bars(100, 4, seed=7)
    store = new_store(store_at)
    store.write(bars, message="x")
    start, end = int(bars.timestamps[20]), int(bars.timestamps[49])
    got = store.read(["SYN3", "SYN1"], start=start, end=end)
    assert got.equals(bars.select(["SYN3", "SYN1"]).between(start, end))
    with pytest.raises(InputError, match="did you mean"):
        store.read("SYN9x")
    with pytest.raises(InputError, match="no '1h' bars"):
        store.read(frequency="1h")


def test_frequencies_live_in_separate_groups(store_at):
    store = new_store(store_at)
    daily = make_bars(30, 2, seed=8)
    hourly = make_bars(50, 2, seed=9, frequency="1h")
    store.write(daily, message="d")
    store.write(hourly, message="h")
    assert store.frequencies() == ["1d", "1h"]
    assert store.read(frequency="1h").equals(hourly)
    assert store.read().equals(daily)


def test_a_missing_frequency_or_a_damaged_frequency_group_is_a_clear_error(tmp_path):
    store = new_store(tmp_path)
    bars = make_bars(30, 2, seed=8)
    first = store.write(bars, message="d")
    with pytest.raises(InputError, match="no '1h' bars.*frequencies: 1d"):
        store.read(frequency="1h")
    # damage a later snapshot: its close array's metadata is gone, the earlier one stays readable
    session = store._repo.writable_session("main")
    del zarr.open_group(session.store, mode="r+")["1d"]["close"]
    session.commit("damage")
    with pytest.raises(StoreError, match="'1d' has no close array.*damaged"):
        BarStore.open(store.path).read()
    assert BarStore.open(store.path).read(snapshot=first).equals(bars)


def test_info_reports_first_last_count_and_gaps(store_at):
    bars = make_bars(50, 2, seed=10)
    close = bars.close.copy()
    fields = {f: getattr(bars, f).copy() for f in ("open", "high", "low", "close", "volume")}
    for f in fields.values():
        f[20:23, 1] = np.nan  # a 3-bar halt of SYN1
    del close
    holed = Bars(timestamps=bars.timestamps, symbols=bars.symbols, **fields)
    store = new_store(store_at)
    store.write(holed, message="x")
    info = {i.symbol: i for i in store.info()}
    assert info["SYN0"].bars == 50 and info["SYN0"].gaps == 0
    assert info["SYN1"].bars == 47 and info["SYN1"].gaps == 3
    assert info["SYN1"].first == "2000-01-03"


def test_rejected_write_leaves_the_store_byte_for_byte_unchanged(tmp_path, tree_digest):
    bars = make_bars(40, 2, seed=11)
    store = new_store(tmp_path)
    store.write(bars[:20], message="ok")
    before = tree_digest(store.path)
    bad_high = bars.high[20:].copy()
    bad_high[5, 1] = bars.low[25, 1] * 0.5
    bad = Bars(timestamps=bars.timestamps[20:], symbols=bars.symbols, open=bars.open[20:], high=bad_high,
               low=bars.low[20:], close=bars.close[20:], volume=bars.volume[20:])
    with pytest.raises(ValidationError, match="SYN1.*high_below_open_close"):
        store.write(bad, message="bad")
    assert tree_digest(store.path) == before
    assert store.read().equals(bars[:20])


def test_two_stores_with_the_same_data_have_the_same_digest_but_different_snapshot_ids(tmp_path):
    bars = make_bars(30, 2, seed=12)
    a = BarStore.open(tmp_path / "a", create=True)
    b = BarStore.open(tmp_path / "b", create=True)
    sa, sb = a.write(bars, message="x"), b.write(bars, message="x")
    assert sa != sb
    assert a.read().digest() == b.read().digest() == a.history()[0].metadata["digest"]


def test_reading_one_symbol_fetches_only_that_symbols_chunks(tmp_path):
    from zarr.storage import WrapperStore

    bars = make_bars(400, 30, seed=13)
    store = BarStore.open(tmp_path / "s", create=True,
                          layout=StoreLayout(chunk_bars=64, shard_bars=64, shard_symbols=10))
    store.write(bars, message="x")
    fetched: list[tuple[str, object]] = []
    total = sum(f.stat().st_size for f in (store.path / "chunks").rglob("*") if f.is_file())

    class Spy(WrapperStore):
        async def get(self, key, prototype, byte_range=None):
            buf = await self._store.get(key, prototype, byte_range)
            if "/c/" in key and buf is not None:
                fetched.append((key, len(buf)))
            return buf

    store._zarr_store = lambda session: Spy(session.store)
    got = store.read("SYN17")
    assert got.equals(bars.select("SYN17"))
    field_keys = [k for k, _ in fetched if not k.startswith("1d/timestamps")]
    assert field_keys and all(k.endswith("/1") for k in field_keys)  # shard column 1 holds symbols 10-19
    field_bytes = sum(n for k, n in fetched if not k.startswith("1d/timestamps"))
    # one symbol of 30 (plus shard indexes): far below even a shard's share of the data
    assert field_bytes < total / 10
    # a symbol's chunks are contiguous inside a shard: its index, then one byte range
    per_key = {k: sum(1 for kk, _ in fetched if kk == k) for k in field_keys}
    assert set(per_key.values()) == {2}, per_key
    # the shard indexes of this snapshot are kept: reading a neighbour needs one range per shard
    fetched.clear()
    assert store.read("SYN12").equals(bars.select("SYN12"))
    keys = [k for k, _ in fetched if not k.startswith("1d/timestamps")]
    assert keys and len(keys) == len(set(keys))


def test_reads_after_a_new_commit_see_it_although_views_of_old_snapshots_are_cached(tmp_path):
    bars = make_bars(90, 4, seed=21)
    store = new_store(tmp_path)
    first = store.write(bars[:60], message="a")
    assert store.read().equals(bars[:60]) and store.symbols("1d") == list(bars.symbols)
    other = BarStore.open(store.path)  # another handle (or process) appends meanwhile
    other.write(bars[60:], message="b")
    assert store.read().equals(bars)
    assert store.read(snapshot=first).equals(bars[:60])
    assert store.info("SYN1")[0].bars == 90
    with pytest.raises(ValueError, match="read-only"):
        store.read().timestamps[0] = 0


def test_the_cache_of_opened_snapshots_is_bounded(tmp_path, monkeypatch):
    import market_data.store as ms

    bars = make_bars(60, 2, seed=22)
    store = new_store(tmp_path)
    snaps = [store.write(bars[i:i + 20], message=f"part {i}") for i in (0, 20, 40)]
    monkeypatch.setattr(ms, "_VIEW_CACHE", 2)
    for sid in snaps:
        store.read(snapshot=sid)
    assert len(store._views) == 2
    monkeypatch.setattr(ms, "_VIEW_CACHE_BYTES", 1)  # the newest view always stays
    assert store.read(snapshot=snaps[0]).equals(bars[:20])
    assert len(store._views) == 1


def test_one_bar_append_rewrites_only_the_last_row_of_shards(tmp_path):
    from zarr.storage import WrapperStore

    bars = make_bars(130, 12, seed=14)
    store = BarStore.open(tmp_path / "s", create=True,
                          layout=StoreLayout(chunk_bars=32, shard_bars=32, shard_symbols=4))
    store.write(bars[:129], message="bulk")
    written: list[str] = []

    class Spy(WrapperStore):
        async def set(self, key, value):
            written.append(key)
            await self._store.set(key, value)

    store._zarr_store = lambda session: Spy(session.store)
    store.write(bars[129:], message="one bar")
    chunk_keys = {k for k in written if "/c/" in k}
    # bar 129 is in shard row 4: 5 fields x 3 shard columns, plus the timestamps chunk
    assert chunk_keys == {f"1d/{f}/c/4/{sc}" for f in ("open", "high", "low", "close", "volume")
                          for sc in range(3)} | {"1d/timestamps/c/0"}
    del store._zarr_store
    assert store.read().equals(bars)


def test_store_written_by_the_fast_path_reads_identically_with_plain_zarr(tmp_path):
    bars = make_bars(100, 7, seed=15)
    store = BarStore.open(tmp_path / "s", create=True,
                          layout=StoreLayout(chunk_bars=8, shard_bars=24, shard_symbols=3))
    store.write(bars[:50], message="a")
    store.write(bars[50:], message="b")
    group = zarr.open_group(store._session().store, mode="r")["1d"]
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(group[f][:], getattr(bars, f))
    np.testing.assert_array_equal(group["timestamps"][:], bars.timestamps)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_shard_reader_and_writer_agree_with_zarr(data, tmp_path):
    """Float64 arrays and int64 tick arrays: Zarr writes the head, we write the tail, both read."""
    from zarr.codecs import BloscCodec

    from market_data import _ticks
    from market_data._shards import ShardSpec, read_block, write_block

    ticks = data.draw(st.booleans(), label="ticks")
    T = data.draw(st.integers(1, 40), label="T")
    N = data.draw(st.integers(1, 9), label="N")
    Tc = data.draw(st.integers(1, 8), label="Tc")
    Ts = Tc * data.draw(st.integers(1, 3), label="Ts/Tc")
    Ns = data.draw(st.integers(1, 4), label="Ns")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    decs = rng.integers(0, 5, N)
    x = np.round(rng.normal(100, 1, (T, N)), 4)
    x = np.round(x * 10.0 ** decs) / 10.0 ** decs
    x[rng.random((T, N)) < 0.3] = np.nan
    stored = _ticks.to_ticks(x, decs) if ticks else x
    mem = zarr.storage.MemoryStore()
    arr = zarr.create_array(mem, name="g/close", shape=(T, N), chunks=(Tc, 1), shards=(Ts, Ns),
                            dtype="i8" if ticks else "f8", fill_value=int(_ticks.MISSING) if ticks else np.nan,
                            compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")])
    half = T // 2
    arr[:half] = stored[:half]  # zarr writes the head
    spec = ShardSpec.from_array(arr)
    assert spec is not None and spec.ticks == ticks
    write_block(mem, spec, half, 0, stored[half:])  # we write the tail (partial chunks included)
    np.testing.assert_array_equal(arr[:], stored)
    r0, r1 = sorted(int(v) for v in rng.integers(0, T + 1, 2))
    cols = np.unique(rng.integers(0, N, int(rng.integers(1, N + 1))))
    got = read_block(mem, spec, r0, r1, cols, _ticks.divisors(decs[cols]) if ticks else None)
    np.testing.assert_array_equal(got, x[r0:r1][:, cols])
    if ticks:
        with pytest.raises(ValueError, match="divisor"):
            read_block(mem, spec, 0, T, cols)


def test_fields_read_together_match_each_read_alone_and_a_damaged_index_is_a_clear_error():
    """read_blocks fetches every array at once (each decoded as its bytes arrive): the result
    equals one read per array, and an error in one array's fetch reaches the caller."""
    from zarr.codecs import BloscCodec

    from market_data._shards import IndexCache, ShardSpec, read_block, read_blocks

    rng = np.random.default_rng(3)
    mem = zarr.storage.MemoryStore()
    specs, values = [], []
    for name in ("open", "close", "volume"):
        arr = zarr.create_array(mem, name=f"g/{name}", shape=(50, 5), chunks=(8, 1), shards=(16, 5), dtype="f8",
                                fill_value=np.nan, compressors=[BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")])
        x = rng.normal(100, 1, (50, 5))
        x[rng.random((50, 5)) < 0.2] = np.nan
        arr[:] = x
        specs.append(ShardSpec.from_array(arr))
        values.append(x)
    for cols in (np.array([3]), np.array([1, 3, 4])):  # chunk ranges after the shard index; whole shards
        together = read_blocks(mem, specs, 5, 45, cols, [None] * 3, IndexCache())
        for got, spec, x in zip(together, specs, values, strict=True):
            np.testing.assert_array_equal(got, x[5:45][:, cols])
            np.testing.assert_array_equal(read_block(mem, spec, 5, 45, cols), got)
    # flip one byte of a shard index (the object's tail, before the checksum) of the second array
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    key = specs[1].key(1, 0)
    raw = bytearray(sync(mem.get(key, default_buffer_prototype())).to_bytes())
    raw[-10] ^= 0xFF
    sync(mem.set(key, default_buffer_prototype().buffer.from_bytes(bytes(raw))))
    for cols in (np.array([3]), np.array([1, 3, 4])):
        with pytest.raises(ValueError, match="checksum mismatch in g/close"):
            read_blocks(mem, specs, 5, 45, cols, [None] * 3, IndexCache())


@pytest.mark.parametrize("quoted", [False, True], ids=["float64", "ticks"])
def test_a_store_of_another_layout_falls_back_to_zarr_and_still_round_trips(tmp_path, quoted):
    bars = make_bars(70, 3, seed=16)
    if quoted:  # on a cent grid: stored as int64 ticks, through Zarr's own codec pipeline
        bars = Bars(timestamps=bars.timestamps, symbols=bars.symbols, frequency=bars.frequency,
                    **{f: np.round(getattr(bars, f), 0 if f == "volume" else 2)
                       for f in ("open", "high", "low", "close", "volume")})
    store = BarStore.open(tmp_path / "s", create=True,
                          layout=StoreLayout(chunk_bars=16, shard_bars=16, shard_symbols=1))  # unsharded
    store.write(bars[:35], message="a")
    store.write(bars[35:], message="b")
    group = zarr.open_group(store._session().store, mode="r")["1d"]
    assert group["open"].dtype == (np.int64 if quoted else np.float64)
    assert store.read().equals(bars)
    assert store.read(["SYN2", "SYN0"]).equals(bars.select(["SYN2", "SYN0"]))


def test_layout_config_rejects_unknown_fields_and_bad_multiples():
    with pytest.raises(InputError, match="did you mean 'chunk_bars'"):
        StoreLayout(chunk_bar=10)
    with pytest.raises(InputError, match="multiple of chunk_bars"):
        StoreLayout(chunk_bars=30, shard_bars=40)


def test_write_refuses_bad_arguments(store_at):
    store = new_store(store_at)
    bars = make_bars(10, 1)
    with pytest.raises(InputError, match="commit message"):
        store.write(bars, message="  ")
    with pytest.raises(InputError, match="on_conflict"):
        store.write(bars, message="x", on_conflict="merge")
    with pytest.raises(InputError, match="empty"):
        store.write(bars[:0], message="x")
    weird = Bars(timestamps=bars.timestamps, symbols=("A B",), open=bars.open, high=bars.high, low=bars.low,
                 close=bars.close, volume=bars.volume)
    with pytest.raises(InputError, match="symbol 'A B' is invalid"):
        store.write(weird, message="x")


def test_transaction_commits_several_batches_as_one_snapshot(store_at):
    bars = make_bars(60, 2, seed=17)
    store = new_store(store_at)
    n = len(store.history())
    with store.transaction("batches") as tx:
        tx.write(bars[:30])
        tx.write(bars[30:])
    assert len(store.history()) == n + 1
    assert store.read().equals(bars) and store.read().snapshot_id == tx.snapshot_id
    assert store.history()[0].metadata["batches"] == 2


def test_memory_uri_store_works_without_a_folder():
    store = BarStore.open("memory://", create=True)
    bars = make_bars(20, 2, seed=18)
    store.write(bars, message="x")
    assert store.read().equals(bars)


def test_timestamps_fetched_alongside_the_bars_and_a_failed_fetch_is_retried(tmp_path, monkeypatch):
    # a whole-history read fetches the timestamps while it fetches the bars; if that fetch fails,
    # the read says so and the next read of the same (cached) snapshot fetches them again
    from concurrent.futures import Future

    import market_data.store as store_mod

    bars = make_bars(90, 4, seed=21)
    new_store(tmp_path).write(bars, message="a")
    reader = BarStore.open(tmp_path / "store")
    failing = Future()
    failing.set_exception(OSError("disk went away"))
    monkeypatch.setattr(store_mod, "submit_read_vector", lambda arr: failing)
    with pytest.raises(OSError, match="disk went away"):
        reader.read(["SYN1"])
    monkeypatch.undo()
    assert reader.read(["SYN1"]).equals(bars.select(["SYN1"]))
    assert reader.read(start=bars.timestamps[10], end=bars.timestamps[20]).equals(bars[10:21])


def test_an_unknown_snapshot_is_not_found_but_other_errors_opening_one_are_store_errors(tmp_path):
    """"Not found" only for what Icechunk says does not exist; an I/O error or a damaged repository
    while opening a snapshot is a StoreError that names the snapshot and keeps the cause."""
    import icechunk

    from market_data.errors import SnapshotNotFoundError, StoreError

    store = BarStore.open(tmp_path / "s", create=True)
    sid = store.write(make_bars(20, 1), message="one")
    for unknown in ("XXXXXXXXXXXXXXXXXXXX", "not-an-id"):
        with pytest.raises(SnapshotNotFoundError, match=f"unknown snapshot or tag '{unknown}'"):
            store.read(snapshot=unknown)
    real = store._repo

    class Failing:
        def __init__(self, exc):
            self.exc = exc

        def __getattr__(self, name):
            return getattr(real, name)

        def readonly_session(self, **kw):
            if "snapshot_id" in kw:
                raise self.exc
            return real.readonly_session(**kw)

    for exc in (OSError(5, "Input/output error"), icechunk.IcechunkError("error reading object: permission denied")):
        store._repo = Failing(exc)
        with pytest.raises(StoreError, match=f"cannot open snapshot '{sid}': .*(Input/output error|permission "
                                             "denied)") as caught:
            store.read(snapshot=sid)
        assert not isinstance(caught.value, SnapshotNotFoundError) and caught.value.__cause__ is exc
    store._repo = real
    assert store.read(snapshot=sid).equals(make_bars(20, 1))
