"""FeatureStore: materialised features in the bar repository, point in time, one commit, incremental = full."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from market_data.bars import Bars
from market_data.errors import (
    FeatureDefinitionChangedError,
    FeaturesNotMaterialisedError,
    InputError,
)
from market_data.features import FeatureSpec, FeatureStore
from market_data.store import BarStore

SPECS = [FeatureSpec("ret_1", "h-ret", lookback=2), FeatureSpec("mean_5", "h-mean", lookback=5)]


def _bars(T: int = 120, N: int = 3, seed: int = 1) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0))
    close = np.round(close, 2)
    ts = np.datetime64("2020-01-01", "ns").astype(np.int64) + np.arange(T) * 86_400_000_000_000
    return Bars(timestamps=ts, symbols=tuple(f"S{j}" for j in range(N)), open=close, high=close + 0.5,
                low=close - 0.5, close=close, volume=np.full((T, N), 1000.0))


class Compute:
    """A point-in-time compute callable that records the bars it was given."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, names, bars):
        self.calls.append(bars.n_bars)
        c = bars.close
        out = []
        for n in names:
            v = np.full(c.shape, np.nan)
            if n == "ret_1":
                v[1:] = c[1:] / c[:-1] - 1.0
            else:
                for t in range(4, c.shape[0]):
                    v[t] = c[t - 4:t + 1].sum(axis=0) / 5
            out.append(v)
        return out


@pytest.fixture
def store(tmp_path):
    return BarStore.open(tmp_path / "store", create=True)


def _expected(bars: Bars) -> np.ndarray:
    return np.stack(Compute()(["ret_1", "mean_5"], bars), axis=2)


def test_materialise_is_one_commit_recording_the_source_snapshot_and_hashes(store):
    bars = _bars()
    s1 = store.write(bars, message="bars")
    n = len(store.history())
    sid = FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    hist = store.history()
    assert len(hist) == n + 1 and hist[0].id == sid
    meta = hist[0].metadata
    assert meta["kind"] == "features" and meta["source_snapshot"] == s1
    assert meta["definitions"] == {"ret_1": "h-ret", "mean_5": "h-mean"}
    assert store.frequencies(snapshot=sid) == ["1d"], "the features group is no bar frequency"
    back = store.read(snapshot=sid)
    np.testing.assert_array_equal(back.close, store.read(snapshot=s1).close)
    f = FeatureStore(store).read(feature_set="demo")
    assert f.names == ("ret_1", "mean_5") and f.source_snapshot == s1 and f.snapshot_id == sid
    np.testing.assert_array_equal(f.values, _expected(store.read(snapshot=s1)))
    np.testing.assert_array_equal(f.timestamps, bars.timestamps)
    # same source, same hashes: nothing new to write
    assert FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1) == sid
    assert len(store.history()) == n + 1


def test_read_selects_names_symbols_and_time_range(store):
    bars = _bars()
    s1 = store.write(bars, message="bars")
    FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    f = FeatureStore(store).read("mean_5", feature_set="demo", symbols=["S2", "S0"], start=bars.timestamps[10],
                                 end=bars.timestamps[19])
    full = _expected(bars)
    assert f.symbols == ("S2", "S0") and f.values.shape == (10, 2, 1)
    np.testing.assert_array_equal(f["mean_5"], full[10:20][:, [2, 0], 1])
    with pytest.raises(InputError, match="no feature 'mean_6'"):
        FeatureStore(store).read("mean_6", feature_set="demo")
    with pytest.raises(InputError, match="symbol 'S9'"):
        FeatureStore(store).read(feature_set="demo", symbols=["S9"])


def test_value_at_t_uses_only_bars_up_to_t_of_the_source_snapshot(store):
    bars = _bars(150)
    s1 = store.write(bars[:90], message="first 90")
    FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    s2 = store.write(bars[90:], message="the rest")
    FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s2)
    early = FeatureStore(store).read(feature_set="demo", as_of=s1).values
    late = FeatureStore(store).read(feature_set="demo", as_of=s2).values
    assert early.shape[0] == 90 and late.shape[0] == 150
    np.testing.assert_array_equal(late[:90], early)


