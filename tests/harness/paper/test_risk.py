"""Risk limits: what a binding limit denies, breaches move the state, the state survives restarts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import BacktestConfig, backtest
from harness.errors import ParamError
from harness.paper import HALTED, REDUCING, PaperConfig, RiskLimits, replay

from ._paper_data import random_bars


def _denials(pr):
    ev = pr.ledger.risk_events()
    return ev[ev["kind"] == "denial"]


def test_max_weight_denies_exactly_the_orders_above_it(tmp_path):
    bars = random_bars(1, T=60, N=2, missing=0)
    w = np.full((60, 2), np.nan)
    w[5] = [0.3, 0.8]   # S1 above the limit
    w[20] = [0.4, 0.2]
    pr = replay(bars, weights=w, risk=RiskLimits(max_weight=0.5), ledger_dir=tmp_path)
    d = _denials(pr)
    assert list(d["reason"].str.split(":").str[0]) == ["max_weight"]
    assert json.loads(d["detail"].iloc[0])["symbol"] == "S1"
    # the same as a backtest where S1's 0.8 never happened
    allowed = w.copy()
    allowed[5, 1] = np.nan
    bt = backtest(bars, weights=allowed)
    assert len(pr.orders) == len(bt.orders) == 3
    np.testing.assert_allclose(pr.equity.to_numpy(), bt.equity.to_numpy(), rtol=1e-9)


def test_max_orders_per_bar_sends_reducing_orders_first(tmp_path):
    bars = random_bars(2, T=40, N=3, missing=0)
    w = np.full((40, 3), np.nan)
    w[3] = [0.3, 0.3, 0.3]
    w[10] = [0.0, 0.3, 0.5]  # S0 reduces, S2 grows
    pr = replay(bars, weights=w, risk=RiskLimits(max_orders_per_bar=1), ledger_dir=tmp_path)
    o = pr.orders
    assert list(o.loc[o["idx"] == 4, "symbol"]) == ["S0"]  # bar 3: one of three
    assert list(o.loc[o["idx"] == 11, "symbol"]) == ["S0"]  # bar 10: the reducing one wins
    assert (_denials(pr)["reason"].str.startswith("max_orders_per_bar")).sum() == 3


def test_max_gross_leverage_and_max_order_notional_deny_with_their_reasons(tmp_path):
    bars = random_bars(3, T=30, N=2, missing=0)
    w = np.full((30, 2), np.nan)
    w[2] = [0.6, 0.6]
    pr = replay(bars, weights=w, risk=RiskLimits(max_gross_leverage=1.0), ledger_dir=tmp_path / "g")
    assert list(_denials(pr)["reason"].str.split(":").str[0]) == ["max_gross_leverage"]
    assert list(pr.orders["symbol"]) == ["S0"]
    pr = replay(bars, weights=w, risk=RiskLimits(max_order_notional=50_000.0), ledger_dir=tmp_path / "n")
    assert list(_denials(pr)["reason"].str.split(":").str[0]) == ["max_order_notional"] * 2
    assert pr.orders.empty


def test_drawdown_breach_halts_and_later_orders_are_denied(tmp_path):
    bars = random_bars(4, T=120, N=1, missing=0)
    w = np.where(np.arange(120) % 2 == 0, 1.0, -1.0).reshape(-1, 1)  # churn: fees make a drawdown
    cfg = BacktestConfig(fee_rate=0.01)
    pr = replay(bars, weights=w, config=cfg, risk=RiskLimits(max_drawdown=0.05), ledger_dir=tmp_path)
    ev = pr.ledger.risk_events()
    states = ev[ev["kind"] == "state"]
    assert list(states["state"]) == [HALTED] and states["reason"].iloc[0].startswith("max_drawdown")
    halted_at = int(states["bar_time"].iloc[0])
    after = pr.all_orders[pr.all_orders["bar_time"] > halted_at]
    assert after.empty
    assert (_denials(pr)["reason"].str.startswith("halted")).sum() > 10
    assert pr.ledger.state()["risk_state"] == HALTED
    eq = pr.equity
    assert (1 - eq.loc[:eq.index[eq.index.asi8 == halted_at][0]].iloc[-1] / max(eq.max(), 1e5)) > 0.05


def test_reducing_state_lets_only_reducing_orders_through(tmp_path):
    bars = random_bars(5, T=80, N=1, missing=0)
    w = np.full((80, 1), np.nan)
    w[::2, 0] = 1.0
    w[1::2, 0] = 0.5
    cfg = BacktestConfig(fee_rate=0.02)
    pr = replay(bars, weights=w, config=cfg, risk=RiskLimits(max_daily_loss=0.001, on_breach="reducing"),
                ledger_dir=tmp_path)
    ev = pr.ledger.risk_events()
    assert list(ev.loc[ev["kind"] == "state", "state"]) == [REDUCING]
    t0 = int(ev.loc[ev["kind"] == "state", "bar_time"].iloc[0])
    # judged at the decision (the close): 1.0 -> 0.5 passes as a sale, 0.5 -> 1.0 is denied
    later = pr.all_orders[(pr.all_orders["bar_time"] > t0) & (pr.all_orders["leg"] == "target")]
    assert len(later) > 5 and (later["est_units"] <= 1e-9).all() and (later["est_units"] < 0).any()
    assert (_denials(pr)["reason"].str.startswith("reducing")).any()


def test_risk_state_survives_a_restart(tmp_path):
    bars = random_bars(4, T=120, N=1, missing=0)
    w = np.where(np.arange(120) % 2 == 0, 1.0, -1.0).reshape(-1, 1)
    cfg = BacktestConfig(fee_rate=0.01)
    first = replay(bars[:60], weights=w[:60], config=cfg, risk=RiskLimits(max_drawdown=0.05), ledger_dir=tmp_path)
    assert first.ledger.state()["risk_state"] == HALTED
    first.ledger.close()
    again = replay(bars, weights=w, config=cfg, risk=RiskLimits(max_drawdown=0.05), ledger_dir=tmp_path,
                   resume=True)
    assert again.ledger.state()["risk_state"] == HALTED
    assert again.all_orders["bar_time"].max() < bars.timestamps[60]  # nothing traded after the restart


def test_config_classes_reject_unknown_fields_and_bad_values():
    with pytest.raises(ParamError, match="did you mean 'max_weight'"):
        RiskLimits(max_wieght=0.5)
    with pytest.raises(ParamError, match="on_breach"):
        RiskLimits(on_breach="panic")
    cfg = PaperConfig(risk={"max_weight": 0.2})
    assert cfg.risk == RiskLimits(max_weight=0.2)
    assert PaperConfig.from_dict(cfg.to_dict()) == cfg
    assert PaperConfig().risk == RiskLimits()
