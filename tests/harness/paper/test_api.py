"""The public names of harness.paper, pinned (a change here is a deliberate API change)."""

from __future__ import annotations

import harness.paper

PAPER = {"replay", "PaperResult", "Broker", "Order", "Ack", "OrderReport", "FillReport", "Account", "Bar",
         "client_order_id", "SimBroker", "Ledger", "ledger_path", "ReplayFeed", "PaperConfig", "RiskLimits",
         "Runner", "ACTIVE", "REDUCING", "HALTED"}


def test_public_names_are_pinned_and_resolve():
    assert set(harness.paper.__all__) >= PAPER
    for name in harness.paper.__all__:
        assert getattr(harness.paper, name) is not None


def test_client_order_id_names_deployment_version_bar_symbol_and_leg():
    from harness.paper import client_order_id

    assert client_order_id("dep", 3, 1_700_000_000_000_000_000, "AAPL", "target") == \
        "dep:v3:1700000000000000000:AAPL:target"
    import pytest

    with pytest.raises(ValueError, match="leg"):
        client_order_id("dep", 3, 1, "AAPL", "entry")
