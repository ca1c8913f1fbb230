"""Validation: time-series cross-validation splitters and overfitting statistics.

Splitters (``split(x) -> (train_idx, test_idx)`` pairs): :class:`WalkForward`,
:class:`PurgedKFold`, :class:`CombinatorialPurgedCV`; :func:`parse_cv` reads their text
form (``"walk-forward:train=2y,test=6m"``).

Statistics (per-period Sharpe ratios, raw kurtosis, as in the papers):
:func:`probabilistic_sharpe_ratio`, :func:`deflated_sharpe_ratio`,
:func:`min_track_record_length`, :func:`expected_max_sharpe`, :func:`pbo`.
"""

from harness.validation._splits import (
    CombinatorialPurgedCV,
    PurgedKFold,
    Splitter,
    WalkForward,
    make_splitter,
    parse_cv,
)
from harness.validation._stats import (
    PBOResult,
    SharpeStats,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    pbo,
    probabilistic_sharpe_ratio,
    sharpe_stats,
)

__all__ = [
    "Splitter",
    "WalkForward",
    "PurgedKFold",
    "CombinatorialPurgedCV",
    "parse_cv",
    "make_splitter",
    "SharpeStats",
    "sharpe_stats",
    "probabilistic_sharpe_ratio",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length",
    "pbo",
    "PBOResult",
]
