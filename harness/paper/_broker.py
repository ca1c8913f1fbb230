"""The broker protocol: what the paper runner needs from a venue, and nothing more.

A broker adapter implements six calls (the shape of Alpaca's trading API):

``submit(order) -> Ack``
    Place an order. Idempotent by ``order.client_order_id``: a second submit of an id the
    broker already knows creates nothing and answers with the existing order
    (``Ack.duplicate`` True).
``cancel(client_order_id) -> Ack``
    Cancel a working order (a no-op answer for one already done).
``order(client_order_id) -> OrderReport | None``
    Look an order up by the runner's id (None: the broker never saw it). After a lost
    acknowledgement the runner calls this before it resubmits.
``open_orders() -> list[OrderReport]``, ``positions() -> dict[str, float]``, ``account() -> Account``
    What reconciliation compares with the ledger.

``on_bar(bar)`` is the market reaching the venue. A real venue sees the market by itself
(the default is a no-op); :class:`~harness.paper.SimBroker` fills its resting orders there
with the engine's :func:`~harness.engine.nb.execute_bar_nb`.

Order states (the runner's state machine, mapped to Alpaca's in the README)::

    new -> submitted -> accepted -> filled | partially_filled | canceled | rejected

``new``: an intent committed to the ledger, not yet sent; ``submitted``: sent, no answer
yet; ``accepted``: working at the broker; ``filled``: done in full; ``partially_filled``:
done with less than asked (the rest was cut to what the cash affords; nothing keeps
working); ``canceled`` (by the runner, replaced by a newer target, or nothing to trade at
the fill price); ``rejected`` by the broker.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Broker", "Order", "Ack", "OrderReport", "FillReport", "Account", "Bar", "STATES", "TERMINAL",
           "client_order_id", "LEGS"]

STATES = ("new", "submitted", "accepted", "filled", "partially_filled", "canceled", "rejected")
TERMINAL = frozenset({"filled", "partially_filled", "canceled", "rejected"})
#: legs of a client_order_id: the move towards a target weight, a flatten (kill switch),
#: and the stop order that rests at the broker for an open position
LEGS = ("target", "flatten", "stop")


def client_order_id(deployment: str, version: int | str, bar_time: int, symbol: str, leg: str) -> str:
    """The deterministic id of an order: ``<deployment>:v<version>:<bar time ns>:<symbol>:<leg>``.

    The same decision always gets the same id, so a resubmission after a crash or a lost
    acknowledgement can never create a second order. At most 128 characters (Alpaca's limit).
    """
    if leg not in LEGS:
        raise ValueError(f"leg must be one of {LEGS}, got {leg!r}")
    cid = f"{deployment}:v{version}:{int(bar_time)}:{symbol}:{leg}"
    if len(cid) > 128:
        raise ValueError(f"client_order_id {cid!r} is longer than 128 characters")
    return cid


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One bar of every symbol of a universe: ``(N,)`` prices, NaN where a symbol has no bar."""

    time: int
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    seen_at: float = math.nan  # monotonic time the feed saw the bar's commit (latency measurements)
    snapshot_id: str | None = None  # the bar store snapshot the bar was read from (None: not from a store)

    def digest(self) -> str:
        """A hash of the bar's values (how a correction of an applied bar is recognised)."""
        import hashlib

        h = hashlib.sha256(str(int(self.time)).encode())
        h.update("\x1f".join(self.symbols).encode())
        for a in (self.open, self.high, self.low, self.close, self.volume):
            h.update(np.ascontiguousarray(a, dtype=np.float64))  # the buffer itself: the same bytes, no copy
        return h.hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class Order:
    """An order as the runner sends it: a move of ``symbol`` to ``target_weight`` of equity.

    ``est_units`` is the runner's estimate of the units at the last close (a real adapter
    submits units; :class:`SimBroker` sizes at the fill price exactly as the engine does).
    ``stop_loss``/``take_profit``/``trailing_stop`` (fractions, or None) ask the broker to
    rest a stop order for the position this order opens (a bracket).
    """

    client_order_id: str
    symbol: str
    leg: str
    bar_time: int
    target_weight: float
    est_units: float = math.nan
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class FillReport:
    """One fill: ``size`` > 0, ``side`` "buy"/"sell", ``price`` after slippage, ``fees`` paid."""

    fill_id: str
    seq: int
    client_order_id: str
    symbol: str
    bar_time: int
    side: str
    size: float
    price: float
    fees: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderReport:
    """The broker's view of one order."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    leg: str
    state: str
    reason: str = ""
    target_weight: float = math.nan
    filled_size: float = 0.0
    avg_price: float = math.nan
    fees: float = 0.0
    stop_price: float = math.nan
    parent: str | None = None
    legs: tuple[str, ...] = ()
    fills: tuple[FillReport, ...] = field(default=())


@dataclass(frozen=True, kw_only=True)
class Ack:
    """The answer to ``submit``/``cancel``: the order's state after the call."""

    client_order_id: str
    state: str
    broker_order_id: str = ""
    reason: str = ""
    duplicate: bool = False


@dataclass(frozen=True, kw_only=True)
class Account:
    cash: float
    equity: float


class Broker(ABC):
    """The broker protocol (see the module docstring). The runner uses nothing else."""

    @abstractmethod
    def submit(self, order: Order) -> Ack: ...

    @abstractmethod
    def cancel(self, client_order_id: str) -> Ack: ...

    @abstractmethod
    def order(self, client_order_id: str) -> OrderReport | None: ...

    @abstractmethod
    def open_orders(self) -> list[OrderReport]: ...

    @abstractmethod
    def positions(self) -> dict[str, float]: ...

    @abstractmethod
    def account(self) -> Account: ...

    def on_bar(self, bar: Bar) -> None:  # noqa: B027 - a real venue sees the market itself
        """The market reaching the venue (a no-op for a real broker)."""

    def close(self) -> None:  # noqa: B027
        """Release resources (files, connections)."""
