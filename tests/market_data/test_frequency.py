from __future__ import annotations

import numpy as np
import pytest

from market_data import InputError
from market_data.frequency import (
    canonical_frequency,
    frequency_ns,
    infer_frequency,
    periods_per_year,
)


@pytest.mark.parametrize(("freq", "ppy"), [("1d", 252), ("1w", 52), ("1h", 252 * 6.5), ("1min", 252 * 390),
                                           ("5min", 252 * 78)])
def test_periods_per_year_follow_a_252_day_6_5_hour_calendar(freq, ppy):
    assert periods_per_year(freq) == pytest.approx(ppy)


def test_parse_and_canonical_forms():
    assert canonical_frequency("1D") == "1d" and canonical_frequency("60s") == "60s"
    assert frequency_ns("5min") == 300_000_000_000
    with pytest.raises(InputError, match="unknown unit"):
        canonical_frequency("3fortnights")


def test_infer_frequency_uses_the_modal_spacing():
    day = 86_400_000_000_000
    ts = np.array([0, 1, 2, 3, 4, 7, 8]) * day  # a weekend gap
    assert infer_frequency(ts) == "1d"
    assert infer_frequency(np.arange(5) * 60_000_000_000) == "1min"
    assert infer_frequency(np.array([0])) is None
