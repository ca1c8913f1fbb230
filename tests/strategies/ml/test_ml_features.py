"""Point-in-time features: prefix test, trailing-window equality, pandas cross-check, missing bars."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market_data.errors import InputError
from strategies.ml import FEATURE_NAMES, FEATURE_WARMUP, compute_features


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@settings(max_examples=25, deadline=None)
@given(n_bars=st.integers(1, 140), n_symbols=st.integers(1, 3), seed=st.integers(0, 10_000),
       cut=st.floats(0.0, 1.0), holes=st.integers(0, 6))
def test_features_on_a_prefix_equal_the_first_rows_of_features_on_all_bars(make_walk, n_bars, n_symbols, seed,
                                                                              cut, holes):
    bars = make_walk(n_bars, n_symbols, seed=seed)
    if holes:
        rng = np.random.default_rng(seed)
        fields = {f: np.array(getattr(bars, f)) for f in ("open", "high", "low", "close", "volume")}
        rows = rng.integers(0, n_bars, size=holes)
        cols = rng.integers(0, n_symbols, size=holes)
        for arr in fields.values():
            arr[rows, cols] = np.nan
        bars = dataclasses.replace(bars, **fields, _digest=[])
    k = max(1, int(round(cut * n_bars)))
    full = compute_features(bars)
    assert _same(compute_features(bars[:k]), full[:k])
    # changing the bars after k cannot move any feature before k
    scale = np.ones(bars.shape)
    scale[k:] = 1.5
    other = dataclasses.replace(bars, close=bars.close * scale, high=bars.high * scale, low=bars.low * scale,
                                volume=bars.volume * scale, _digest=[])
    assert _same(compute_features(other)[:k], full[:k])


def test_features_from_a_trailing_window_equal_the_full_computation_bit_for_bit(make_walk):
    bars = make_walk(400, 2, seed=3)
    full = compute_features(bars)
    for t in (FEATURE_WARMUP, 150, 399):
        window = bars[t - FEATURE_WARMUP: t + 1]
        assert np.array_equal(compute_features(window)[-1], full[t], equal_nan=True)


def test_features_match_an_independent_pandas_computation(make_walk):
    bars = make_walk(300, 1, seed=5)
    got = compute_features(bars)[:, 0, :]
    c = pd.Series(bars.close[:, 0])
    v = pd.Series(bars.volume[:, 0])
    r = np.log(c).diff()
    ref = {
        "ret_1": r,
        "ret_5": np.log(c).diff(5),
        "ret_20": np.log(c).diff(20),
        "vol_20": r.rolling(20).std(),
        "vol_ratio": r.rolling(5).std() / r.rolling(60).std(),
        "ma_dist_10": c / c.rolling(10).mean() - 1,
        "ma_dist_50": c / c.rolling(50).mean() - 1,
        "volume_z_20": (v - v.rolling(20).mean()) / v.rolling(20).std(),
        "range_1": np.log(pd.Series(bars.high[:, 0]) / pd.Series(bars.low[:, 0])),
    }
    assert list(ref) == list(FEATURE_NAMES)
    for j, name in enumerate(FEATURE_NAMES):
        np.testing.assert_allclose(got[:, j], ref[name].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert np.isnan(got[:FEATURE_WARMUP]).any(axis=1).all()
    assert np.isfinite(got[FEATURE_WARMUP:]).all()


def test_a_missing_bar_blanks_the_features_whose_window_holds_it(make_walk):
    bars = make_walk(200, 2, seed=8)
    fields = {f: np.array(getattr(bars, f)) for f in ("open", "high", "low", "close", "volume")}
    for arr in fields.values():
        arr[120, 1] = np.nan
    holed = dataclasses.replace(bars, **fields, _digest=[])
    f = compute_features(holed)
    assert np.isnan(f[120, 1]).all()
    vol_ratio = FEATURE_NAMES.index("vol_ratio")
    assert np.isnan(f[120:181, 1, vol_ratio]).all()  # returns 120 and 121 are missing; 60-bar window
    assert np.isfinite(f[181, 1]).all()
    assert np.array_equal(f[:, 0], compute_features(bars)[:, 0], equal_nan=True)  # the other symbol is untouched


def test_constant_volume_gives_a_zero_volume_score_not_nan(make_walk):
    bars = make_walk(100, 1, seed=1)
    flat = dataclasses.replace(bars, volume=np.ones(bars.shape), _digest=[])
    z = compute_features(flat)[FEATURE_WARMUP:, 0, FEATURE_NAMES.index("volume_z_20")]
    assert np.array_equal(z, np.zeros_like(z))


def test_compute_features_rejects_what_is_not_bars():
    with pytest.raises(InputError, match="market_data.Bars"):
        compute_features(np.ones((10, 5)))
