"""``PaperRunner``: paper-trade a deployment's champion from the registry.

The champion's strategy code and config (from the registry), a ``SimBroker`` filling with
the engine's kernel (or any :class:`~harness.paper.Broker`), the home store as the feed
(:class:`~harness.paper.StoreFeed`) and the ledger ``<home>/paper/<deployment>.db``. The
champion is looked up again at each bar boundary (``swap_check_every`` seconds apart at
most): a promotion or rollback switches the runner to the new champion, keeping the
positions (audited ``paper_swap``). With ``shadow=True`` the current challenger runs on
the same bars into ``<home>/paper/<deployment>.shadow-v<N>.db`` with its own simulated
book and no orders to the broker: :func:`shadow_record` turns it into the gate's
``Shadow`` evidence.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.paper._core import Runner
from harness.paper._decide import History, StrategyDecider, WindowedDecider
from harness.paper._ledger import Ledger, ledger_path

__all__ = ["PaperRunner", "RegistrySource", "shadow_record", "champion", "lock_path", "runner_pid"]

ACTOR = "harness.paper"


def lock_path(deployment: str) -> Path:
    return ledger_path(deployment).with_suffix(".lock")


def runner_pid(deployment: str) -> int | None:
    """The pid of the live runner of ``deployment`` (None when no runner holds its lock)."""
    p = lock_path(deployment)
    if not p.exists():
        return None
    with open(p, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def champion(registry, deployment: str, alias: str = "champion"):
    """The version behind ``alias``; no champion is a :class:`~harness.errors.NoChampionError`."""
    from harness.errors import NoChampionError, UnknownAliasError

    registry.deployment(deployment)  # an unknown deployment: UnknownDeploymentError
    try:
        return registry.get(deployment, alias)
    except UnknownAliasError:
        if alias != "champion":
            return None
        raise NoChampionError(f"deployment {deployment!r} has no champion yet; run `harness deploy` (the gate "
                              "promotes its first version) before paper-trading it") from None


def _decider(deployed):
    """Bounded-cost decisions for a loaded version (exactly its ``target_weights``)."""
    if deployed.model is not None:
        model = deployed.model

        class _Model:
            name = deployed.version.strategy

            def row(self, hist: History) -> np.ndarray:
                start = max(0, hist.n - model.window)
                return np.asarray(deployed.target_weights(hist.bars(start)))[-1]

        return _Model()
    v = deployed.version
    try:
        return WindowedDecider(v.strategy, v.params)
    except Exception:  # noqa: BLE001 - a strategy the resolver does not know: use the loaded object
        return StrategyDecider(deployed.strategy, deployed.params, target_weights=deployed.target_weights)


class RegistrySource:
    """The champion (or another alias) of a deployment, re-read at bar boundaries."""

    def __init__(self, registry, deployment: str, *, alias: str = "champion", check_every: float = 0.0,
                 config=None, symbols=None) -> None:
        self.registry = registry
        self.deployment = deployment
        self.alias = alias
        self.check_every = float(check_every)
        self.config = config
        self.symbols = tuple(symbols) if symbols is not None else None
        self._checked = -float("inf")
        self._version = None
        self._deciders: dict[int, Any] = {}
        self.problem: str | None = None

    def version(self):
        now = time.monotonic()
        if self._version is None or now - self._checked >= self.check_every:
            self._version = champion(self.registry, self.deployment, self.alias)
            self._checked = now
        return self._version

    def current(self, bar_time: int):
        v = self.version()
        if v is None:
            return None, None
        if v.version not in self._deciders:
            if self.config is not None and v.config.fill_params() != self.config.fill_params():
                self.problem = (f"v{v.version} of {self.deployment} fills with another config "
                                f"({v.config.to_dict()}) than this ledger's SimBroker; start a new ledger to trade it")
            elif self.symbols is not None and tuple(v.symbols) != self.symbols:
                self.problem = f"v{v.version} of {self.deployment} trades {list(v.symbols)}, not {list(self.symbols)}"
            else:
                self.problem = None
            self._deciders[v.version] = _decider(self.registry.load(self.deployment, v.version))
        return str(v.version), self._deciders[v.version]


def _spec_tables(deployment: str):
    """``[paper]`` and ``[paper.risk]`` of the deployment's stored spec (defaults when absent)."""
    from harness.paper._risk import PaperConfig, RiskLimits

    try:
        from harness.deploy import resolve

        spec = resolve(deployment)
        return spec.paper or PaperConfig(), spec.paper_risk or (spec.paper.risk if spec.paper else RiskLimits())
    except Exception:  # noqa: BLE001 - a spec that cannot be resolved here: the defaults
        return PaperConfig(), RiskLimits()


