"""The shared contract suite every broker adapter is held to (as ``strategies.testing``).

Subclass :class:`BrokerContract` and give ``make_broker(symbols)``; a broker whose market
the test can drive (a simulator) also gives ``drive(broker, bar)``::

    from harness.paper.testing import BrokerContract

    class TestMyBroker(BrokerContract):
        def make_broker(self, symbols):
            return MyBroker(symbols=symbols, ...)

:class:`DroppingBroker` wraps a broker and loses acknowledgements at random (the order is
placed, the answer never arrives), for crash and duplicate tests.
"""

from __future__ import annotations

import math
import random

import numpy as np

from harness.paper._broker import Ack, Bar, Broker, Order, OrderReport, client_order_id

__all__ = ["BrokerContract", "DroppingBroker", "LostAck"]


class LostAck(ConnectionError):
    """The broker's answer was lost (the call may or may not have taken effect)."""


class DroppingBroker(Broker):
    """Forwards every call to ``inner``; ``submit`` loses its answer with probability ``p``
    (after the inner broker acted, or, with ``before`` odds, before it saw the order)."""

    def __init__(self, inner: Broker, *, p: float = 0.3, before: float = 0.3, seed: int = 0) -> None:
        self.inner = inner
        self.p = p
        self.before = before
        self.rng = random.Random(seed)
        self.dropped = 0
        self.submits: list[str] = []

    def submit(self, order: Order) -> Ack:
        self.submits.append(order.client_order_id)
        if self.rng.random() < self.p:
            self.dropped += 1
            if self.rng.random() >= self.before:
                self.inner.submit(order)
            raise LostAck(f"acknowledgement of {order.client_order_id} lost")
        return self.inner.submit(order)

    def cancel(self, client_order_id: str) -> Ack:
        return self.inner.cancel(client_order_id)

    def order(self, client_order_id: str) -> OrderReport | None:
        return self.inner.order(client_order_id)

    def open_orders(self) -> list[OrderReport]:
        return self.inner.open_orders()

    def positions(self) -> dict[str, float]:
        return self.inner.positions()

    def account(self):
        return self.inner.account()

    def on_bar(self, bar: Bar) -> None:
        self.inner.on_bar(bar)

    def close(self) -> None:
        self.inner.close()


def _bar(t: int, symbols, px: float) -> Bar:
    n = len(symbols)
    a = np.full(n, px)
    return Bar(time=t, symbols=tuple(symbols), open=a, high=a * 1.01, low=a * 0.99, close=a, volume=np.ones(n))


class BrokerContract:
    """The broker protocol's contract (pytest collects the ``test_`` methods of a subclass)."""

    symbols = ("AAA", "BBB")
    #: the stop fields orders carry (a venue configured with stops wants them on each order)
    bracket: dict = {}

    def make_broker(self, symbols) -> Broker:  # pragma: no cover - subclasses give it
        raise NotImplementedError

    def drive(self, broker: Broker, bar: Bar) -> bool:
        """Let the market reach the broker; False when the test cannot drive it (a real venue)."""
        broker.on_bar(bar)
        return True

    def _order(self, sym="AAA", w=0.5, t=1, leg="target"):
        return Order(client_order_id=client_order_id("contract", 1, t, sym, leg), symbol=sym, leg=leg, bar_time=t,
                     target_weight=w, est_units=1.0, **self.bracket)

    def test_submit_is_acknowledged_and_found_by_client_order_id(self):
        b = self.make_broker(self.symbols)
        o = self._order()
        ack = b.submit(o)
        assert ack.client_order_id == o.client_order_id
        assert ack.state in ("accepted", "filled")
        rep = b.order(o.client_order_id)
        assert rep is not None and rep.client_order_id == o.client_order_id and rep.symbol == "AAA"

    def test_submitting_the_same_client_order_id_twice_creates_no_second_order(self):
        b = self.make_broker(self.symbols)
        o = self._order()
        first = b.submit(o)
        second = b.submit(o)
        assert second.duplicate and second.broker_order_id == first.broker_order_id
        assert [r.client_order_id for r in b.open_orders()].count(o.client_order_id) <= 1

    def test_unknown_client_order_id_is_none(self):
        assert self.make_broker(self.symbols).order("never-sent") is None

    def test_cancel_ends_a_working_order_and_a_second_cancel_is_harmless(self):
        b = self.make_broker(self.symbols)
        o = self._order()
        b.submit(o)
        ack = b.cancel(o.client_order_id)
        assert ack.state == "canceled"
        assert o.client_order_id not in {r.client_order_id for r in b.open_orders()}
        assert b.cancel(o.client_order_id).state == "canceled"

    def test_unknown_symbol_is_rejected_not_raised(self):
        b = self.make_broker(self.symbols)
        ack = b.submit(self._order(sym="ZZZ"))
        assert ack.state == "rejected" and ack.reason

    def test_fill_moves_positions_and_cash(self):
        b = self.make_broker(self.symbols)
        cash0 = b.account().cash
        b.submit(self._order(w=0.5, t=1))
        if not self.drive(b, _bar(2, self.symbols, 100.0)):
            return
        rep = b.order(self._order(w=0.5, t=1).client_order_id)
        assert rep.state == "filled" and rep.fills and rep.filled_size > 0
        assert math.isclose(b.positions()["AAA"], rep.filled_size)
        acct = b.account()
        assert acct.cash < cash0 and math.isclose(acct.equity, acct.cash + rep.filled_size * 100.0, rel_tol=1e-9)
        assert all(r.leg == "stop" for r in b.open_orders())  # only a resting stop may remain

    def test_open_orders_lists_working_orders_only(self):
        b = self.make_broker(self.symbols)
        b.submit(self._order(sym="AAA", t=1))
        b.submit(self._order(sym="BBB", t=1))
        assert {r.symbol for r in b.open_orders()} == {"AAA", "BBB"}
        for r in b.open_orders():
            assert r.state == "accepted"
