"""``LedgerMonitor.run`` after every bar (as ``harness watch`` calls it): the same alerts and
readings as one run over the finished ledger, each ledger row read once, no read between
evaluations, the backtest behind the tracking error extended rather than rerun, and a
longer history taken over without losing the rows read."""

from __future__ import annotations

import numpy as np
import pytest

from harness import BacktestConfig, backtest
from harness.errors import InputError
from harness.monitor import LedgerMonitor, MonitorConfig, alerts, status
from market_data import Bars

PARAMS = {"fast": 10, "slow": 50}
QUIET = {"audit": False, "mlflow": False, "log": False}
MIN = 60_000_000_000
HIST = 3000
LIVE = 3 * 1440 + 200  # three UTC day boundaries and a bit


def minute_bars(T: int, seed: int, shift_at: int | None = None) -> Bars:
    rng = np.random.default_rng(seed)
    vol = np.full((T, 1), 0.001)
    if shift_at is not None:
        vol[shift_at:] = 0.003  # the volatility triples when the paper trading starts
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1, (T, 1)) * vol, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.0003, (T, 1)))
    return Bars(timestamps=np.arange(T, dtype=np.int64) * MIN + 1_600_000_000 * 1_000_000_000, symbols=("S0",),
                open=open_, high=np.fmax(open_, close) * 1.0005, low=np.fmin(open_, close) * 0.9995, close=close,
                volume=np.full((T, 1), 1e4), frequency="1min")


@pytest.fixture(scope="module")
def shifted():
    return minute_bars(HIST + LIVE, seed=5, shift_at=HIST)


