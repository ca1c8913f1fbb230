"""``harness watch``: the live column of one deployment, in one supervised process.

Per bar of the deployment's data in the home store, in time order:

1. the paper runner trades the bar with the current champion (``PaperRunner``: the same
   strategy code and fill kernel as the backtest, its crash-safe ledger, risk states);
2. the detector (its streaming state persisted in ``<home>/deployments/<name>/``) sees
   the bar's close; when the trigger policy fires, or ``[retrain] max_age`` has passed,
   the trigger is written to the state's outbox (``pending``) and a retrain runs in a
   **separate process** (``harness retrain NAME --until <bar>``): re-optimise or re-fit
   on the window that ends at the trigger bar, register candidates, hand the best to the
   gate, which promotes at once in ``auto`` mode or waits for ``harness approve`` in
   ``governed`` mode;
3. the runner checks the registry's champion at every bar boundary and swaps to a new
   one keeping positions (audited ``paper_swap``);
4. the monitors step over the ledger on their schedule (alerts to the audit trail, the
   alert file and the configured sinks); with ``[retrain] retrain_on = ["drift"]`` and/or
   ``"performance"``, such an alert (severity alert, not a reminder) is a trigger too,
   under the same cooldown as the detector's, counted from the last retrain.

Replay (``until``): the clock waits for each retrain, so a promotion takes effect at the
first bar after the trigger bar whatever the retrain's wall time; replays are
deterministic and comparable across kills. Live (no ``until``): the retrain runs beside
the trading, which goes on with the champion, and a promotion takes effect at the first
bar after it. At most one retrain per deployment runs at a time (the retrain lock).

Restarts resume everything: the ledger skips bars already applied; the detector skips
bars it has seen; a trigger left in the outbox (a retrain that crashed or was killed) is
retried, never repeated once it completed. A retrain child that fails is reported,
audited (``watch_child_failed``) and retried with back-off; the watcher does not die.
SIGTERM stops it cleanly after the current bar.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError

__all__ = ["watch", "Watcher", "WatchResult", "ACTOR", "status_rows"]

ACTOR = "harness.watch"
#: Back-off between attempts of a failed retrain child (seconds); live, the last one repeats.
BACKOFF_S = (1.0, 4.0, 15.0)
#: A replay gives up after this many failed attempts of one trigger's retrain (the trigger
#: stays in the outbox, so the next ``harness watch`` retries it).
REPLAY_ATTEMPTS = 4


def _fmt(ns: int | None) -> str:
    if ns is None:
        return "-"
    from market_data.bars import _fmt_ts

    return _fmt_ts(int(ns))


@dataclass
class WatchResult:
    """What one ``watch`` run did."""

    deployment: str
    bars: int = 0
    first_time: int | None = None
    last_time: int | None = None
    retrains: list[dict] = field(default_factory=list)  # one per trigger handled: time, reason, outcome...
    swaps: list[dict] = field(default_factory=list)  # bar time and versions of each champion swap
    alerts: list[Any] = field(default_factory=list)
    state: str = "ACTIVE"
    failures: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        if self.state == "NO_CHAMPION":
            return (f"{self.deployment}: up to {_fmt(self.last_time)}, {len(self.retrains)} retrains and no promotion: "
                    "the gate refused every candidate, so the baseline stays and nothing is paper-traded yet")
        return (f"{self.deployment}: {self.bars} bars {_fmt(self.first_time)} .. {_fmt(self.last_time)}, "
                f"{len(self.retrains)} retrains, {len(self.swaps)} swaps, {len(self.alerts)} alerts, "
                f"runner {self.state}")


class _DrivenFeed:
    """The runner's feed: one bar at a time; after each one the watcher's own step runs."""

    def __init__(self, watcher: Watcher, bars, start: int, history) -> None:
        self.watcher = watcher
        self.bars = bars
        self.start = start
        self.history = history
        self.symbols = tuple(bars.symbols)
        self.frequency = bars.frequency
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def __iter__(self) -> Iterator[Any]:
        from harness.paper._feed import bars_rows

        for i, bar in enumerate(bars_rows(self.bars, self.start), self.start):
            if self._stop:
                return
            yield bar  # the runner trades it with the champion of now
            self.watcher._after_bar(i)


class Watcher:
    """Supervises one deployment's live column (see the module docstring)."""

    def __init__(self, name: str, *, until: Any = None, registry: Any = None,
                 echo: Callable[[str], None] | None = None, retrain_timeout: float | None = None,
                 monitors: bool = True) -> None:
        from harness.deploy import resolve
        from harness.registry import Registry

        self.registry = registry if registry is not None else Registry.open()
        self.spec = resolve(name)
        self.name = self.spec.name
        self.registry.deployment(self.name)  # unknown deployment: a clear error
        self.until = None if until is None else _ns(until)
        self.echo = echo or (lambda _msg: None)
        self.retrain_timeout = retrain_timeout
        self.monitors_on = monitors
        self.result = WatchResult(deployment=self.name)
        self._state = None
        self._bars = None
        self._runner = None
        self._monitor = None
        self._monitor_version = None
        self._fail_count = 0
        self._retry_at = 0.0
        self._child: subprocess.Popen | None = None
        self._stop = threading.Event()  # stop(): after the current bar, or at once between polls

    # ------------------------------------------------------------------ setup
    def _load(self):
        from harness._bars import load_bars

        d = self.spec.data
        end = d.end
        bars = load_bars(self.spec.symbols, start=d.start, end=end, frequency=d.frequency)
        if self.until is not None:
            bars = bars.between(None, self.until)
        return bars

    def _watch_file(self) -> Path:
        from harness.retrain import deployment_dir

        return deployment_dir(self.name) / "watch.json"

    def _has_champion(self) -> bool:
        try:
            self.registry.get(self.name, "champion")
        except InputError:
            return False
        return True

    def _baseline_phase(self, bars) -> None:
        """Before the first promotion the baseline is the champion the gate compares with; it is
        not traded: the detector and the retrains run bar by bar until the gate promotes a first
        version, and the paper runner starts at the bar after that."""
        last = self._state.last_time
        i0 = 0 if last is None else int(np.searchsorted(bars.timestamps, last, "right"))
        for i in range(i0, bars.n_bars):
            self._after_bar(i)
            if self._has_champion():
                self.echo(f"{_fmt(int(bars.timestamps[i]))}  first champion promoted: the paper runner starts "
                          "at the next bar")
                return

    def _live_start(self, bars) -> int:
        """The first bar the paper runner trades: the first one after the detector's state when
        the runner first started (recorded, so restarts agree)."""
        path = self._watch_file()
        if path.exists():
            try:
                rec = json.loads(path.read_text())
                start_ns = int(rec["live_after"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path} is unreadable ({exc}); it records where {self.name!r} started trading: "
                                 "restore it, or remove it together with the paper ledger to start over") from None
        else:
            start_ns = int(self._state.last_time)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"live_after": start_ns, "live_after_time": _fmt(start_ns)}))
            os.replace(tmp, path)
        return int(np.searchsorted(bars.timestamps, start_ns, "right"))

    # ------------------------------------------------------------------ loop
    def run(self, *, once: bool = False, poll_interval: float = 5.0) -> WatchResult:
        """Process bars until ``until``, or (``once``) what is new now, or (live) until stopped."""
        from harness import audit
        from harness.paper import PaperRunner
        from harness.retrain import DetectorState

        audit.append("watch_started", actor=ACTOR, deployment=self.name,
                     payload={"until": _fmt(self.until) if self.until else None, "once": once, "pid": os.getpid()})
        stopped = False
        old_term, installed = signal.getsignal(signal.SIGTERM), False
        try:
            try:  # SIGTERM between polls stops too (the paper runner handles it while it trades)
                signal.signal(signal.SIGTERM, lambda *_: self.stop())
                installed = True
            except ValueError:  # not the main thread
                pass
            while not self._stop.is_set():
                bars = self._load()
                self._bars = bars
                self._state = DetectorState.load(self.name)
                self._state.check_matches(self.spec, _state_path(self.name))
                if self._state.pending is not None:  # a retrain of a trigger handled before a crash
                    self._retrain(int(self._state.pending.get("trigger", {}).get("timestamp", bars.timestamps[-1])),
                                  resumed=True)
                if not self._has_champion():
                    self._baseline_phase(bars)
                if not self._has_champion():  # every bar seen, the gate has promoted nothing yet
                    self.result.state = "NO_CHAMPION"
                    if bars.n_bars:
                        self.result.last_time = int(bars.timestamps[-1])
                    if once or self.until is not None:
                        break
                    self._stop.wait(poll_interval)
                    continue
                start = self._live_start(bars)
                history = bars[:start] if start > 0 else None
                feed = _DrivenFeed(self, bars, start, history)
                self._runner = PaperRunner(self.name, feed=feed, registry=self.registry,
                                           swap_check_every=0.0 if self.until is not None else None)
                if self._stop.is_set():  # stop() while this poll loaded its bars
                    self._runner.stop()
                try:
                    applied = self._runner.run()
                    stopped = self._runner.core.stop_requested or self._stop.is_set()
                    self.result.state = self._runner.state
                    self.result.swaps.extend(self._runner.core.swaps)
                finally:
                    self._runner.close()
                self.result.bars += applied
                self._catch_up(bars)
                if self.result.first_time is None and bars.n_bars > start:
                    self.result.first_time = int(bars.timestamps[start])
                if bars.n_bars:
                    self.result.last_time = int(bars.timestamps[-1])
                if once or stopped or self.until is not None:
                    break
                self._stop.wait(poll_interval)  # live: wait for the feed's next commit (or a stop)
        finally:
            if installed:
                signal.signal(signal.SIGTERM, old_term)
            self._wait_child()
            audit.append("watch_stopped", actor=ACTOR, deployment=self.name,
                         payload={"bars": self.result.bars, "retrains": len(self.result.retrains),
                                  "swaps": len(self.result.swaps), "state": self.result.state,
                                  "last_time": _fmt(self.result.last_time)})
        return self.result

    def stop(self) -> None:
        """Stop after the current bar (from another thread or a signal handler); between polls, at once."""
        self._stop.set()
        if self._runner is not None:
            self._runner.stop()

    def _catch_up(self, bars) -> None:
        """Bars the runner skipped as already applied (a restart) still reach the detector."""
        if self._state is not None and bars.n_bars and (self._state.last_time or -1) < int(bars.timestamps[-1]):
            self._after_bar(bars.n_bars - 1)

    def _after_bar(self, i: int) -> None:
        """The detector, the trigger policy and (on a trigger) the retrain, after bar ``i``."""
        from harness.retrain._flow import _max_age_due

        bars = self._bars
        state = self._state
        t = int(bars.timestamps[i])
        if state.last_time is not None and t <= state.last_time and state.pending is None:
            self._step_monitors()
            return
        prefix = bars[: i + 1]
        events = state.feed(prefix)
        if state.pending is None:
            trig = None
            if events:
                ev = events[-1]
                trig = {"reason": "regime_change", "trigger": {
                    "bar": ev.bar, "since": ev.since, "from_label": ev.from_label, "to_label": ev.to_label,
                    "volatility": ev.volatility, "timestamp": ev.timestamp, "kind": ev.kind,
                    "detector_digest": state.digest(),
                    "events_since_last_check": len(events)}}
            elif _max_age_due(self.spec, state, prefix):
                trig = {"reason": "max_age", "trigger": {"timestamp": t, "max_age": str(self.spec.retrain.max_age),
                                                         "last_retrain": _fmt(state.last_retrain_time)}}
            if trig is not None:
                state.pending = trig
        state.save()
        if state.pending is not None:
            self._retrain(t)
        self._alert_trigger(self._step_monitors(), i)

    def _alert_trigger(self, alerts: list, i: int) -> None:
        """``[retrain] retrain_on``: a drift or performance alert at bar ``i`` triggers a retrain
        (reason ``drift`` / ``performance``), under the trigger policy's cooldown counted from the
        last retrain of any reason. Warnings, reminders, data quality and tracking error never do."""
        from harness.monitor import retrain_alerts, retrain_reason

        retrain_on = [r for r in (self.spec.retrain.retrain_on or ()) if r != "regime"]
        state = self._state
        if not alerts or not retrain_on or state is None or state.pending is not None:
            return
        hits = retrain_alerts(alerts, retrain_on)
        if not hits:
            return
        ts = self._bars.timestamps
        t = int(ts[i])
        cooldown = int(self.spec.trigger_policy().cooldown)
        if state.last_retrain_time is not None:
            since = i - int(np.searchsorted(ts, state.last_retrain_time, "left"))
            if since < cooldown:
                self.echo(f"{_fmt(t)}  {hits[0].monitor}.{hits[0].metric} alert: no retrain, {since} bar(s) since "
                          f"the last one (cooldown {cooldown})")
                return
        a = hits[0]
        state.pending = {"reason": retrain_reason(a), "trigger": {
            "timestamp": t, "monitor": a.monitor, "metric": a.metric, "value": a.to_dict()["value"],
            "threshold": a.threshold, "alerts": [f"{x.monitor}.{x.metric}" for x in hits]}}
        state.save()
        self._retrain(t)

    # ------------------------------------------------------------------ retrain child
    def _retrain(self, t: int, *, resumed: bool = False) -> None:
        """Run the pending trigger's retrain in a child process (replay: and wait for it)."""
        if self._child is not None:  # live: one retrain at a time
            if self._child.poll() is None:
                return
            self._reap_child(t)
            if self._state.pending is None:
                return
        if time.monotonic() < self._retry_at:
            return
        pending = dict(self._state.pending)
        from harness.retrain import DetectorState

        self._state = DetectorState.load(self.name)  # another process may have completed it meanwhile
        if self._state.pending is None:
            return
        cmd = [sys.executable, "-m", "harness", "retrain", self.name, "--until", _iso(t), "--pending-only"]
        env = {**os.environ, "HARNESS_WATCH_CHILD": "1"}
        self.echo(f"{_fmt(t)}  {pending.get('reason')}: retraining {self.name} in a child process"
                  + (" (resumed)" if resumed else ""))
        self._child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self._child_pending = pending
        self._child_t = t
        if self.until is None and not resumed:
            return  # live: trading goes on; the outcome is read at a later bar
        self._wait_child()

    def _wait_child(self) -> None:
        if self._child is None:
            return
        try:
            self._child.wait(timeout=self.retrain_timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        self._reap_child(self._child_t)

    def _reap_child(self, t: int) -> None:
        from harness import audit
        from harness.retrain import DetectorState

        child, self._child = self._child, None
        out, err = child.communicate()
        self._state = DetectorState.load(self.name)
        pending = self._child_pending
        if child.returncode == 0 and self._state.pending is not None:
            # the retrain lock was held: an earlier retrain of this trigger (a child that outlived a killed
            # watcher) is still running; wait for it, then look again (never a second retrain of one trigger)
            self.echo("    another retrain of this deployment holds the lock; waiting for it")
            time.sleep(1.0)
            if self.until is not None:
                self._retrain(t, resumed=True)
            return
        if child.returncode == 0 and self._state.pending is None:
            self._fail_count = 0
            self._retry_at = 0.0
            if "no pending trigger" in out:  # completed by an earlier child (one that outlived a killed watcher)
                return
            rec = {"bar_time": t, "time": _fmt(t), "reason": pending.get("reason"),
                   "trigger": pending.get("trigger"), "output": out.strip().splitlines()[-12:]}
            self.result.retrains.append(rec)
            for line in out.strip().splitlines():
                self.echo(f"    {line}")
            return
        self._fail_count += 1
        wait = BACKOFF_S[min(self._fail_count - 1, len(BACKOFF_S) - 1)]
        self._retry_at = time.monotonic() + wait
        tail = (err or out or "").strip().splitlines()[-5:]
        fail = {"bar_time": t, "returncode": child.returncode, "attempt": self._fail_count, "retry_in_s": wait,
                "stderr": tail}
        self.result.failures.append(fail)
        audit.append("watch_child_failed", actor=ACTOR, deployment=self.name,
                     payload={"child": "retrain", **fail})
        self.echo(f"    retrain child failed (exit {child.returncode}, attempt {self._fail_count}); "
                  f"retrying in {wait:.0f}s: {' | '.join(tail)}")
        if self.until is not None:  # replay: the clock waits for the retrain
            if self._fail_count >= REPLAY_ATTEMPTS:
                from harness.errors import RetrainFailed

                raise RetrainFailed(f"the retrain of {self.name!r} for the trigger at {_fmt(t)} failed "
                                    f"{self._fail_count} times (exit {child.returncode}: {' | '.join(tail[-2:])}); "
                                    "the trigger stays pending: fix the cause and run `harness watch` again")
            time.sleep(wait)
            self._retry_at = 0.0
            self._retrain(t, resumed=True)

    # ------------------------------------------------------------------ monitors
    def _step_monitors(self) -> list:
        """Evaluate the monitors on the ledger (when due); returns the new alerts."""
        if not self.monitors_on or self._runner is None:
            return []
        try:
            mon = self._ledger_monitor()
            if mon is not None:
                new = mon.run(self._runner.ledger)
                self.result.alerts.extend(new)
                return new
        except Exception as exc:  # noqa: BLE001 - a monitor never stops the trading
            self.echo(f"    monitors failed: {type(exc).__name__}: {exc}")
            self.monitors_on = False
        return []

    def _version_weights(self, version: str) -> np.ndarray:
        return _weights_over(self.registry, self.name, version, self._monitor.bars)

    def _ledger_monitor(self):
        from harness._bars import home_store_if_any
        from harness.monitor import LedgerMonitor

        v = getattr(self._runner.source, "_version", None) or self._runner.champion  # as last read, no new query
        if self._monitor is not None and self._monitor_version == v.version:
            self._monitor.extend(self._bars)  # a live watch reloads its bars every poll
            return self._monitor
        window = {}
        try:
            window = json.loads(_user_tag(v, "window") or "{}")
        except (TypeError, ValueError):
            window = {}
        train_start, train_end = window.get("start"), window.get("holdout_start") or window.get("end")
        if train_end is None:
            return None
        holdout = _holdout_returns(self.name, v)
        self._monitor = LedgerMonitor(self.name, bars=self._bars, strategy=v.strategy, params=v.params,
                                      config=v.config, train_start=train_start, train_end=train_end,
                                      holdout_returns=holdout, monitor_config=self.spec.monitor,
                                      store=home_store_if_any(), version=str(v.version),
                                      weights_of=self._version_weights)
        self._monitor_version = v.version
        return self._monitor


def _weights_over(registry: Any, name: str, version: str, bars: Any) -> np.ndarray:
    """A version's target weights over ``bars``, as its runner decided them (features from the
    home store where materialised)."""
    from harness._bars import home_store_if_any
    from strategies.features import use_store

    deployed = registry.load(name, int(version))
    with use_store(home_store_if_any()):
        return np.asarray(deployed.target_weights(bars), dtype=np.float64)


def _user_tag(version: Any, key: str) -> str | None:
    """A tag the retrain set on a version (``Registry.register(..., key=value)`` stores it as
    ``user.<key>``)."""
    tags = getattr(version, "tags", None) or {}
    value = tags.get(f"user.{key}")
    return value if value is not None else tags.get(key)


def _holdout_returns(name: str, version: Any) -> np.ndarray | None:
    """The champion's holdout returns from its retrain's evidence artifact (None if not found)."""
    from harness.config import paths

    rid = _user_tag(version, "retrain_id")
    rank = _user_tag(version, "rank")
    if not rid or rank is None:
        return None
    path = paths().artifacts / "retrains" / name / rid / "arrays.npz"
    try:
        with np.load(path) as z:
            key = f"candidate_{int(rank)}_returns"
            return np.asarray(z[key]) if key in z.files else None
    except (OSError, ValueError):
        return None


def _iso(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat()


def _state_path(name: str) -> Path:
    from harness.retrain import state_path

    return state_path(name)


def _ns(value: Any) -> int:
    from market_data.bars import to_ns

    return int(to_ns(value, name="until"))


def watch(target: str | Path, *, once: bool = False, until: Any = None, by: str | None = None,
          registry: Any = None, echo: Callable[[str], None] | None = None, monitors: bool = True) -> WatchResult:
    """``harness watch SPEC|NAME [--once] [--until T]``: run the loop for one deployment.

    A spec file (an existing path) is deployed first when it is new or changed, which
    needs ``by`` (the person responsible); a name watches a deployed deployment.
    """
    from harness.registry import Registry

    registry = registry if registry is not None else Registry.open()
    name = str(target)
    if Path(name).suffix == ".toml" or Path(name).is_file():
        from harness.deploy import load_deployment
        from harness.retrain._flow import deploy

        spec = load_deployment(name)
        try:
            info = registry.deployment(spec.name)
        except InputError:
            info = None
        if info is None or info.spec_hash != spec.hash:
            if not (isinstance(by, str) and by.strip()):
                raise InputError(f"{name} is not deployed as it is; `harness watch SPEC` deploys it first and needs "
                                 "--by WHO (the person responsible is audited)")
            out = deploy(name, by=by, registry=registry)
            for line in out.messages:
                (echo or print)(line)
        name = spec.name
    return Watcher(name, until=until, registry=registry, echo=echo, monitors=monitors).run(once=once)


def status_rows(registry: Any = None) -> list[dict]:
    """One row per deployment for ``harness status``."""
    from harness import audit
    from harness.registry import Registry

    registry = registry if registry is not None else Registry.open()
    rows = []
    trail = audit.trail()
    records = trail.records()
    for info in registry.deployments():
        name = info.name
        row: dict[str, Any] = {"deployment": name, "mode": info.mode}
        for alias in ("champion", "challenger"):
            try:
                v = registry.get(name, alias)
                row[alias] = f"v{v.version} {v.params}"
            except InputError:
                row[alias] = "-" if alias == "challenger" else f"baseline ({info.baseline})"
        done = [r for r in records if r.get("deployment") == name and r.get("kind") == "retrain_completed"]
        if done:
            p = done[-1].get("payload") or {}
            row["last_retrain"] = f"{done[-1].get('time', '')[:19]} ({p.get('reason')}, {p.get('outcome')})"
        else:
            row["last_retrain"] = "-"
        pending = []
        for d in registry.decisions(name):
            if d.get("outcome") == "pending_approval" and not d.get("consumed_by") and not d.get("void"):
                pending.append(f"v{d.get('version')}")
        row["pending_approvals"] = ", ".join(pending) or "-"
        row.update(_paper_row(name))
        rows.append(row)
    return rows


def _paper_row(name: str) -> dict:
    from harness.paper import Ledger
    from harness.paper._ledger import ledger_path

    path = ledger_path(name)
    if not path.exists():
        return {"paper": "not started", "equity": None, "alerts": "-"}
    try:
        led = Ledger(path)
        try:
            eq = led.equity()
            st = led.state()
            init = float(led.meta["init_cash"])
        finally:
            led.close()
    except Exception as exc:  # noqa: BLE001 - one bad ledger must not hide the other deployments
        return {"paper": f"unreadable ({type(exc).__name__}: {exc})", "equity": None, "alerts": "-"}
    try:
        from harness.monitor import status as monitor_status

        m = monitor_status(name) or {}
        open_alerts = sorted((m.get("book") or {}).get("open", {}))
    except Exception:  # noqa: BLE001 - a damaged monitor file must not hide the paper state
        open_alerts = []
    return {"paper": str(st.get("risk_state", "ACTIVE")), "equity": float(eq.iloc[-1]) if len(eq) else init,
            "last_bar": _fmt(st.get("last_time")), "alerts": ", ".join(open_alerts) or "-"}
