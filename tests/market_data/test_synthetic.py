from __future__ import annotations

import numpy as np
import pytest

from market_data import InputError
from market_data.synthetic import Regime, regime_switching


def test_same_seed_same_bars_and_other_seed_other_bars():
    a, ta = regime_switching(500, 3, seed=7)
    b, tb = regime_switching(500, 3, seed=7)
    c, _ = regime_switching(500, 3, seed=8)
    assert a.equals(b) and np.array_equal(ta.labels, tb.labels)
    assert not a.equals(c)


def test_ohlc_is_consistent_and_positive():
    bars, _ = regime_switching(3000, 4, seed=3)
    assert (bars.low > 0).all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.volume >= 0).all()


def test_realised_volatility_matches_the_true_regime():
    regimes = [Regime(vol=0.01), Regime(vol=0.03)]
    bars, truth = regime_switching(20_000, 1, regimes=regimes, schedule=[(0, 0), (10_000, 1)], seed=1)
    r = np.diff(np.log(bars.close[:, 0]))
    assert truth.change_points.tolist() == [10_000]
    assert np.std(r[:9_999]) == pytest.approx(0.01, rel=0.03)
    assert np.std(r[10_000:]) == pytest.approx(0.03, rel=0.03)
    assert truth.vol_ratios().tolist() == pytest.approx([3.0])


def test_random_schedule_respects_min_duration():
    _, truth = regime_switching(20_000, 1, seed=5, mean_duration=300, min_duration=100)
    lengths = np.diff(np.concatenate([[0], truth.change_points, [20_000]]))
    assert (lengths[:-1] >= 100).all() and truth.change_points.size > 20


def test_bad_arguments_are_named():
    with pytest.raises(InputError, match="n_bars"):
        regime_switching(0)
    with pytest.raises(InputError, match="schedule must start at bar 0"):
        regime_switching(10, schedule=[(5, 1)])
    with pytest.raises(InputError, match="Regime.vol"):
        Regime(vol=-1.0)
