"""Record dtypes, code tables and the parameter tuple shared by the engine kernels.

Everything here is Numba-friendly: structured dtypes for records written by kernels,
integer codes for sides and exit reasons, and :class:`FillParams`, a homogeneous
NamedTuple of floats that the order-execution kernel takes (so callers in other
``nb.py`` modules can build one and pass it straight into ``execute_bar_nb``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "order_dt",
    "trade_dt",
    "OrderSide",
    "OrderReason",
    "ExitReason",
    "TradeDirection",
    "TradeStatus",
    "FillParams",
    "METRIC_NAMES",
    "EXIT_REASON_NAMES",
]


class OrderSide:
    """``order_dt['side']``: 0 buy, 1 sell."""

    BUY = 0
    SELL = 1


class OrderReason:
    """Why an order was placed (``order_dt['reason']``)."""

    SIGNAL = 0  #: the target weight changed (or a periodic rebalance)
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3


class ExitReason(OrderReason):
    """Why a trade ended (``trade_dt['exit_reason']``); ``END`` = still open at the last bar."""

    END = 4


EXIT_REASON_NAMES: tuple[str, ...] = ("signal", "stop_loss", "take_profit", "trailing_stop", "end")


class TradeDirection:
    LONG = 0
    SHORT = 1


class TradeStatus:
    OPEN = 0
    CLOSED = 1


#: One filled order. ``size`` is positive; ``side`` says the direction; ``price`` is the
#: fill price after slippage; ``fees`` = ``fee_rate * size * price + fixed_fee``.
order_dt = np.dtype(
    [
        ("id", np.int64),
        ("col", np.int64),
        ("idx", np.int64),
        ("size", np.float64),
        ("price", np.float64),
        ("fees", np.float64),
        ("side", np.int64),
        ("reason", np.int64),
    ],
    align=True,
)

#: One round-trip position (flat -> long/short -> flat, or still open at the end).
#: ``entry_price``/``exit_price`` are size-weighted averages over the fills that
#: opened/closed it; ``pnl`` is the exact cash P&L net of all fees; ``return`` is
#: ``pnl / (size * entry_price)``.
trade_dt = np.dtype(
    [
        ("id", np.int64),
        ("col", np.int64),
        ("size", np.float64),
        ("entry_idx", np.int64),
        ("entry_price", np.float64),
        ("entry_fees", np.float64),
        ("exit_idx", np.int64),
        ("exit_price", np.float64),
        ("exit_fees", np.float64),
        ("pnl", np.float64),
        ("return", np.float64),
        ("direction", np.int64),
        ("status", np.int64),
        ("exit_reason", np.int64),
    ],
    align=True,
)


class FillParams(NamedTuple):
    """The fill model's parameters, all floats (NaN switches an optional feature off).

    ``slippage`` is a fraction (``slippage_bps / 1e4``); ``granularity`` NaN means
    fractional units; ``stop_loss``/``take_profit``/``trailing_stop`` NaN mean no stop.
    """

    fee_rate: float = 0.0
    fixed_fee: float = 0.0
    slippage: float = 0.0
    granularity: float = np.nan
    leverage: float = 1.0
    stop_loss: float = np.nan
    take_profit: float = np.nan
    trailing_stop: float = np.nan


#: Order of the values written by ``metrics_nb`` (see ``harness.engine.nb``).
METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "cagr",
    "ann_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
)