def test_as_of_returns_the_features_of_that_snapshot_after_a_correction(store):
    bars = _bars()
    s1 = store.write(bars, message="bars")
    c1 = FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    before = FeatureStore(store).read(feature_set="demo", as_of=s1).values
    fixed = dataclasses.replace(bars[50:51], close=bars[50:51].close * 1.1, high=bars[50:51].high * 1.1 + 1,
                                _digest=[])
    s2 = store.write(fixed, message="correct bar 50", on_conflict="replace")
    calls = Compute()
    FeatureStore(store).materialise(SPECS, calls, feature_set="demo", snapshot=s2)
    assert calls.calls == [bars.n_bars], "a correction forces a full recompute"
    after = FeatureStore(store).read(feature_set="demo").values
    np.testing.assert_array_equal(after, _expected(store.read(snapshot=s2)))
    assert not np.array_equal(after, before, equal_nan=True)
    np.testing.assert_array_equal(FeatureStore(store).read(feature_set="demo", as_of=s1).values, before)
    np.testing.assert_array_equal(FeatureStore(store).read(feature_set="demo", as_of=c1).values, before)
    store.tag("v1", s1)
    np.testing.assert_array_equal(FeatureStore(store).read(feature_set="demo", as_of="v1").values, before)


def test_incremental_materialise_computes_only_new_bars_and_equals_a_full_recompute(store, tmp_path):
    bars = _bars(200)
    s1 = store.write(bars[:120], message="a")
    FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    s2 = store.write(bars[120:170], message="b")
    s3 = store.write(bars[170:], message="c")
    calls = Compute()
    FeatureStore(store).materialise(SPECS, calls, feature_set="demo", snapshot=s3)
    # ret_1 (lookback 2) from row 118, mean_5 (lookback 5) from row 115 (one stored row rechecked), never all 200
    assert sorted(calls.calls) == [200 - 118, 200 - 115]
    meta = store.history()[0].metadata
    assert meta["incremental"] is True and meta["computed_rows"] == 80 and meta["rows"] == 200
    inc = FeatureStore(store).read(feature_set="demo").values
    other = BarStore.open(tmp_path / "other", create=True)
    o = other.write(store.read(snapshot=s3), message="all at once")
    FeatureStore(other).materialise(SPECS, Compute(), feature_set="demo", snapshot=o)
    full = FeatureStore(other).read(feature_set="demo").values
    np.testing.assert_array_equal(inc, full)
    np.testing.assert_array_equal(inc, _expected(bars))
    assert s2 != s3


def test_incremental_falls_back_to_full_when_the_lookback_was_understated(store):
    bars = _bars(150)
    s1 = store.write(bars[:100], message="a")
    short = [FeatureSpec("mean_5", "h-mean", lookback=2)]  # the 5-bar mean really needs 5 bars
    FeatureStore(store).materialise(short, Compute(), feature_set="demo", snapshot=s1)
    s2 = store.write(bars[100:], message="b")
    calls = Compute()
    FeatureStore(store).materialise(short, calls, feature_set="demo", snapshot=s2)
    # the overlap row recomputed from a 2-bar tail differs from the stored value: everything again
    assert calls.calls[-1] == 150
    np.testing.assert_array_equal(FeatureStore(store).read(feature_set="demo").values[:, :, 0], _expected(bars)[:, :, 1])


def test_changed_definitions_recompute_everything_and_reads_can_refuse_them(store):
    bars = _bars()
    s1 = store.write(bars, message="bars")
    FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    with pytest.raises(FeatureDefinitionChangedError, match="mean_5"):
        FeatureStore(store).read(feature_set="demo", expect={"ret_1": "h-ret", "mean_5": "h-other"})
    new = [SPECS[0], FeatureSpec("mean_5", "h-other", lookback=5)]
    calls = Compute()
    FeatureStore(store).materialise(new, calls, feature_set="demo", snapshot=s1)
    assert calls.calls == [bars.n_bars]
    assert FeatureStore(store).read(feature_set="demo").hashes["mean_5"] == "h-other"


def test_bad_input_raises_named_errors_and_writes_nothing(store):
    bars = _bars()
    s1 = store.write(bars, message="bars")
    n = len(store.history())

    def wrong_shape(names, b):
        return [np.zeros((3, 3)) for _ in names]

    with pytest.raises(InputError, match="feature 'ret_1': compute returned shape"):
        FeatureStore(store).materialise(SPECS, wrong_shape, feature_set="demo", snapshot=s1)

    def boom(names, b):
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError):
        FeatureStore(store).materialise(SPECS, boom, feature_set="demo", snapshot=s1)
    with pytest.raises(InputError, match="duplicate"):
        FeatureStore(store).materialise([SPECS[0], SPECS[0]], Compute(), feature_set="demo", snapshot=s1)
    with pytest.raises(InputError, match="feature set name"):
        FeatureStore(store).materialise(SPECS, Compute(), feature_set="../x", snapshot=s1)
    with pytest.raises(InputError, match="feature name"):
        FeatureStore(store).materialise([FeatureSpec("timestamps", "h")], Compute(), feature_set="demo", snapshot=s1)
    assert len(store.history()) == n
    with pytest.raises(FeaturesNotMaterialisedError, match="never materialised"):
        FeatureStore(store).read(feature_set="demo")
    FeatureStore(store).materialise(SPECS, Compute(), feature_set="demo", snapshot=s1)
    s2 = store.write(_bars(130)[120:], message="more")
    with pytest.raises(FeaturesNotMaterialisedError, match="not materialised from snapshot"):
        FeatureStore(store).read(feature_set="demo", as_of=s2)


