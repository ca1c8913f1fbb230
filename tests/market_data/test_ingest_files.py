"""market_data.ingest: CSV, Parquet and DataFrames, column mapping, timezones, streaming batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market_data import BarStore
from market_data.errors import ConflictError, InputError, ValidationError
from market_data.ingest import ingest, read_file, read_frame
from market_data.store import StoreLayout
from market_data.synthetic import regime_switching

LAYOUT = StoreLayout(chunk_bars=16, shard_bars=32, shard_symbols=3)


def sample(n_bars=80, n_sym=3, seed=0, **kw):
    bars, _ = regime_switching(n_bars, n_sym, seed=seed, **kw)
    return bars


def long_naive(bars) -> pd.DataFrame:
    df = bars.to_pandas("long")
    df["timestamp"] = df["timestamp"].dt.tz_localize(None)
    return df


def test_csv_round_trips_bit_exactly(tmp_path):
    bars = sample()
    long_naive(bars).to_csv(tmp_path / "b.csv", index=False)
    assert read_file(tmp_path / "b.csv", tz="UTC").equals(bars)


def test_parquet_with_renamed_columns_and_a_mapping(tmp_path):
    bars = sample(seed=1)
    df = bars.to_pandas("long").rename(columns={"symbol": "Ticker", "close": "Adj Close", "timestamp": "Date"})
    df.to_parquet(tmp_path / "b.parquet")
    got = read_file(tmp_path / "b.parquet", columns={"Adj Close": "close"})
    assert got.equals(bars)


def test_one_symbol_frame_indexed_by_time(tmp_path):
    bars = sample(50, 1, seed=2)
    wide = bars.to_pandas()
    df = pd.DataFrame({f.capitalize(): wide[f]["SYN0"] for f in ("open", "high", "low", "close", "volume")})
    got = read_frame(df, symbol="XYZ")
    assert got.symbols == ("XYZ",)
    np.testing.assert_array_equal(got.close, bars.close)


def test_symbol_column_option_and_extra_columns(tmp_path):
    bars = sample(seed=3)
    df = bars.to_pandas("long").rename(columns={"symbol": "code"}).assign(vwap=1.0)
    with pytest.raises(ValidationError, match="rule extra_column.*vwap"):
        read_frame(df, symbol_column="code")
    assert read_frame(df, symbol_column="code", extra="ignore").equals(bars)


def test_integer_epoch_timestamps_in_seconds(tmp_path):
    bars = sample(seed=4)
    df = bars.to_pandas("long")
    df["timestamp"] = df["timestamp"].astype("int64") // 1_000_000_000
    assert read_frame(df, timestamp_unit="s").equals(bars)


def test_timezone_option_converts_exchange_time_to_utc(tmp_path):
    df = pd.DataFrame({"date": ["2024-01-02 16:00", "2024-01-03 16:00"], "symbol": "X", "open": [1.0, 1.0],
                       "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5], "volume": [10, 10]})
    with pytest.raises(ValidationError, match="naive_timestamp"):
        read_frame(df)
    got = read_frame(df, tz="America/New_York")
    assert pd.Timestamp(got.timestamps[0], tz="UTC") == pd.Timestamp("2024-01-02 21:00", tz="UTC")


def test_ingest_into_a_store_records_the_source_and_returns_the_snapshot(tmp_path):
    bars = sample(seed=5)
    long_naive(bars).to_csv(tmp_path / "b.csv", index=False)
    store = BarStore.open(tmp_path / "s", create=True, layout=LAYOUT)
    res = ingest(tmp_path / "b.csv", store, tz="UTC", progress=False)
    assert res.snapshot_id == store.history()[0].id and res.rows == bars.n_bars * bars.n_symbols
    assert store.history()[0].metadata["source"] == "b.csv"
    assert store.read().equals(bars)
    with pytest.raises(ConflictError, match="already has this bar"):
        ingest(tmp_path / "b.csv", store, tz="UTC", progress=False)


def test_streaming_in_batches_gives_the_same_store_content_as_one_batch(tmp_path):
    bars = sample(200, 4, seed=6)
    long_naive(bars).to_csv(tmp_path / "b.csv", index=False)
    long_naive(bars).to_parquet(tmp_path / "b.parquet")
    one = BarStore.open(tmp_path / "one", create=True, layout=LAYOUT)
    ingest(tmp_path / "b.csv", one, tz="UTC", progress=False)
    for name in ("b.csv", "b.parquet"):
        many = BarStore.open(tmp_path / f"many-{name}", create=True, layout=LAYOUT)
        n_before = len(many.history())
        res = ingest(tmp_path / name, many, tz="UTC", batch_rows=97, progress=False)
        assert res.batches == -(-len(bars.to_pandas("long")) // 97)
        assert len(many.history()) == n_before + 1  # one commit for all batches
        assert many.read().equals(one.read())


def test_a_bad_row_in_a_late_batch_leaves_the_store_untouched(tmp_path, tree_digest):
    bars = sample(200, 2, seed=7)
    df = long_naive(bars)
    df.loc[len(df) - 3, "volume"] = -5.0
    df.to_csv(tmp_path / "b.csv", index=False)
    store = BarStore.open(tmp_path / "s", create=True, layout=LAYOUT)
    store.write(sample(5, 1, seed=8, start="1990-01-01", symbols=["OLD"]), message="old")
    before = tree_digest(store.path)
    with pytest.raises(ValidationError, match="negative_volume"):
        ingest(tmp_path / "b.csv", store, tz="UTC", batch_rows=50, progress=False)
    assert tree_digest(store.path) == before


def test_time_going_backwards_across_batches_is_caught(tmp_path):
    bars = sample(60, 1, seed=9)
    df = long_naive(bars)
    df = pd.concat([df.iloc[30:], df.iloc[:30]], ignore_index=True)  # second half first
    df.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValidationError, match="decreasing_timestamp"):
        ingest(tmp_path / "b.csv", tmp_path / "s", tz="UTC", batch_rows=20, progress=False)


def test_unknown_files_and_formats_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest(tmp_path / "nope.csv", tmp_path / "s")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="cannot tell the format"):
        read_file(tmp_path / "x.json")


def test_bare_dates_are_days_at_midnight_utc_without_a_timezone():
    df = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "symbol": "X", "open": [1.0, 1.0],
                       "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5], "volume": [10, 10]})
    got = read_frame(df)
    assert pd.Timestamp(got.timestamps[0], tz="UTC") == pd.Timestamp("2024-01-02", tz="UTC")
    df["date"] = ["2024-01-02 00:00", "2024-01-03 00:00"]  # a time of day, even midnight, needs tz
    with pytest.raises(ValidationError, match="naive_timestamp"):
        read_frame(df)
