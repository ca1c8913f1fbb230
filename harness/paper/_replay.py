"""``replay()``: the real runner over stored bars, with a ``ReplayFeed`` and a ``SimBroker``.

Its arguments mirror :func:`harness.backtest`; it is the parity entry point: for any
bars, strategy or weights, params and config, ``replay(...).orders`` are the backtest's
orders (plus ``client_order_id`` and ``state``), and equity, cash and positions agree.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.engine.config import BacktestConfig
from market_data import Bars

__all__ = ["replay", "PaperResult"]

_DEFAULT = BacktestConfig()


@dataclass(frozen=True, eq=False)
class PaperResult:
    """What :func:`replay` returns: the ledger's view of the run.

    ``orders``: one row per fill, with the columns of ``BacktestResult.orders`` (time,
    symbol, side, size, price, fees, reason, idx) plus ``client_order_id`` and ``state``;
    ``equity``, ``cash`` (Series) and ``positions`` (DataFrame) per bar; ``ledger_path``
    (the scratch ledger, kept); ``ledger`` (the :class:`~harness.paper.Ledger`, open).
    """

    ledger_path: Path
    ledger: Any = field(repr=False)
    bars: Bars = field(repr=False)
    swaps: list = field(default_factory=list)
    #: what the deciders read from the feature store (``strategies.features.FeatureUsage``; None: no store given)
    feature_usage: Any = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def equity(self) -> pd.Series:
        return self.ledger.equity()

    @property
    def cash(self) -> pd.Series:
        return self.ledger.cash()

    @property
    def positions(self) -> pd.DataFrame:
        return self.ledger.positions()

    @property
    def orders(self) -> pd.DataFrame:
        if "orders" not in self._cache:
            f = self.ledger.fills()
            o = self.ledger.orders().set_index("client_order_id")
            idx = {int(t): i for i, t in enumerate(self.bars.timestamps)}
            self._cache["orders"] = pd.DataFrame({
                "time": f["time"], "symbol": f["symbol"].astype(object), "side": f["side"].astype(object),
                "size": f["size"].astype(float), "price": f["price"].astype(float), "fees": f["fees"].astype(float),
                "reason": f["reason"].astype(object),
                "idx": np.array([idx[int(t)] for t in f["bar_time"]], dtype=np.int64),
                "client_order_id": f["client_order_id"].astype(object),
                "state": o.loc[f["client_order_id"], "state"].to_numpy(dtype=object) if len(f) else
                np.empty(0, dtype=object)})
        return self._cache["orders"]

    @property
    def all_orders(self) -> pd.DataFrame:
        """Every order of the ledger (also those that never filled), with its state."""
        return self.ledger.orders()


def replay(bars: Bars, strategy: Any = None, params: Any = None, *, weights: Any = None,
           config: BacktestConfig = _DEFAULT, risk=None, deployment: str = "replay",
           ledger_dir: str | Path | None = None, schedule: list | None = None, broker=None,
           resume: bool = False, audit=None, features=None) -> PaperResult:
    """Run the paper runner over ``bars`` on a scratch ledger (see the module docstring).

    Exactly one of ``strategy`` / ``weights`` (as :func:`harness.backtest`). ``risk``: a
    :class:`~harness.paper.RiskLimits`. ``schedule``: champion swaps for a replay,
    ``[(from_time_ns, version, strategy_or_weights, params), ...]``. ``broker``: a broker
    wrapping the replay's SimBroker (a callable ``f(sim_broker) -> Broker``), for tests.
    ``resume``: continue the ledger and SimBroker book already in ``ledger_dir`` (a
    restart: applied bars are skipped, the books are reconciled first). ``features``: the
    bar store ``bars`` were read from; the deciders then read the features materialised
    from ``bars.snapshot_id`` where they exist (``result.feature_usage`` says what came
    from it), and compute them otherwise (same values).
    """
    from harness.engine.api import _resolve_strategy, prepare_weights
    from harness.errors import InputError
    from harness.paper._core import Runner
    from harness.paper._decide import FixedSource, WeightsDecider, WindowedDecider
    from harness.paper._feed import ReplayFeed
    from harness.paper._ledger import Ledger
    from harness.paper._sim import SimBroker

    if not isinstance(bars, Bars):
        raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
    if not isinstance(config, BacktestConfig):
        raise InputError(f"config must be a BacktestConfig, got {type(config).__name__}")
    if (strategy is None) == (weights is None):
        raise InputError("give exactly one of strategy= or weights=")
    if weights is not None and params is not None:
        raise InputError("params= needs strategy=; with weights= there is nothing to parametrise")

    def decider(strat, prm, w):
        if w is not None:
            return WeightsDecider(prepare_weights(bars, w, config), bars.timestamps)
        _resolve_strategy(strat, prm)  # validate early
        return WindowedDecider(strat, prm)

    base = decider(strategy, params, weights)
    sched = []
    for item in schedule or []:
        t0, version, what, prm = item
        is_w = isinstance(what, np.ndarray)
        sched.append((int(t0), str(version), decider(None if is_w else what, None if is_w else prm,
                                                     what if is_w else None)))
    folder = Path(ledger_dir) if ledger_dir is not None else Path(tempfile.mkdtemp(prefix="paper-replay-"))
    folder.mkdir(parents=True, exist_ok=True)
    lpath = folder / f"{deployment}.db"
    if lpath.exists() and not resume:
        raise InputError(f"replay needs a fresh ledger; {lpath} exists (resume=True continues it)")
    ledger = Ledger.create(lpath, deployment=deployment, symbols=bars.symbols, init_cash=config.init_cash,
                           config=config.to_dict())
    sim = SimBroker(bars.symbols, config=config, path=folder / f"{deployment}.broker.db", exclusive=True)
    try:
        brk = broker(sim) if broker is not None else sim
        runner = Runner(deployment=deployment, symbols=bars.symbols, frequency=bars.frequency, config=config,
                        broker=brk, ledger=ledger, source=FixedSource("1", base, sched), risk=risk,
                        audit=audit, features=features)
        with ledger.exclusive():  # a scratch ledger: nobody else reads it while the replay runs
            runner.run(ReplayFeed(bars))
    finally:
        sim.close()  # the book's lock goes with it (a resume reopens it)
    return PaperResult(ledger_path=lpath, ledger=ledger, bars=bars, swaps=runner.swaps,
                       feature_usage=None if features is None else runner.feature_usage)
