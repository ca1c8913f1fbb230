"""The backtest engine: Numba fill model, portfolio, metrics and the ``backtest`` API.

Public: :func:`backtest`, :class:`BacktestConfig`, :class:`BacktestResult`,
:func:`compute_stats`; kernels in :mod:`harness.engine.nb`, record layouts in
:mod:`harness.engine.enums`.
"""

from harness.engine._stats import compute_stats
from harness.engine.api import backtest, code_version, prepare_weights
from harness.engine.config import BacktestConfig
from harness.engine.enums import FillParams, order_dt, trade_dt
from harness.engine.result import BacktestResult

__all__ = ["backtest", "BacktestConfig", "BacktestResult", "compute_stats", "code_version",
           "prepare_weights", "FillParams", "order_dt", "trade_dt"]
