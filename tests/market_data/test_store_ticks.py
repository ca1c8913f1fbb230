"""Integer-tick storage: lossless, per-symbol decimals, finer grids and off-grid data rewrite safely."""

from __future__ import annotations

import numpy as np
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from market_data import Bars, BarStore, _ticks
from market_data.store import StoreLayout
from market_data.synthetic import regime_switching

SMALL = StoreLayout(chunk_bars=16, shard_bars=32, shard_symbols=3)


def quoted(n_bars: int = 120, n_symbols: int = 4, seed: int = 0, decimals: int = 2) -> Bars:
    """Synthetic bars on a tick grid, as quoted data is (prices to ``decimals`` places, whole volumes)."""
    bars, _ = regime_switching(n_bars, n_symbols, seed=seed)
    f = {k: np.round(getattr(bars, k), decimals) for k in ("open", "high", "low", "close")}
    return Bars(timestamps=bars.timestamps, symbols=bars.symbols, frequency=bars.frequency,
                volume=np.round(bars.volume), **f)


def field(store: BarStore, name: str, snapshot: str | None = None):
    return zarr.open_group(store._session(snapshot).store, mode="r")["1d"][name]


def bits_equal(a: Bars, b: Bars) -> bool:
    return all(np.array_equal(getattr(a, f).view(np.int64), getattr(b, f).view(np.int64))
               for f in ("open", "high", "low", "close", "volume")) and a.equals(b)


# ------------------------------------------------------------------ the codec
@settings(max_examples=200, deadline=None)
@given(ticks=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=40), d=st.integers(0, 8))
def test_values_on_a_decimal_grid_get_at_most_those_decimals_and_round_trip_bit_for_bit(ticks, d):
    x = (np.asarray(ticks, dtype=np.float64) / 10.0 ** d)[:, None]
    x[x == 0] = 0.0  # no -0.0
    got = _ticks.decimals(x)
    assert 0 <= got[0] <= d
    back = _ticks.from_ticks(_ticks.to_ticks(x, got), _ticks.divisors(got))
    assert np.array_equal(back.view(np.int64), x.view(np.int64))


@settings(max_examples=200, deadline=None)
@given(x=st.lists(st.floats(allow_nan=True, allow_infinity=False, width=64), min_size=1, max_size=30))
def test_any_float_column_is_either_rejected_or_round_trips_exactly(x):
    a = np.asarray(x, dtype=np.float64)[:, None]
    d = _ticks.decimals(a)
    if d[0] >= 0:
        back = _ticks.from_ticks(_ticks.to_ticks(a, d), _ticks.divisors(d))
        keep = ~np.isnan(a)
        assert np.array_equal(np.isnan(back), ~keep)
        assert np.array_equal(back[keep].view(np.int64), a[keep].view(np.int64))


def test_decimals_edge_cases():
    col = lambda *v: np.array(v, dtype=np.float64)[:, None]  # noqa: E731
    assert _ticks.decimals(col(0.1 + 0.2))[0] == -1  # 0.30000000000000004 is off every grid
    assert _ticks.decimals(col(-0.0, 1.0))[0] == -1  # the sign of zero would be lost
    assert _ticks.decimals(col(np.nan, np.nan))[0] == 0
    assert _ticks.decimals(col(1.5), at_least=np.array([3]))[0] == 3
    assert _ticks.decimals(col(1e-8, 2.0))[0] == 8
    assert _ticks.decimals(col(1e-9))[0] == -1  # finer than MAX_DECIMALS
    assert _ticks.decimals(col(1e16))[0] == -1  # beyond 2**53 ticks
    # a later row needing more decimals raises the column's count (checked in row blocks)
    x = np.full((5000, 2), 100.25)
    x[4321, 1] = 100.125
    assert list(_ticks.decimals(x, rows=64)) == [2, 3]


