"""Every broker adapter runs the shared contract suite (harness.paper.testing.BrokerContract)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.engine.config import BacktestConfig
from harness.paper import SimBroker
from harness.paper.testing import BrokerContract, DroppingBroker, LostAck


class TestSimBrokerInMemory(BrokerContract):
    def make_broker(self, symbols):
        return SimBroker(symbols)


class TestSimBrokerOnDisk(BrokerContract):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path):
        self.dir = tmp_path

    def make_broker(self, symbols):
        return SimBroker(symbols, path=self.dir / "book.db")


class TestSimBrokerWithStops(BrokerContract):
    bracket = {"stop_loss": 0.5}

    def make_broker(self, symbols):
        return SimBroker(symbols, config=BacktestConfig(stop_loss=0.5, size_granularity=1))


def test_sim_broker_book_survives_reopening(tmp_path):
    from harness.paper.testing import _bar

    b = SimBroker(("AAA",), path=tmp_path / "b.db")
    o = BrokerContract()._order(sym="AAA", w=1.0)
    b.submit(o)
    b.on_bar(_bar(2, ("AAA",), 50.0))
    pos, cash = b.positions(), b.account().cash
    b.close()
    again = SimBroker(("AAA",), path=tmp_path / "b.db")
    assert again.positions() == pos and again.account().cash == cash
    assert again.order(o.client_order_id).state == "filled"
    assert again.submit(o).duplicate


def test_sim_broker_refuses_a_book_made_for_another_universe(tmp_path):
    from harness.errors import InputError

    SimBroker(("AAA",), path=tmp_path / "b.db").close()
    with pytest.raises(InputError, match="other symbols or another config"):
        SimBroker(("BBB",), path=tmp_path / "b.db")


def test_sim_broker_rests_a_stop_order_for_an_open_position_and_fills_it():
    from harness.paper.testing import _bar

    b = SimBroker(("AAA",), config=BacktestConfig(stop_loss=0.1))
    contract = BrokerContract()
    contract.bracket = {"stop_loss": 0.1}
    o = contract._order(sym="AAA", w=1.0)
    b.submit(o)
    b.on_bar(_bar(2, ("AAA",), 100.0))
    stops = [r for r in b.open_orders() if r.leg == "stop"]
    assert len(stops) == 1 and stops[0].parent == o.client_order_id
    assert np.isclose(stops[0].stop_price, 90.0)
    assert stops[0].client_order_id == o.client_order_id.replace(":target", ":stop")
    b.on_bar(_bar(3, ("AAA",), 80.0))  # gaps through the stop: fills at the open
    rep = b.order(stops[0].client_order_id)
    assert rep.state == "filled" and rep.fills[0].reason == "stop_loss" and rep.fills[0].price == 80.0
    assert b.positions() == {}


def test_dropping_broker_loses_answers_but_the_order_can_be_looked_up():
    inner = SimBroker(("AAA",))
    b = DroppingBroker(inner, p=1.0, before=0.0)
    o = BrokerContract()._order()
    with pytest.raises(LostAck):
        b.submit(o)
    assert b.order(o.client_order_id) is not None


def test_sim_broker_rejects_an_order_whose_stops_differ_from_its_config():
    b = SimBroker(("AAA",), config=BacktestConfig(stop_loss=0.1))
    ack = b.submit(BrokerContract()._order(sym="AAA"))
    assert ack.state == "rejected" and "stop_loss" in ack.reason
