"""``BacktestConfig``: the fill model, costs, sizing and stops of one backtest."""

from __future__ import annotations

import numpy as np

from harness.engine.enums import FillParams
from strategies.params import Config, param

__all__ = ["BacktestConfig"]


class BacktestConfig(Config):
    """How orders are filled and charged (frozen, keyword-only, validated).

    Example::

        BacktestConfig(fee_rate=0.001, slippage_bps=2, size_granularity=1, stop_loss=0.05)
    """

    init_cash: float = param(100_000.0, low=0.0, doc="starting cash")
    fee_rate: float = param(0.0, low=0.0, high=0.5, doc="fee as a fraction of traded notional")
    fixed_fee: float = param(0.0, low=0.0, doc="fee per filled order, in cash")
    slippage_bps: float = param(0.0, low=0.0, high=5_000.0,
                                doc="price moved against the trader, in basis points")
    fill: str = param("next_open", choices=("next_open", "close"),
                      doc="next_open: a decision at the close of t fills at the open of t+1; close: at the close of t")
    size_granularity: float | None = param(None, optional=True, low=0.0,
                                           doc="round order sizes down to multiples of this (1 = whole units); None = fractional")
    leverage: float = param(1.0, low=0.0, high=100.0,
                            doc="cap on gross exposure sum(|w|) and on borrowing; 1 = cash account")
    allow_short: bool = param(True, doc="False clips negative target weights to 0")
    stop_loss: float | None = param(None, optional=True, low=0.0, high=1.0,
                                    doc="exit when price moves this fraction against the entry")
    take_profit: float | None = param(None, optional=True, low=0.0,
                                      doc="exit when price moves this fraction in favour of the entry")
    trailing_stop: float | None = param(None, optional=True, low=0.0, high=1.0,
                                        doc="exit when price falls this fraction from its best since entry")
    rebalance_every: int | None = param(None, optional=True, low=1,
                                        doc="also rebalance every symbol to its target every k bars")

    def check(self) -> None:
        if not self.init_cash > 0:
            self.fail("init_cash", f"must be > 0, got {self.init_cash!r}")
        if not self.leverage > 0:
            self.fail("leverage", f"must be > 0, got {self.leverage!r}")
        if self.size_granularity is not None and not self.size_granularity > 0:
            self.fail("size_granularity", f"must be > 0 (or None for fractional units), got {self.size_granularity!r}")
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                self.fail(name, f"must be > 0 (or None to switch it off), got {v!r}")
        if self.stop_loss is not None and not self.stop_loss < 1:
            self.fail("stop_loss", f"must be < 1 (a fraction of the entry price), got {self.stop_loss!r}")
        if self.trailing_stop is not None and not self.trailing_stop < 1:
            self.fail("trailing_stop", f"must be < 1, got {self.trailing_stop!r}")

    def fill_params(self) -> FillParams:
        """The kernel form of this config (:class:`~harness.engine.enums.FillParams`)."""

        def f(x: float | None) -> float:
            return np.nan if x is None else float(x)

        return FillParams(
            fee_rate=float(self.fee_rate),
            fixed_fee=float(self.fixed_fee),
            slippage=float(self.slippage_bps) / 1e4,
            granularity=f(self.size_granularity),
            leverage=float(self.leverage),
            stop_loss=f(self.stop_loss),
            take_profit=f(self.take_profit),
            trailing_stop=f(self.trailing_stop),
        )

    @property
    def fill_at_open(self) -> bool:
        return self.fill == "next_open"