# ------------------------------------------------------------------ the store
def test_quoted_bars_are_stored_as_ticks_with_per_symbol_decimals_and_read_back_bit_for_bit(tmp_path):
    bars = quoted()
    store = BarStore.open(tmp_path / "s", create=True, layout=SMALL)
    store.write(bars, message="x")
    close, volume = field(store, "close"), field(store, "volume")
    assert close.dtype == np.int64 and close.attrs["decimals"] == [2] * 4
    assert volume.dtype == np.int64 and volume.attrs["decimals"] == [0] * 4
    back = store.read()
    assert bits_equal(back, bars) and back.digest() == bars.digest()
    # plain Zarr readers see the ticks and the scale: value = ticks / 10**decimals
    np.testing.assert_array_equal(close[:] / 100.0, bars.close)
    info = store.info("SYN0")[0]
    assert info.decimals == {"open": 2, "high": 2, "low": 2, "close": 2, "volume": 0}
    assert info.storage() == "ticks of 0.01 (open, high, low, close), ticks of 1 (volume)"


def test_ticks_are_smaller_on_disk_than_float64_for_the_same_data(tmp_path):
    bars = quoted(2048, 6, seed=3)
    sizes = {}
    for enc in ("ticks", "float"):  # full chunks: the chunk still being filled is stored uncompressed
        store = BarStore.open(tmp_path / enc, create=True,
                              layout=StoreLayout(chunk_bars=256, shard_bars=1024, shard_symbols=8, encoding=enc))
        store.write(bars, message="x")
        assert bits_equal(store.read(), bars)
        assert field(store, "close").dtype == (np.int64 if enc == "ticks" else np.float64)
        sizes[enc] = sum(f.stat().st_size for f in (store.path / "chunks").rglob("*") if f.is_file())
    assert sizes["ticks"] < 0.75 * sizes["float"], sizes


def test_a_symbol_with_a_finer_grid_gets_its_own_decimals(tmp_path):
    a = quoted(60, 2, seed=1)
    b = quoted(60, 1, seed=2, decimals=4)
    b = Bars(timestamps=b.timestamps, symbols=("FINE",), frequency=b.frequency,
             **{f: getattr(b, f) for f in ("open", "high", "low", "close", "volume")})
    store = BarStore.open(tmp_path / "s", create=True, layout=SMALL)
    store.write(a, message="a")
    store.write(b, message="b")
    assert field(store, "close").attrs["decimals"] == [2, 2, 4]
    assert bits_equal(store.read(["FINE"]), b)
    assert bits_equal(store.read(list(a.symbols)), a)


def test_an_append_on_a_finer_grid_re_encodes_that_symbols_history_and_old_snapshots_stay(tmp_path):
    bars = quoted(100, 3, seed=4)
    store = BarStore.open(tmp_path / "s", create=True, layout=SMALL)
    first = store.write(bars[:80], message="cents")
    tail = bars[80:]
    close = tail.close.copy()
    close[5, 1] += 0.005  # a half-cent print for symbol 1
    high = np.maximum(tail.high, close)
    fine = Bars(timestamps=tail.timestamps, symbols=tail.symbols, frequency=tail.frequency, open=tail.open,
                high=high, low=np.minimum(tail.low, close), close=close, volume=tail.volume)
    store.write(fine, message="half cent")
    assert field(store, "close").attrs["decimals"] == [2, 3, 2]
    assert field(store, "close", first).attrs["decimals"] == [2, 2, 2]
    whole = store.read()
    assert bits_equal(whole[:80], bars[:80]) and bits_equal(whole[80:], fine)
    assert bits_equal(store.read(snapshot=first), bars[:80])


def test_off_grid_data_turns_the_field_into_float64_without_losing_anything(tmp_path):
    bars = quoted(100, 3, seed=5)
    raw, _ = regime_switching(100, 3, seed=5)  # unrounded: off every decimal grid
    store = BarStore.open(tmp_path / "s", create=True, layout=SMALL)
    first = store.write(bars[:70], message="quoted")
    store.write(raw[70:], message="model output")
    assert field(store, "close").dtype == np.float64
    assert field(store, "close", first).dtype == np.int64
    assert store.info("SYN0")[0].decimals["close"] is None
    assert store.info("SYN0", snapshot=first)[0].decimals["close"] == 2
    whole = store.read()
    assert bits_equal(whole[:70], bars[:70]) and bits_equal(whole[70:], raw[70:])
    assert bits_equal(store.read(snapshot=first), bars[:70])
    more = quoted(110, 3, seed=5)[100:]  # quoted again: the field stays float64, still exact
    store.write(more, message="quoted again")
    assert bits_equal(store.read()[100:], more)
