"""Options shared by several commands: data selection and the fill/cost model.

Each alias is a typed, documented typer option; commands declare e.g.
``fee_rate: FeeRate = 0.0`` and build the config with :func:`backtest_config`, so
``harness backtest`` and ``harness sweep`` (and ``optimize``) spell the options alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from harness.engine import BacktestConfig

# data selection
Symbols = Annotated[list[str] | None, typer.Option("--symbols", help="Symbols (repeatable or comma-separated; "
                                                   "default: all of the frequency).")]
Start = Annotated[str | None, typer.Option("--start", help="First date (inclusive).")]
End = Annotated[str | None, typer.Option("--end", help="Last date (inclusive).")]
Frequency = Annotated[str, typer.Option("--frequency", help="Bar frequency.")]
Snapshot = Annotated[str | None, typer.Option("--snapshot", help="Snapshot id or tag of the data.")]

# fill and cost model (BacktestConfig)
InitCash = Annotated[float, typer.Option("--init-cash", help="Starting cash.")]
FeeRate = Annotated[float, typer.Option("--fee-rate", help="Fee, fraction of traded notional.")]
FixedFee = Annotated[float, typer.Option("--fixed-fee", help="Fee per order.")]
SlippageBps = Annotated[float, typer.Option("--slippage-bps", help="Slippage in basis points.")]
Fill = Annotated[str, typer.Option("--fill", help="next_open (default) or close.")]
WholeUnits = Annotated[bool, typer.Option("--whole-units", help="Trade whole units only.")]
Leverage = Annotated[float, typer.Option("--leverage", help="Gross exposure cap (1 = cash account).")]
LongOnly = Annotated[bool, typer.Option("--long-only", help="Clip short targets to flat.")]
StopLoss = Annotated[float | None, typer.Option("--stop-loss", help="Stop loss, fraction.")]
TakeProfit = Annotated[float | None, typer.Option("--take-profit", help="Take profit, fraction.")]
TrailingStop = Annotated[float | None, typer.Option("--trailing-stop", help="Trailing stop, fraction.")]
RebalanceEvery = Annotated[int | None, typer.Option("--rebalance-every", help="Rebalance every k bars.")]


def name_values(items: list[str] | None, option: str = "--param") -> dict[str, str]:
    """``["fast=10", "slow=50"]`` -> ``{"fast": "10", "slow": "50"}``; a malformed item is an error."""
    from harness.errors import InputError

    out: dict[str, str] = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise InputError(f"{option} {item!r} must be NAME=VALUE, e.g. {option} fast=10")
        out[k.strip()] = v.strip()
    return out


def parse_params(items: list[str] | None, option: str = "--param") -> dict[str, Any]:
    """:func:`name_values` with each value parsed (:func:`market_data.config.parse_value`)."""
    from market_data.config import parse_value

    return {k: parse_value(v) for k, v in name_values(items, option).items()}


def split_symbols(symbols: list[str] | None) -> list[str] | None:
    """``--symbols A,B --symbols C`` -> ``["A", "B", "C"]``; nothing -> None (all symbols)."""
    return [s.strip() for item in symbols or [] for s in item.split(",") if s.strip()] or None


def backtest_config(*, init_cash: float = 100_000.0, fee_rate: float = 0.0, fixed_fee: float = 0.0,
                    slippage_bps: float = 0.0, fill: str = "next_open", whole_units: bool = False,
                    leverage: float = 1.0, long_only: bool = False, stop_loss: float | None = None,
                    take_profit: float | None = None, trailing_stop: float | None = None,
                    rebalance_every: int | None = None) -> BacktestConfig:
    """The :class:`BacktestConfig` the shared options describe (validated there)."""
    from harness.engine import BacktestConfig

    return BacktestConfig(init_cash=init_cash, fee_rate=fee_rate, fixed_fee=fixed_fee, slippage_bps=slippage_bps,
                          fill=fill, size_granularity=1.0 if whole_units else None, leverage=leverage,
                          allow_short=not long_only, stop_loss=stop_loss, take_profit=take_profit,
                          trailing_stop=trailing_stop, rebalance_every=rebalance_every)

Dask = Annotated[str | None, typer.Option(
    "--dask", help="Run on Dask: local (a worker per core), local:N, or a scheduler tcp://HOST:PORT "
                   "(needs the 'scale' extra).")]