class CountingLedger:
    """Test double: the ledger, counting what the monitor asks of it."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.reads: list[tuple] = []
        self.latest_calls = 0

    def latest_bar_time(self):
        self.latest_calls += 1
        return self.ledger.latest_bar_time()

    def equity_rows(self, after=None):
        times, equity = self.ledger.equity_rows(after=after)
        self.reads.append((after, times.size))
        return times, equity


def _monitor(name, bars, **cfg):
    hold = backtest(bars[HIST // 2:HIST], "sma_crossover", PARAMS).equity.pct_change().dropna().to_numpy()
    return LedgerMonitor(name, bars=bars, strategy="sma_crossover", params=PARAMS,
                         train_end=bars.timestamps[HIST - 1], holdout_returns=hold,
                         monitor_config=MonitorConfig(**{**QUIET, **cfg}))


def _live_run(bars, folder, on_bar, *, sole_writer: bool):
    """The paper runner over the live bars, ``on_bar`` after each (as ``harness watch``)."""
    from harness.paper import Ledger, SimBroker
    from harness.paper._core import Runner
    from harness.paper._decide import FixedSource, WindowedDecider
    from harness.paper._feed import ReplayFeed

    live = bars[HIST:]
    led = Ledger.create(folder / "l.db", deployment="inc", symbols=live.symbols, init_cash=100_000.0)
    led.sole_writer = sole_writer
    sim = SimBroker(live.symbols, config=BacktestConfig(), path=folder / "l.broker.db")
    run = Runner(deployment="inc", symbols=live.symbols, frequency=live.frequency, config=BacktestConfig(),
                 broker=sim, ledger=led, source=FixedSource("1", WindowedDecider("sma_crossover", PARAMS)))
    run.run(ReplayFeed(live), on_bar=lambda res: on_bar(led))
    sim.close()
    return led


def _key(a):
    return (a.monitor, a.metric, a.severity, a.time, a.reminder, a.value)


@pytest.mark.parametrize("sole_writer", [True, False], ids=["runner-ledger", "reader"])
def test_run_after_every_bar_matches_one_run_over_the_finished_ledger(shifted, tmp_path, harness_home, sole_writer):
    inc = _monitor("inc", shifted, remind_every=1000)
    spy: list[CountingLedger] = []
    per_bar: list = []

    def on_bar(led):
        if not spy:
            spy.append(CountingLedger(led))
        per_bar.extend(inc.run(spy[0]))

    led = _live_run(shifted, tmp_path, on_bar, sole_writer=sole_writer)
    once = _monitor("once", shifted, remind_every=1000)
    whole = once.run(led)
    assert inc.monitor.evaluations == once.monitor.evaluations == 4  # the first bar, then each UTC day
    assert [_key(a) for a in per_bar] == [_key(a) for a in whole]
    assert ("feature_drift", "vol_20") in {(a.monitor, a.metric) for a in whole}  # the comparison has content
    assert [_key(a) for a in alerts("inc")] == [_key(a) for a in alerts("once")]
    assert status("inc")["readings"] == status("once")["readings"]
    # every ledger row up to the last evaluated bar read once, in order, and only when an
    # evaluation could be due (the rows after it wait for the next one)
    reads = spy[0].reads
    last_eval = int(np.searchsorted(shifted.timestamps, status("inc")["time"])) - HIST
    assert 0 < last_eval < LIVE - 1 and sum(n for _, n in reads) == last_eval + 1
    assert len(reads) == inc.monitor.evaluations
    afters = [a for a, _ in reads]
    assert afters[0] is None and all(x < y for x, y in zip(afters[1:-1], afters[2:], strict=True))
    assert spy[0].latest_calls == LIVE
    assert inc.run(spy[0]) == [] and len(spy[0].reads) == len(reads)  # nothing new: no read


def test_every_n_bars_reads_each_new_row_once_and_evaluates_on_schedule(shifted, tmp_path, harness_home):
    inc = _monitor("inc5", shifted, every=500)
    spy: list[CountingLedger] = []

    def on_bar(led):
        if not spy:
            spy.append(CountingLedger(led))
        inc.run(spy[0])

    led = _live_run(shifted, tmp_path, on_bar, sole_writer=True)
    assert inc.monitor.evaluations == -(-LIVE // 500)
    assert sum(n for _, n in spy[0].reads) == led.n_bars()
    once = _monitor("once5", shifted, every=500)
    once.run(led)
    assert status("inc5")["readings"] == status("once5")["readings"]


def test_the_tracking_backtest_grows_by_doubling_and_matches_the_exact_span(shifted, tmp_path, harness_home,
                                                                              monkeypatch):
    import harness.engine as engine

    spans: list[int] = []
    real = engine.backtest

    def counting(bars, *a, **k):
        spans.append(bars.shape[0])
        return real(bars, *a, **k)

    monkeypatch.setattr(engine, "backtest", counting)
    inc = _monitor("te", shifted, every=60, monitors=["tracking_error"])
    _live_run(shifted, tmp_path, lambda led: inc.run(led), sole_writer=True)
    evaluations = inc.monitor.evaluations
    assert evaluations == -(-LIVE // 60)
    assert len(spans) <= 1 + int(np.ceil(np.log2(LIVE / 256)))  # doubled, not rerun per evaluation
    exact = real(shifted[HIST:], "sma_crossover", PARAMS).equity.to_numpy()
    assert np.array_equal(inc._bt_equity[:LIVE], exact)
    st = status("te")
    assert [(r["monitor"], r["state"], r["value"]) for r in st["readings"]] == [("tracking_error", "ok", 0.0)]


def test_a_backtest_that_rewrites_its_past_falls_back_to_exact_spans(shifted, tmp_path, harness_home, monkeypatch):
    """Look-ahead: a longer span changes earlier bars; the monitor then backtests exactly the
    ledger's bars at each evaluation, as it would have without the cache."""
    import harness.engine as engine

    real = engine.backtest
    spans: list[int] = []

    class Peeking:
        def __init__(self, res, n):
            self.equity = res.equity * (1.0 + 1e-6 * n)  # depends on the span's length

    def peeking(bars, *a, **k):
        spans.append(bars.shape[0])
        return Peeking(real(bars, *a, **k), bars.shape[0])

    monkeypatch.setattr(engine, "backtest", peeking)
    inc = _monitor("peek", shifted, every=1000, monitors=["tracking_error"])
    _live_run(shifted, tmp_path, lambda led: inc.run(led), sole_writer=True)
    assert inc._bt_exact
    # after the fallback every evaluation backtests exactly the bars up to it
    n_eval = inc.monitor.evaluations
    assert spans[-1] == (n_eval - 1) * 1000 + 1
    assert status("peek")["readings"][0]["state"] == "alert"


def test_extend_takes_a_longer_history_and_keeps_the_rows_read(shifted, tmp_path, harness_home):
    """A live watch reloads its bars each poll: the monitor continues on the longer history."""
    from harness.paper import replay

    first = HIST + 1500
    res1 = replay(shifted[HIST:first], "sma_crossover", PARAMS, ledger_dir=tmp_path / "x")
    ext = _monitor("ext", shifted[:first], every=250, remind_every=1000)
    got = ext.run(res1.ledger)
    res1.ledger.close()
    res2 = replay(shifted[HIST:], "sma_crossover", PARAMS, ledger_dir=tmp_path / "x", resume=True)
    short = _monitor("short", shifted[:first], every=250)
    with pytest.raises(InputError, match="not in the given history"):
        short.run(res2.ledger)  # without extend: the ledger now holds bars past this history
    ext.extend(shifted)
    got += ext.run(res2.ledger)
    full = _monitor("full", shifted, every=250, remind_every=1000)
    want = full.run(res2.ledger)
    assert ext.monitor.evaluations == full.monitor.evaluations == -(-LIVE // 250)
    assert [_key(a) for a in got] == [_key(a) for a in want] and want
    assert status("ext")["readings"] == status("full")["readings"]
    with pytest.raises(InputError, match="does not start with the bars"):
        ext.extend(minute_bars(HIST + LIVE, seed=99))
    with pytest.raises(InputError, match="does not start with the bars"):
        ext.extend(shifted[:first])