class PaperRunner:
    """Paper-trade ``deployment``'s champion (see the module docstring).

    ``broker``: a :class:`~harness.paper.Broker` (default: a ``SimBroker`` with the
    champion's config, its book beside the ledger). ``feed``: an iterable of bars
    (default: a :class:`~harness.paper.StoreFeed` on the home store). ``ledger``: a
    :class:`Ledger` or a path (default ``<home>/paper/<deployment>.db``). ``risk``:
    :class:`~harness.paper.RiskLimits` (default: the spec's ``[paper.risk]``).
    ``features``: the bar store whose materialised features the champion's decisions
    read when the history is one stored snapshot's rows (a replay of stored bars;
    default: the home store; False: always compute). Live bars arriving in new
    snapshots are decided on features computed on the fly (the same values).
    """

    def __init__(self, deployment: str, *, broker=None, feed=None, ledger=None, risk=None, registry=None,
                 config=None, shadow: bool = False, swap_check_every: float | None = None,
                 digest_every: int | None = None, audit: bool = True, features=None) -> None:
        from harness.engine.config import BacktestConfig  # noqa: F401
        from harness.paper._sim import SimBroker
        from harness.registry import Registry

        self.deployment = deployment
        self.registry = registry if registry is not None else Registry.open()
        self.champion = champion(self.registry, deployment)
        paper_cfg, spec_risk = _spec_tables(deployment)
        self.paper_config = config or paper_cfg
        self.risk_limits = risk if risk is not None else spec_risk
        v = self.champion
        self.symbols = tuple(v.symbols)
        self.frequency = v.frequency
        self.config = v.config
        if isinstance(ledger, Ledger):
            self.ledger = ledger
        else:
            path = Path(ledger) if ledger is not None else ledger_path(deployment)
            self.ledger = Ledger.create(path, deployment=deployment, symbols=self.symbols,
                                        init_cash=self.config.init_cash, config=self.config.to_dict())
        self.broker = broker if broker is not None else SimBroker(
            self.symbols, config=self.config, path=self.ledger.path.with_suffix(".broker.db"))
        if feed is None:
            from harness.paper._feed import StoreFeed

            first = self.ledger._db.execute("SELECT MIN(bar_time) FROM bars").fetchone()[0]
            feed = StoreFeed(self.symbols, frequency=self.frequency, start=first,
                             poll_interval=self.paper_config.poll_interval, stale_after=self.paper_config.stale_after,
                             on_event=self._feed_event)
        self.feed = feed
        if hasattr(feed, "on_poll"):
            feed.on_poll = self._on_poll
        hist = History(self.symbols, self.frequency)
        if getattr(feed, "history", None) is not None:
            hist.extend(feed.history)
        check = self.paper_config.poll_interval if swap_check_every is None else swap_check_every
        self.source = RegistrySource(self.registry, deployment, check_every=check, config=self.config,
                                     symbols=self.symbols)
        self._audit_on = audit
        if features is None:
            from harness._bars import home_store_if_any

            features = home_store_if_any()
        self.features = features or None
        self.core = Runner(deployment=deployment, symbols=self.symbols, frequency=self.frequency, config=self.config,
                           broker=self.broker, ledger=self.ledger, source=self.source, risk=self.risk_limits,
                           audit=self._audit if audit else None,
                           digest_every=digest_every or self.paper_config.digest_every, history=hist,
                           features=self.features)
        self.shadow = shadow or self.paper_config.shadow
        self._shadow_runs: dict[str, Runner] = {}
        self._shadow_hist_src = feed.history if getattr(feed, "history", None) is not None else None
        self._lock = None
        self._challenger: Any = False
        self._challenger_at = -float("inf")

    # ----------------------------------------------------------------- plumbing
    def _audit(self, kind: str, payload: dict) -> None:
        from harness import audit

        audit.append(kind, actor=ACTOR, deployment=self.deployment, payload=payload)

    def _feed_event(self, kind: str, message: str, bar_time: int | None) -> None:
        self.ledger.record(alerts=[{"bar_time": bar_time, "kind": kind, "message": message}])

    def _on_poll(self) -> None:
        self.core.apply_control()
        if self.core.stop_requested:
            self.stop()

    @property
    def state(self) -> str:
        return self.core.state

    def stop(self) -> None:
        """A clean stop after the current bar."""
        self.core.stop_requested = True
        stop = getattr(self.feed, "stop", None)
        if stop is not None:
            stop()

    def _acquire(self) -> None:
        from harness.errors import RunnerBusyError

        p = lock_path(self.deployment)
        p.parent.mkdir(parents=True, exist_ok=True)
        fh = open(p, "a+")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip()
            fh.close()
            raise RunnerBusyError(f"a paper runner of {self.deployment!r} is already running (pid {pid or '?'}, "
                                  f"lock {p}); stop it with `harness paper stop {self.deployment}`") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh
        self.ledger.sole_writer = True  # the lock keeps every other runner, the only writer of bars, out

    def _release(self) -> None:
        self.ledger.sole_writer = False
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    # ----------------------------------------------------------------- shadow
    def _shadow_step(self, bar) -> None:
        from harness.paper._sim import SimBroker

        now = time.monotonic()
        if now - self._challenger_at >= self.source.check_every or self._challenger is False:
            try:
                self._challenger = champion(self.registry, self.deployment, "challenger")
            except Exception:  # noqa: BLE001 - the shadow never stops the champion
                self._challenger = None
            self._challenger_at = now
        v = self._challenger
        if v is None or v.version == self.champion.version:
            return
        key = str(v.version)
        run = self._shadow_runs.get(key)
        if run is None:
            path = shadow_path(self.deployment, v.version)
            led = Ledger.create(path, deployment=self.deployment, symbols=self.symbols, init_cash=v.config.init_cash,
                                config={**v.config.to_dict(), "shadow_of": v.version})
            hist = History(self.symbols, self.frequency)
            for t in range(self.core.hist.n - 1):  # the history up to the previous bar
                hist.append(_row(self.core.hist, t))
            hist.snapshot_id = self.core.hist.snapshot_id  # the same rows
            src = RegistrySource(self.registry, self.deployment, alias="challenger", check_every=3600.0,
                                 config=v.config, symbols=self.symbols)
            run = Runner(deployment=self.deployment, symbols=self.symbols, frequency=self.frequency, config=v.config,
                         broker=SimBroker(self.symbols, config=v.config, path=path.with_suffix(".broker.db"),
                                          name="shadow"),
                         ledger=led, source=src, risk=None, audit=None, history=hist, features=self.features)
            self._shadow_runs[key] = run
        run.process(bar)

    # ----------------------------------------------------------------- loop
    def run(self, *, max_bars: int | None = None, on_bar=None) -> int:
        """Process bars until the feed ends, :meth:`stop` is called, SIGTERM arrives or ``max_bars``."""
        self._acquire()
        old = signal.getsignal(signal.SIGTERM)
        installed = False
        try:
            try:
                signal.signal(signal.SIGTERM, lambda *_: self.stop())
                installed = True
            except ValueError:  # not the main thread
                pass
            if self._audit_on:
                self._audit("paper_started", {"version": self.champion.version, "ledger": str(self.ledger.path),
                                              "broker": type(self.broker).__name__, "shadow": self.shadow})
            applied = 0
            for bar in self.feed:
                res = self.core.process(bar)
                if self.shadow and not res.skipped:
                    self._shadow_step(bar)
                if not res.skipped:
                    applied += 1
                if on_bar is not None:
                    on_bar(res)
                if self.core.stop_requested or (max_bars is not None and applied >= max_bars):
                    break
            # a request made just before a stop (halt, then stop) is carried out, never dropped
            self.core.apply_control()
            if self._audit_on:
                self._audit("paper_stopped", {"bars": applied, "last_time": self.core.last_time,
                                              "state": self.core.state, "digest": self.ledger.digest()})
            return applied
        finally:
            if installed:
                signal.signal(signal.SIGTERM, old)
            self._release()

    def close(self) -> None:
        self.ledger.close()
        self.broker.close()
        for r in self._shadow_runs.values():
            r.ledger.close()
            r.broker.close()


