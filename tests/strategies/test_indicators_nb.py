"""Indicator kernels against pandas' and vectorbt's implementations of the same indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from market_data.errors import InputError
from strategies import indicators as ind
from strategies.indicators import nb

TOL = {"rtol": 1e-9, "atol": 1e-9}


def _prices(seed: int = 0, n: int = 600, k: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(n, k)), axis=0))
    x[:40, 1] = np.nan  # listed late
    x[300:307, 2] = np.nan  # a gap
    return pd.DataFrame(x, columns=["A", "B", "C"])


finite_or_nan = st.one_of(st.floats(-1e4, 1e4, allow_nan=False), st.just(np.nan))
series = arrays(np.float64, st.integers(1, 60), elements=finite_or_nan)


def _wilder(s: pd.DataFrame | pd.Series, n: int):
    return s.ewm(alpha=1 / n, adjust=False, min_periods=n).mean()


def _pandas_rsi(close: pd.DataFrame, n: int) -> pd.DataFrame:
    d = close.diff()
    up, down = _wilder(d.clip(lower=0), n), _wilder(-d.clip(upper=0), n)
    rsi = 100 - 100 / (1 + up / down)
    return rsi.mask((down == 0) & (up == 0), 50.0)


def _pandas_true_range(h: pd.DataFrame, lo: pd.DataFrame, c: pd.DataFrame) -> pd.DataFrame:
    pc = c.shift()
    return pd.concat([h - lo, (h - pc).abs(), (lo - pc).abs()]).groupby(level=0).max().where(~(h - lo).isna())


# --------------------------------------------------------------------- against pandas
@pytest.mark.parametrize("window,minp", [(1, 1), (5, 5), (20, 3), (63, 63)])
def test_rolling_mean_and_std_match_pandas_with_missing_bars(window, minp):
    df = _prices()
    np.testing.assert_allclose(ind.rolling_mean(df, window, minp), df.rolling(window, min_periods=minp).mean(), **TOL)
    for ddof in (0, 1):
        np.testing.assert_allclose(ind.rolling_std(df, window, minp, ddof=ddof),
                                   df.rolling(window, min_periods=minp).std(ddof=ddof), **TOL)


def test_zscore_matches_pandas():
    df = _prices(1)
    r = df.rolling(20)
    expected = ((df - r.mean()) / r.std(ddof=0)).replace([np.inf, -np.inf], np.nan)
    np.testing.assert_allclose(ind.zscore(df, 20), expected, **TOL)


@pytest.mark.parametrize("adjust", [False, True])
@pytest.mark.parametrize("span,minp", [(1, 0), (10, 0), (30, 30)])
def test_ewm_mean_matches_pandas(adjust, span, minp):
    df = _prices(2)
    np.testing.assert_allclose(ind.ewm_mean(df, span=span, min_periods=minp, adjust=adjust),
                               df.ewm(span=span, min_periods=minp, adjust=adjust).mean(), **TOL)


# pandas 3.1 treats alpha == 0.5 exactly (window 2) differently after a missing value
# (1.75 instead of 1.667 for [1, nan, 2]), unlike every other alpha; we follow the general rule.
@pytest.mark.parametrize("window", [3, 14, 30])
def test_rsi_is_wilder_smoothing_of_gains_and_losses(window):
    df = _prices(3)
    np.testing.assert_allclose(ind.rsi(df, window), _pandas_rsi(df, window), **TOL)


@pytest.mark.parametrize("window", [1, 14])
def test_true_range_and_atr_match_pandas(window):
    c = _prices(4)
    rng = np.random.default_rng(4)
    h = c * (1 + rng.uniform(0, 0.02, c.shape))
    lo = c * (1 - rng.uniform(0, 0.02, c.shape))
    tr = _pandas_true_range(h, lo, c)
    np.testing.assert_allclose(ind.true_range(h, lo, c), tr, **TOL)
    np.testing.assert_allclose(ind.atr(h, lo, c, window), _wilder(tr, window), **TOL)


@pytest.mark.parametrize("window,minp", [(1, 1), (20, 20), (20, 1), (55, 10)])
def test_donchian_channel_matches_rolling_max_and_min(window, minp):
    c = _prices(5)
    h, lo = c * 1.01, c * 0.99
    upper, lower = ind.donchian(h, lo, window, minp)
    np.testing.assert_array_equal(upper, h.rolling(window, min_periods=minp).max())
    np.testing.assert_array_equal(lower, lo.rolling(window, min_periods=minp).min())


@settings(max_examples=60, deadline=None)
@given(a=series, window=st.integers(1, 12), data=st.data())
def test_rolling_kernels_match_pandas_on_any_series(a, window, data):
    minp = data.draw(st.integers(0, window))
    s = pd.Series(a)
    r = s.rolling(window, min_periods=minp)
    out = np.empty(a.size)
    scale = 1e-9 * max(1.0, float(np.nanmax(np.abs(a), initial=0.0)))  # error relative to the data
    np.testing.assert_allclose(nb.rolling_mean_1d_nb(a, window, minp, out), r.mean(), rtol=1e-9, atol=scale)
    np.testing.assert_allclose(nb.rolling_std_1d_nb(a, window, minp, 1, out), r.std(), rtol=1e-7, atol=100 * scale)
    np.testing.assert_array_equal(nb.rolling_max_1d_nb(a, window, minp, out), r.max())
    np.testing.assert_array_equal(nb.rolling_min_1d_nb(a, window, minp, out), r.min())


@settings(max_examples=60, deadline=None)
@given(a=series, alpha=st.floats(0.01, 1.0).filter(lambda x: x != 0.5), minp=st.integers(0, 5), adjust=st.booleans())
def test_ewm_kernel_matches_pandas_on_any_series(a, alpha, minp, adjust):
    expected = pd.Series(a).ewm(alpha=alpha, adjust=adjust, min_periods=minp).mean()
    np.testing.assert_allclose(nb.ewm_mean_1d_nb(a, alpha, minp, adjust, np.empty(a.size)), expected,
                               rtol=1e-9, atol=1e-6)


# ------------------------------------------------------------------- against vectorbt
def test_moving_average_std_and_ewm_match_vectorbt():
    import vectorbt.generic.nb as vbt_nb

    a = _prices(6).to_numpy()
    np.testing.assert_allclose(ind.rolling_mean(a, 20), vbt_nb.rolling_mean_nb(a, 20, minp=20), **TOL)
    np.testing.assert_allclose(ind.rolling_std(a, 20, ddof=0), vbt_nb.rolling_std_nb(a, 20, minp=20, ddof=0), **TOL)
    np.testing.assert_allclose(ind.ewm_mean(a, span=15, min_periods=15),
                               vbt_nb.ewm_mean_nb(a, 15, minp=15, adjust=False), **TOL)


def test_bollinger_bands_and_true_range_match_vectorbt_indicators():
    import vectorbt as vbt

    c = _prices(7).ffill().bfill()
    bb = vbt.BBANDS.run(c, window=20, alpha=2.0)
    mid, sd = ind.rolling_mean(c, 20), ind.rolling_std(c, 20, ddof=0)
    np.testing.assert_allclose(bb.upper, mid + 2 * sd, **TOL)
    np.testing.assert_allclose(bb.lower, mid - 2 * sd, **TOL)
    h, lo = c * 1.01, c * 0.98
    atr = vbt.ATR.run(h, lo, c, window=14, ewm=False)
    np.testing.assert_allclose(atr.tr, ind.true_range(h, lo, c), **TOL)


# ------------------------------------------------------------------------ properties
def test_long_series_keep_full_precision_thanks_to_periodic_recompute():
    rng = np.random.default_rng(8)
    a = 1e6 + np.cumsum(rng.normal(0, 1.0, 300_000))  # large level, small moves: cancellation-prone
    out_m, out_s = np.empty(a.size), np.empty(a.size)
    nb.rolling_mean_std_1d_nb(a, 50, 50, 1, out_m, out_s)
    tail = a[-50:]
    assert out_m[-1] == pytest.approx(tail.mean(), rel=1e-14)
    assert out_s[-1] == pytest.approx(tail.std(ddof=1), rel=1e-9)


def test_flat_window_has_exactly_zero_std_and_no_zscore_after_an_outlier_leaves():
    a = np.r_[np.full(10, 9852.88853351), 0.0, np.full(10, 9852.88853351)]
    std = nb.rolling_std_1d_nb(a, 5, 5, 1, np.empty(a.size))
    assert std[-1] == 0.0 and std[-6] == 0.0 and std[-7] > 0
    assert np.isnan(ind.zscore(a, 5)[-1])
    assert ind.rolling_mean(a, 5)[-1] == a[-1]


@pytest.mark.parametrize("name", ["rolling_mean", "rolling_std", "zscore", "rsi", "ewm", "atr", "donchian"])
def test_indicator_output_at_t_uses_inputs_up_to_t_only(name):
    c = _prices(9).to_numpy()
    funcs = {
        "rolling_mean": lambda x: ind.rolling_mean(x, 10),
        "rolling_std": lambda x: ind.rolling_std(x, 10),
        "zscore": lambda x: ind.zscore(x, 10),
        "rsi": lambda x: ind.rsi(x, 14),
        "ewm": lambda x: ind.ewm_mean(x, span=10, adjust=True),
        "atr": lambda x: ind.atr(x * 1.01, x * 0.99, x, 14),
        "donchian": lambda x: ind.donchian(x * 1.01, x * 0.99, 20)[0],
    }
    full = funcs[name](c)
    for k in (1, 9, 10, 11, 301, 599):
        np.testing.assert_array_equal(funcs[name](c[:k]), full[:k])


def test_pandas_inputs_keep_their_index_and_columns():
    df = _prices(10)
    out = ind.rolling_mean(df, 5)
    assert isinstance(out, pd.DataFrame) and out.index.equals(df.index) and list(out.columns) == ["A", "B", "C"]
    s = ind.rsi(df["A"], 14)
    assert isinstance(s, pd.Series) and s.name == "A"
    assert ind.zscore(df["A"].to_numpy(), 5).shape == (len(df),)


@pytest.mark.parametrize("call,field", [
    (lambda: ind.rolling_mean(np.ones(5), 0), "window"),
    (lambda: ind.rolling_std(np.ones(5), 3, min_periods=4), "min_periods"),
    (lambda: ind.ewm_mean(np.ones(5)), "span"),
    (lambda: ind.ewm_mean(np.ones(5), alpha=1.5), "alpha"),
    (lambda: ind.atr(np.ones(5), np.ones(4), np.ones(5)), "shape"),
    (lambda: ind.rolling_mean(np.ones((2, 2, 2)), 2), "1-D or 2-D"),
])
def test_bad_indicator_arguments_raise_input_error_naming_the_argument(call, field):
    with pytest.raises(InputError, match=field):
        call()