PER_SYMBOL = [dataclasses.replace(s, per_symbol=True) for s in SPECS]


class ShardRecorder(Compute):
    """Compute that also records the symbols of each call, and can fail on one of them."""

    def __init__(self, fail_on: int | None = None) -> None:
        super().__init__()
        self.symbols: list[tuple[str, ...]] = []
        self.fail_on = fail_on

    def __call__(self, names, bars):
        self.symbols.append(bars.symbols)
        if self.fail_on is not None and len(self.symbols) == self.fail_on:
            raise RuntimeError(f"kernel failed on call {self.fail_on}")
        return super().__call__(names, bars)


def test_a_per_symbol_set_is_computed_and_written_by_shards_of_symbols_with_the_same_values(store):
    bars = _bars(T=150, N=300)
    s1 = store.write(bars, message="bars")
    said: list[str] = []
    rec = ShardRecorder()
    FeatureStore(store).materialise(PER_SYMBOL, rec, feature_set="sharded", snapshot=s1, progress=said.append)
    assert [len(s) for s in rec.symbols] == [128, 128, 44], "whole storage shards (128 symbols), in order"
    assert sum(rec.symbols, ()) == bars.symbols
    assert any("symbols 129-256 of 300" in m for m in said)
    rec_all = ShardRecorder()
    FeatureStore(store).materialise(SPECS, rec_all, feature_set="whole", snapshot=s1)
    assert [len(s) for s in rec_all.symbols] == [300], "a set not declared per-symbol is computed at once"
    want = _expected(store.read(snapshot=s1))
    for name in ("sharded", "whole"):
        f = FeatureStore(store).read(feature_set=name)
        assert f.symbols == bars.symbols
        np.testing.assert_array_equal(f.values, want)
        np.testing.assert_array_equal(f.timestamps, bars.timestamps)
    # the sharded set grows incrementally like any other
    s2 = store.write(_bars(T=160, N=300)[150:], message="more")
    FeatureStore(store).materialise(PER_SYMBOL, ShardRecorder(), feature_set="sharded", snapshot=s2)
    assert store.history()[0].metadata["incremental"]
    np.testing.assert_array_equal(FeatureStore(store).read(feature_set="sharded").values,
                                  _expected(store.read(snapshot=s2)))


def test_a_stored_row_without_any_bar_is_dropped_as_read_drops_it(store):
    bars = _bars(T=80, N=200)
    fields = {f: getattr(bars, f).copy() for f in ("open", "high", "low", "close", "volume")}
    for a in fields.values():
        a[30] = np.nan  # no symbol has a bar at row 30: the store keeps the row, read() drops it
    s1 = store.write(Bars(timestamps=bars.timestamps, symbols=bars.symbols, **fields), message="gap")
    read = store.read(snapshot=s1)
    assert read.n_bars == 79
    said: list[str] = []
    rec = ShardRecorder()
    FeatureStore(store).materialise(PER_SYMBOL, rec, feature_set="gap", snapshot=s1, progress=said.append)
    assert [len(s) for s in rec.symbols] == [128, 72, 200], "the shards are dropped, then all at once"
    assert any("1 stored row(s) hold no bar" in m for m in said)
    f = FeatureStore(store).read(feature_set="gap")
    np.testing.assert_array_equal(f.timestamps, read.timestamps)
    np.testing.assert_array_equal(f.values, _expected(read))


def test_a_shard_that_fails_leaves_the_store_as_it_was(store):
    s1 = store.write(_bars(T=60, N=300), message="bars")
    n = len(store.history())
    for k in (1, 2, 3):
        with pytest.raises(RuntimeError, match=f"call {k}"):
            FeatureStore(store).materialise(PER_SYMBOL, ShardRecorder(fail_on=k), feature_set="demo", snapshot=s1)
    assert len(store.history()) == n
    with pytest.raises(FeaturesNotMaterialisedError):
        FeatureStore(store).read(feature_set="demo")
    FeatureStore(store).materialise(PER_SYMBOL, ShardRecorder(), feature_set="demo", snapshot=s1)
    np.testing.assert_array_equal(FeatureStore(store).read(feature_set="demo").values,
                                  _expected(store.read(snapshot=s1)))
