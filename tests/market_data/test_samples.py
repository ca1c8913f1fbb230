from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market_data import InputError, samples


def test_spx_sample_covers_1999_to_2018_with_consistent_bars():
    spx = samples.load("SPX")
    idx = spx.index()
    assert idx[0] == pd.Timestamp("1999-01-04", tz="UTC") and idx[-1] == pd.Timestamp("2018-12-31", tz="UTC")
    assert spx.n_bars == 5031 and spx.frequency == "1d"
    assert (spx.high >= np.maximum(spx.open, spx.close)).all()
    # the close of 2008-10-10 is a known value of the series
    assert spx.between("2008-10-10", "2008-10-10").close[0, 0] == pytest.approx(899.22, abs=0.01)


def test_stock_group_aligns_symbols_with_nan_before_listing():
    # bokeh_sampledata is in the dev extra the suite runs with: missing, this fails, it is not skipped
    assert "GOOG" in samples.available(), "bokeh_sampledata (dev/samples extra) is not installed"
    stocks = samples.load_group("stocks")
    assert stocks.symbols == ("AAPL", "IBM", "MSFT", "GOOG")
    goog = stocks.close[:, 3]
    first = np.flatnonzero(~np.isnan(goog))[0]
    assert stocks.index()[first] == pd.Timestamp("2004-08-19", tz="UTC")
    assert np.isnan(goog[:first]).all() and not np.isnan(stocks.close[:, 0]).any()


def test_unknown_sample_is_a_clear_error():
    with pytest.raises(InputError, match="unknown sample 'XYZ'"):
        samples.load("XYZ")


def test_write_samples_writes_each_group_once(tmp_path):
    from market_data import BarStore

    store = BarStore.open(tmp_path / "store", create=True)
    first = {g["group"]: g for g in samples.write_samples(store)}
    assert first["indices"]["status"] == "written" and first["indices"]["symbols"] == ("SPX", "NASDAQ")
    assert store.read(["SPX"]).digest() == samples.load("SPX").digest()
    commits = len(store.history())
    again = {g["group"]: g for g in samples.write_samples(store)}
    assert again["indices"]["status"] == "present" and again["indices"]["snapshot_id"] is None
    assert len(store.history()) == commits  # nothing written the second time
