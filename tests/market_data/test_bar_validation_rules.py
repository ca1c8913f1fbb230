"""Every validation rule: each error names the symbol, the timestamp and the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_data import Bars
from market_data.errors import ValidationError
from market_data.ingest import read_frame
from market_data.validation import RULES, check_frequency, validate_bars, validate_frame

DAY = 86_400_000_000_000
T0 = 946_857_600_000_000_000  # 2000-01-03


def good_frame(n: int = 6, symbols=("AAA", "BBB")) -> pd.DataFrame:
    rows = []
    for s in symbols:
        for i in range(n):
            p = 100.0 + i
            rows.append({"timestamp": pd.Timestamp(T0 + i * DAY, tz="UTC"), "symbol": s, "open": p,
                         "high": p + 2, "low": p - 2, "close": p + 1, "volume": 1000.0 + i})
    return pd.DataFrame(rows)


def bars_with(field: str, value: float, *, row: int = 3, col: int = 1) -> Bars:
    bars = read_frame(good_frame())
    arrays = {f: getattr(bars, f).copy() for f in ("open", "high", "low", "close", "volume")}
    arrays[field][row, col] = value
    return Bars(timestamps=bars.timestamps, symbols=bars.symbols, frequency="1d", **arrays)


def expect(rule: str, symbol: str | None, stamp: str | None):
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(ValidationError)
            self.info = self.ctx.__enter__()
            return self

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            err = self.info.value
            assert err.rule == rule, str(err)
            assert f"rule {rule}" in str(err)
            if symbol is not None:
                assert err.symbol == symbol and repr(symbol) in str(err)
            if stamp is not None:
                assert stamp in str(err) and str(err.timestamp).startswith(stamp)
            return handled

    return Check()


def test_good_bars_pass():
    bars = read_frame(good_frame())
    assert validate_bars(bars) is bars


@pytest.mark.parametrize("field, value, rule", [
    ("close", np.inf, "non_finite_price"),
    ("open", -np.inf, "non_finite_price"),
    ("low", 0.0, "non_positive_price"),
    ("close", -5.0, "non_positive_price"),
    ("high", 50.0, "high_below_open_close"),
    ("low", 200.0, "low_above_open_close"),
    ("volume", -1.0, "negative_volume"),
    ("volume", np.inf, "non_finite_volume"),
    ("close", np.nan, "partial_bar"),
])
def test_each_value_rule_names_symbol_timestamp_and_rule(field, value, rule):
    with expect(rule, "BBB", "2000-01-06"):
        validate_bars(bars_with(field, value))


def test_the_earliest_violation_is_reported():
    bars = bars_with("volume", -1.0, row=4, col=0)
    arrays = {f: getattr(bars, f).copy() for f in ("open", "high", "low", "close", "volume")}
    arrays["close"][2, 1] = -1.0
    arrays["low"][2, 1] = -2.0
    with expect("non_positive_price", "BBB", "2000-01-05"):
        validate_bars(Bars(timestamps=bars.timestamps, symbols=bars.symbols, **arrays))


def test_a_wholly_missing_bar_is_allowed():
    bars = read_frame(good_frame())
    arrays = {f: getattr(bars, f).copy() for f in ("open", "high", "low", "close", "volume")}
    for a in arrays.values():
        a[2, 0] = np.nan
    validate_bars(Bars(timestamps=bars.timestamps, symbols=bars.symbols, **arrays))


def test_adjusted_prices_a_few_ulps_off_pass_but_real_violations_do_not():
    bars = read_frame(good_frame())
    arrays = {f: getattr(bars, f).copy() for f in ("open", "high", "low", "close", "volume")}
    # low one ulp above min(open, close), as split/dividend adjustment leaves it
    arrays["low"][1, 0] = np.nextafter(min(arrays["open"][1, 0], arrays["close"][1, 0]), np.inf)
    validate_bars(Bars(timestamps=bars.timestamps, symbols=bars.symbols, **{f: a.copy() for f, a in arrays.items()}))
    arrays["low"][1, 0] = min(arrays["open"][1, 0], arrays["close"][1, 0]) * 1.001
    with expect("low_above_open_close", "AAA", "2000-01-04"):
        validate_bars(Bars(timestamps=bars.timestamps, symbols=bars.symbols, **arrays))


def test_duplicate_and_decreasing_timestamps_are_named_by_symbol_and_row():
    df = good_frame()
    dup = df.copy()
    dup.loc[8, "timestamp"] = dup.loc[7, "timestamp"]
    with expect("duplicate_timestamp", "BBB", "2000-01-04"):
        validate_frame(dup)
    dec = df.copy()
    dec.loc[9, "timestamp"] = pd.Timestamp(T0 - DAY, tz="UTC")
    with expect("decreasing_timestamp", "BBB", "2000-01-02"):
        validate_frame(dec)


def test_naive_timestamps_need_a_timezone():
    df = good_frame()
    df["timestamp"] = df["timestamp"].dt.tz_localize(None)
    with expect("naive_timestamp", "AAA", "2000-01-03"):
        validate_frame(df)
    validate_frame(df, tz="America/New_York")
    bars = read_frame(df, tz="America/New_York")
    assert bars.timestamps[0] == T0 + 5 * 3_600_000_000_000  # midnight New York = 05:00 UTC


def test_missing_and_extra_columns():
    with expect("missing_column", None, None):
        validate_frame(good_frame().drop(columns=["volume"]))
    with expect("extra_column", None, None):
        validate_frame(good_frame().assign(vwap=1.0))


def test_non_numeric_values_are_named_with_their_row():
    df = good_frame()
    df["close"] = df["close"].astype(object)
    df.loc[4, "close"] = "n/a"
    with expect("numeric", "AAA", "2000-01-07"):
        validate_frame(df)


@pytest.mark.parametrize("freq, step, bad_row, ok", [
    ("1d", DAY, None, True),
    ("1d", 3_600_000_000_000, 1, False),            # hourly bars declared daily
    ("1h", 3_600_000_000_000, None, True),
    ("1h", 90 * 60_000_000_000, 1, False),          # 90-minute spacing is not a multiple of 1h
    ("1min", 60_000_000_000, None, True),
])
def test_frequency_must_match_the_spacing(freq, step, bad_row, ok):
    ts = T0 + np.arange(10, dtype=np.int64) * step
    if ok:
        check_frequency(ts, freq)
    else:
        with expect("frequency_mismatch", None, None):
            check_frequency(ts, freq)


def test_daily_bars_with_weekends_and_dst_shifts_still_match_1d():
    ny = pd.date_range("2021-03-08", "2021-03-19", freq="B", tz="America/New_York") + pd.Timedelta(hours=16)
    check_frequency(ny.tz_convert("UTC").as_unit("ns").asi8, "1d")


def test_weekly_bars_declared_daily_are_caught_by_the_modal_step():
    ts = T0 + np.arange(10, dtype=np.int64) * 7 * DAY
    with expect("frequency_mismatch", None, "2000-01-10"):
        check_frequency(ts, "1d")


def test_every_rule_is_documented():
    import market_data.validation as v

    for rule in RULES:
        assert rule in v.__doc__ or rule in ("duplicate_timestamp", "decreasing_timestamp")


# ---------------------------------------------------------------- hypothesis
_CORRUPTIONS = ("inf", "zero", "negative", "high_low", "neg_volume", "partial", "text", "dup_ts", "naive")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 12), n_sym=st.integers(1, 3), kind=st.sampled_from(_CORRUPTIONS),
       pick=st.integers(0, 10_000), seed=st.integers(0, 2**16))
def test_malformed_frames_are_always_rejected_with_a_named_rule(n, n_sym, kind, pick, seed):
    rng = np.random.default_rng(seed)
    symbols = tuple(f"S{i}" for i in range(n_sym))
    df = good_frame(n, symbols)
    df[["open", "high", "low", "close"]] *= rng.uniform(0.5, 2.0, size=(len(df), 1))
    i = pick % len(df)
    expected = {"inf": "non_finite_price", "zero": "non_positive_price", "negative": "non_positive_price",
                "high_low": "high_below_open_close", "neg_volume": "negative_volume", "partial": "partial_bar",
                "text": "numeric", "dup_ts": "duplicate_timestamp", "naive": "naive_timestamp"}[kind]
    col = ["open", "high", "low", "close"][pick % 4]
    if kind == "inf":
        df.loc[i, col] = np.inf
    elif kind == "zero":
        df.loc[i, col] = 0.0
    elif kind == "negative":
        df.loc[i, col] = -abs(df.loc[i, col])
    elif kind == "high_low":
        df.loc[i, "high"] = df.loc[i, "low"] * 0.9
        expected = {"high_below_open_close", "low_above_open_close"}
    elif kind == "neg_volume":
        df.loc[i, "volume"] = -1.0
    elif kind == "partial":
        df.loc[i, "volume"] = np.nan
    elif kind == "text":
        df[col] = df[col].astype(object)
        df.loc[i, col] = "abc"
    elif kind == "dup_ts":
        j = i + 1 if (i + 1) % n else i - 1
        df.loc[j, "timestamp"] = df.loc[i, "timestamp"]
    elif kind == "naive":
        df["timestamp"] = df["timestamp"].dt.tz_localize(None)
    with pytest.raises(ValidationError) as err:
        read_frame(df)
    rules = expected if isinstance(expected, set) else {expected}
    assert err.value.rule in rules, str(err.value)
    assert "rule " in str(err.value)
    if kind not in ("naive",):
        assert err.value.symbol == df.loc[i, "symbol"] or kind == "dup_ts"
        assert err.value.timestamp is not None


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), n_sym=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_consistent_random_bars_always_pass(n, n_sym, seed):
    rng = np.random.default_rng(seed)
    o = rng.uniform(1, 1000, (n, n_sym))
    c = o * rng.uniform(0.9, 1.1, (n, n_sym))
    h = np.maximum(o, c) * rng.uniform(1.0, 1.05, (n, n_sym))
    lo = np.minimum(o, c) * rng.uniform(0.95, 1.0, (n, n_sym))
    v = rng.uniform(0, 1e6, (n, n_sym))
    missing = rng.random((n, n_sym)) < 0.2
    fields = {"open": o, "high": h, "low": lo, "close": c, "volume": v}
    for a in fields.values():
        a[missing] = np.nan
    bars = Bars(timestamps=T0 + np.arange(n, dtype=np.int64) * DAY, symbols=tuple(f"S{i}" for i in range(n_sym)),
                **fields)
    validate_bars(bars)
