"""The default detector on the real S&P 500 daily sample (1999-2018)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness import regime
from market_data import samples


@pytest.fixture(scope="module")
def spx():
    bars = samples.load("SPX")
    r = regime.returns_from_bars(bars)
    return bars.index(), r, regime.get(regime.DEFAULT_DETECTOR).run(r)


def _labels(spx, start, end):
    idx, _, res = spx
    return pd.Series(res.labels, index=idx)[start:end]


def test_autumn_2008_is_detected_between_september_and_november(spx):
    idx, _, res = spx
    when = idx[res.change_points]
    in_window = res.change_points[(when >= pd.Timestamp("2008-09-01", tz="UTC"))
                                  & (when <= pd.Timestamp("2008-11-30", tz="UTC"))]
    assert in_window.size >= 1
    first = int(in_window[0])
    # a rise of volatility, to a high regime
    assert res.volatility[first] > 1.5 * res.volatility[first - 1]
    assert res.labels[first] == 2
    assert (_labels(spx, "2008-10-01", "2008-11-30") == 2).all()


@pytest.mark.parametrize(("start", "end"), [("2011-08-08", "2011-09-30"), ("2018-02-06", "2018-03-31")])
def test_august_2011_and_early_2018_are_high(spx, start, end):
    assert (_labels(spx, start, end) == 2).mean() >= 0.9


@pytest.mark.parametrize(("start", "end"), [("2005-01-01", "2006-12-31"), ("2017-01-01", "2017-12-31")])
def test_2005_2006_and_2017_are_calm(spx, start, end):
    lab = _labels(spx, start, end)
    assert (lab == 2).sum() == 0
    assert (lab == 0).mean() >= 0.6


def test_default_detector_reacts_within_days_to_the_2018_volatility_spike(spx):
    idx, _, res = spx
    when = idx[res.change_points]
    hits = when[(when >= pd.Timestamp("2018-02-01", tz="UTC")) & (when <= pd.Timestamp("2018-02-16", tz="UTC"))]
    assert hits.size >= 1
    assert np.isfinite(res.volatility).all()
