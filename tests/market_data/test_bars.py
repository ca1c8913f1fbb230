"""The Bars container: construction checks, slicing, pandas round trips, content digest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_data import FIELDS, Bars, InputError, ValidationError
from market_data.synthetic import regime_switching

DAY = 86_400_000_000_000


def make_bars(T: int = 10, N: int = 2, seed: int = 0) -> Bars:
    bars, _ = regime_switching(T, N, seed=seed, mean_duration=5, min_duration=1)
    return bars


def test_fields_are_read_only_float64_and_shaped_bars_by_symbols():
    bars = make_bars(7, 3)
    for f in FIELDS:
        arr = getattr(bars, f)
        assert arr.shape == (7, 3) and arr.dtype == np.float64
        with pytest.raises(ValueError):
            arr[0, 0] = 1.0
    assert bars.timestamps.dtype == np.int64 and bars.n_bars == 7 and bars.n_symbols == 3


def test_decreasing_timestamps_are_rejected_naming_the_row():
    ts = np.array([0, 2, 1]) * DAY
    ones = np.ones((3, 1))
    with pytest.raises(ValidationError, match="decreasing timestamp 1970-01-02 at row 2"):
        Bars(timestamps=ts, symbols=("A",), open=ones, high=ones, low=ones, close=ones, volume=ones)


def test_duplicate_symbols_and_wrong_shapes_are_rejected():
    ones = np.ones((2, 2))
    with pytest.raises(ValidationError, match="appears twice"):
        Bars(timestamps=[0, DAY], symbols=("A", "A"), open=ones, high=ones, low=ones, close=ones, volume=ones)
    with pytest.raises(ValidationError, match=r"field 'close' has shape \(2, 1\)"):
        Bars(timestamps=[0, DAY], symbols=("A", "B"), open=ones, high=ones, low=ones,
             close=np.ones((2, 1)), volume=ones)


def test_prefix_slice_between_and_select():
    bars = make_bars(20, 3)
    assert bars[:5].n_bars == 5 and np.array_equal(bars[:5].close, bars.close[:5])
    sub = bars.between(int(bars.timestamps[3]), int(bars.timestamps[6]))
    assert np.array_equal(sub.timestamps, bars.timestamps[3:7])
    sel = bars.select(["SYN2", "SYN0"])
    assert sel.symbols == ("SYN2", "SYN0") and np.array_equal(sel.close[:, 0], bars.close[:, 2])
    with pytest.raises(InputError, match="unknown symbol 'SYN9X'; did you mean"):
        bars.select("SYN9X")


@settings(max_examples=60, deadline=None)
@given(T=st.integers(0, 25), N=st.integers(1, 3), start=st.integers(-30, 30), stop=st.integers(-30, 30),
       step=st.sampled_from([None, 1, 2, 3]), seed=st.integers(0, 5))
def test_row_slices_equal_freshly_validated_bars(T, N, start, stop, step, seed):
    """A row slice skips re-validation when it is a run of consecutive rows; it must be
    exactly the Bars a validated construction gives: values, read-only C-contiguous
    fields, labels, and a digest of its own (not the parent's)."""
    bars = make_bars(max(T, 1), N, seed=seed)[:T].with_snapshot("snap-1")
    parent_digest = bars.digest()
    key = slice(start, stop, step)
    got = bars[key]
    want = Bars(timestamps=bars.timestamps[key], symbols=bars.symbols, frequency=bars.frequency,
                snapshot_id=bars.snapshot_id, **{f: getattr(bars, f)[key] for f in FIELDS})
    assert type(got) is Bars and got.shape == want.shape == (len(range(*key.indices(T))), N)
    assert np.array_equal(got.timestamps, want.timestamps)
    assert (got.symbols, got.frequency, got.snapshot_id) == (want.symbols, want.frequency, "snap-1")
    for f in ("timestamps", *FIELDS):
        arr = getattr(got, f)
        assert np.array_equal(arr, getattr(want, f)) and arr.dtype == getattr(want, f).dtype
        assert arr.flags.c_contiguous and not arr.flags.writeable, f
    assert got.digest() == want.digest()
    import dataclasses

    for f in dataclasses.fields(Bars):  # every field set (a new one must not be forgotten here)
        assert hasattr(got, f.name), f.name
    assert bars.digest() == parent_digest
    if got.n_bars != bars.n_bars:
        assert got.digest() != parent_digest


def test_digest_depends_on_content_only():
    a = make_bars(30, 2, seed=1)
    b = Bars.from_pandas(a.to_pandas("long"), frequency="1d")
    assert a.digest() == b.digest() and a.equals(b)
    assert a.with_snapshot("abc").digest() == a.digest()
    c = make_bars(30, 2, seed=2)
    assert c.digest() != a.digest()
    assert a[:29].digest() != a.digest()


@settings(max_examples=30, deadline=None)
@given(T=st.integers(1, 40), N=st.integers(1, 4), seed=st.integers(0, 10_000), holes=st.floats(0, 0.5))
def test_long_and_wide_pandas_round_trips_preserve_bars(T, N, seed, holes):
    bars = make_bars(T, N, seed)
    rng = np.random.default_rng(seed)
    mask = rng.random((T, N)) < holes
    # the long layout has no row for a timestamp, nor a symbol, without any bar
    mask[mask.all(axis=1), 0] = False
    mask[0, :] = False
    fields = {f: np.where(mask, np.nan, getattr(bars, f)) for f in FIELDS}
    holed = Bars(timestamps=bars.timestamps, symbols=bars.symbols, frequency="1d", **fields)
    long = holed.to_pandas("long")
    assert len(long) == int((~mask).sum())
    back = Bars.from_pandas(long, frequency="1d")
    assert back.equals(holed)
    wide = Bars.from_pandas(holed.to_pandas("wide"), frequency="1d")
    assert wide.equals(holed)


def test_from_pandas_single_symbol_frame_needs_timezone_or_tz_argument():
    idx = pd.date_range("2020-01-01", periods=3, freq="D")
    df = pd.DataFrame({"Open": [1, 2, 3], "High": [2, 3, 4], "Low": [0.5, 1, 2], "Close": [1.5, 2.5, 3.5],
                       "Volume": [10, 10, 10]}, index=idx)
    with pytest.raises(ValidationError, match="naive"):
        Bars.from_pandas(df, symbol="X")
    bars = Bars.from_pandas(df, symbol="X", tz="America/New_York")
    assert bars.symbols == ("X",) and bars.frequency == "1d"
    assert bars.timestamps[0] == pd.Timestamp("2020-01-01 05:00", tz="UTC").value


def test_from_pandas_rejects_missing_columns_duplicates_and_text():
    base = {"timestamp": pd.to_datetime(["2020-01-01", "2020-01-02"], utc=True), "symbol": ["A", "A"],
            "open": [1.0, 1.0], "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0], "volume": [1.0, 1.0]}
    with pytest.raises(ValidationError, match="missing column"):
        Bars.from_pandas(pd.DataFrame({k: v for k, v in base.items() if k != "volume"}))
    dup = dict(base, timestamp=pd.to_datetime(["2020-01-01", "2020-01-01"], utc=True))
    with pytest.raises(ValidationError, match="duplicate bar for symbol 'A' at 2020-01-01"):
        Bars.from_pandas(pd.DataFrame(dup))
    with pytest.raises(ValidationError, match="non-numeric value 'x'"):
        Bars.from_pandas(pd.DataFrame(dict(base, close=[1.0, "x"])))
