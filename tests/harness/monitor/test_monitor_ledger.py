"""Monitors over a paper ledger: quiet on a stable market, the right alerts on a changed one, tracking error."""

from __future__ import annotations

import pytest

from harness import BacktestConfig, backtest
from harness.monitor import ALERT, LedgerMonitor, MonitorConfig, alerts, status
from harness.paper import replay
from market_data.synthetic import Regime, regime_switching

PARAMS = {"fast": 10, "slow": 50}
QUIET = {"audit": False, "mlflow": False, "log": False}


def _holdout(bars):
    return backtest(bars[400:800], "sma_crossover", PARAMS).equity.pct_change().dropna().to_numpy()


@pytest.fixture(scope="module")
def stable():
    bars, _ = regime_switching(1100, regimes=(Regime(vol=0.01),), schedule=[(0, 0)], seed=3)
    return bars


@pytest.fixture(scope="module")
def shifted():
    # volatility triples when the paper trading starts (bar 800)
    bars, _ = regime_switching(1100, regimes=(Regime(vol=0.01), Regime(vol=0.03)), schedule=[(0, 0), (800, 1)],
                               seed=4)
    return bars


def _run(name, bars, tmp_path, **cfg):
    live = bars[800:]
    res = replay(live, "sma_crossover", PARAMS, ledger_dir=tmp_path / name)
    mon = LedgerMonitor(name, bars=bars, strategy="sma_crossover", params=PARAMS, train_end=bars.timestamps[799],
                        holdout_returns=_holdout(bars), monitor_config=MonitorConfig(**{**QUIET, **cfg}))
    return mon, res, mon.run(res.ledger)


def test_a_stable_synthetic_market_raises_no_alert(stable, tmp_path, harness_home):
    mon, res, new = _run("calm", stable, tmp_path)
    assert new == [] and alerts("calm") == []
    st = status("calm")
    assert st["evaluations"] == 300
    states = {(r["monitor"], r["metric"]): r["state"] for r in st["readings"]}
    assert states[("tracking_error", "equity")] == "ok"                 # SimBroker = backtest, exactly
    assert states[("feature_drift", "vol_20")] == "ok"


def test_a_volatility_shift_raises_feature_drift_on_volatility_once(shifted, tmp_path, harness_home):
    mon, res, new = _run("shock", shifted, tmp_path, remind_every=1000)
    raised = {(a.monitor, a.metric) for a in new if not a.reminder}
    assert ("feature_drift", "vol_20") in raised
    assert ("tracking_error", "equity") not in raised
    vol = [a for a in new if a.metric == "vol_20"]
    assert len(vol) == 1 and vol[0].severity == ALERT                    # de-duplicated: one per condition
    assert vol[0].time > shifted.timestamps[800]
    assert mon.run(res.ledger) == []                                     # nothing new on a second pass


def test_tracking_error_alerts_when_the_ledger_differs_from_the_backtest(stable, tmp_path, harness_home):
    live = stable[800:]
    res = replay(live, "sma_crossover", PARAMS, ledger_dir=tmp_path / "te")
    mon = LedgerMonitor("te", bars=stable, strategy="sma_crossover", params=PARAMS, train_end=stable.timestamps[799],
                        config=BacktestConfig(fee_rate=1e-4),  # not what the ledger traded
                        monitor_config=MonitorConfig(monitors=["tracking_error"], **QUIET))
    new = mon.run(res.ledger)
    assert [(a.metric, a.severity) for a in new if not a.reminder][:1] == [("equity", ALERT)]
    assert new[0].value > 0 and new[0].threshold == 0.0


def test_ledger_bars_outside_the_history_are_a_clear_error(stable, tmp_path, harness_home):
    from harness.errors import InputError

    res = replay(stable[800:], "sma_crossover", PARAMS, ledger_dir=tmp_path / "x")
    mon = LedgerMonitor("x", bars=stable[:900], strategy="sma_crossover", params=PARAMS,
                        train_end=stable.timestamps[799], monitor_config=MonitorConfig(**QUIET))
    with pytest.raises(InputError, match="not in the given history"):
        mon.run(res.ledger)
    with pytest.raises(InputError, match="training window"):
        LedgerMonitor("x", bars=stable, strategy="sma_crossover", params=PARAMS, train_end=0)