def _row(hist: History, t: int):
    from harness.paper._broker import Bar

    f = hist.fields
    return Bar(time=int(hist.ts[t]), symbols=hist.symbols, open=f["open"][t], high=f["high"][t], low=f["low"][t],
               close=f["close"][t], volume=f["volume"][t])


def shadow_path(deployment: str, version: int) -> Path:
    return ledger_path(deployment).with_name(f"{deployment}.shadow-v{int(version)}.db")


def shadow_record(deployment: str, version: int | None = None, *, registry=None):
    """The gate's ``Shadow`` evidence for the challenger's shadow run.

    ``returns``: the shadow ledger's per-bar returns; ``expected_returns``: a backtest of
    the same version on the same bars (its weights computed on the whole stored history,
    as the shadow runner saw it); ``timestamps`` and the shadow ledger's digest.
    """
    from harness import backtest
    from harness._bars import load_bars
    from harness.errors import LedgerError
    from harness.gate import Shadow
    from harness.registry import Registry

    reg = registry if registry is not None else Registry.open()
    if version is None:
        v = champion(reg, deployment, "challenger")
        if v is None:
            raise LedgerError(f"deployment {deployment!r} has no challenger, so no shadow run")
        version = v.version
    path = shadow_path(deployment, version)
    led = Ledger(path, deployment=deployment)
    try:
        eq = led.equity()
        init = float(led.meta["init_cash"])
        digest = led.digest()
    finally:
        led.close()
    ts = eq.index.asi8.astype(np.int64)
    values = eq.to_numpy(dtype=float)
    prev = np.concatenate([[init], values[:-1]]) if values.size else values
    returns = values / prev - 1.0
    deployed = reg.load(deployment, version)
    v = deployed.version
    if ts.size:
        bars_all = load_bars(list(v.symbols), end=int(ts[-1]), frequency=v.frequency)
        w = deployed.target_weights(bars_all)
        first = int(np.searchsorted(bars_all.timestamps, ts[0]))
        bars = bars_all[first:]
        bt = backtest(bars, weights=w[first:], config=v.config)
        expected = bt.equity.to_numpy() / np.concatenate([[v.config.init_cash], bt.equity.to_numpy()[:-1]]) - 1.0
        if bars.n_bars != ts.size:
            expected = np.interp(ts, bars.timestamps, expected)  # pragma: no cover - the same bars
    else:
        expected = returns
    return Shadow(returns=returns, expected_returns=expected, timestamps=ts, ledger_digest=digest)
