"""The runner's bar loop: decide, the outbox protocol, recovery and reconciliation.

One bar, in this order (``fill="next_open"``; with ``fill="close"`` the venue sees the bar
after step 2, so the orders decided at the close fill at that close):

0. checks: a bar at or before the last processed one is skipped when it is the bar the
   ledger applied (same digest), otherwise it is a correction or a late bar: alert, HALTED;
   the champion source is asked for the current version (a swap happens here, at the bar
   boundary, keeping the positions);
1. the venue sees the bar (``broker.on_bar``: a SimBroker fills the orders resting from
   the previous bar); the decider gives the bar's target weights; the orders due (target
   changed, or a periodic rebalance) pass the risk checks; **transaction 1** commits the
   intents (state ``new``) and the runner state with ``pending = bar time``;
2. each intent is submitted, idempotent by ``client_order_id``; a failed call (a lost
   acknowledgement) is followed by ``broker.order(client_order_id)``, and only an id the
   broker does not know is sent again;
3. the open orders are polled, new fills applied to the ledger's own book, equity valued
   at the close; **transaction 3** commits order states, fills, positions, equity, the bar
   digest and ``pending = None``.

Recovery, for a process killed at each point:

* before transaction 1: nothing of the bar is in the ledger; the bar comes again and is
  processed from the start (the venue ignores a bar it has seen);
* between 1 and 2, or during 2: the intents are in the ledger (``new``); the bar comes
  again, the runner does not decide again but looks every intent up by id at the broker
  and submits only those it does not know;
* between 2 and 3: the same, every intent is found, nothing is sent twice;
* after 3: the bar is applied; it is skipped when it comes again.

Before the first bar after a (re)start the ledger is reconciled with the broker
(positions, cash, open orders, fills by client id); any difference that the recovery
rules do not explain halts the runner with a written report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.engine import nb
from harness.engine.config import BacktestConfig
from harness.paper._broker import TERMINAL, Bar, Broker, Order, OrderReport, client_order_id
from harness.paper._decide import History
from harness.paper._ledger import Ledger

__all__ = ["Runner", "ACTIVE", "REDUCING", "HALTED"]

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
_DAY_NS = 86_400_000_000_000
_RANK = {s: i for i, s in enumerate(("new", "submitted", "accepted", "filled", "partially_filled", "canceled",
                                     "rejected"))}


def _path(old: str, new: str) -> tuple[str, ...]:
    """The states an order went through from ``old`` to ``new`` (as events)."""
    if old == new:
        return ()
    steps = []
    if _RANK[old] < _RANK["submitted"] and new != "submitted":
        steps.append("submitted")
    if _RANK[old] < _RANK["accepted"] and new in ("filled", "partially_filled", "canceled"):
        steps.append("accepted")
    steps.append(new)
    return tuple(steps)


@dataclass
class BarOutcome:
    time: int
    skipped: bool = False
    orders: int = 0
    fills: int = 0
    halted: bool = False
    alerts: list[str] = field(default_factory=list)


class Runner:
    """The bar loop over one ledger and one broker (see the module docstring).

    ``source.current(bar_time) -> (version, decider)`` says which champion trades a bar.
    ``risk`` is a :class:`~harness.paper.RiskLimits` (None: no limits). ``audit`` is a
    callable ``audit(kind, payload)`` (None: no audit records). ``features``: a bar
    store whose materialised features the deciders read (inside
    :func:`strategies.features.use_store`) when the history's rows are a stored
    snapshot's (a replay); :attr:`feature_usage` counts what came from it.
    """

    def __init__(self, *, deployment: str, symbols, frequency: str, config: BacktestConfig, broker: Broker,
                 ledger: Ledger, source, risk=None, audit=None, digest_every: int | None = None,
                 history: History | None = None, report_dir: Path | None = None,
                 submit_retries: int = 3, features=None) -> None:
        from harness.paper._risk import RiskEngine
        from strategies.features import FeatureUsage

        self.deployment = deployment
        self.symbols = tuple(symbols)
        self.N = len(self.symbols)
        self._col = {s: i for i, s in enumerate(self.symbols)}
        self.frequency = frequency
        self.config = config
        self.broker = broker
        self.ledger = ledger
        self.source = source
        self.audit = audit
        self.digest_every = digest_every
        self.report_dir = report_dir or ledger.path.parent
        self.submit_retries = submit_retries
        self.hist = history if history is not None else History(self.symbols, frequency)
        self.features = features
        self.feature_usage = FeatureUsage()
        st = ledger.state()
        self.last_time: int | None = st.get("last_time")
        self.bar_index: int = int(st.get("bar_index", 0))
        self.version: str | None = st.get("version")
        self.target = np.array(st.get("target", [0.0] * self.N), dtype=np.float64)
        self.val_px = np.array([np.nan if v is None else v for v in st.get("val_px", [None] * self.N)])
        self.risk = RiskEngine(risk, st, init_equity=float(ledger.meta["init_cash"]))
        self._known: dict[str, tuple] = {}
        for row in ledger.order_rows(ledger.open):
            self._known[row["client_order_id"]] = (row["state"], row["filled_size"], row["stop_price"])
        self.last_digest_bar = st.get("last_digest_bar")
        self.reconciled = False
        self.stop_requested = False
        self.swaps: list[dict] = []
        self._stops = not (config.stop_loss is None and config.take_profit is None and config.trailing_stop is None)

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> str:
        return self.risk.state

    def _runner_state(self, **extra) -> dict[str, Any]:
        return {"last_time": self.last_time, "bar_index": self.bar_index, "version": self.version,
                "target": self.target.tolist(), "val_px": [None if v != v else v for v in self.val_px.tolist()],
                "last_digest_bar": self.last_digest_bar, **self.risk.to_state(), **extra}

    def _audit(self, kind: str, payload: dict) -> None:
        if self.audit is not None:
            self.audit(kind, payload)

    def halt(self, reason: str, *, bar_time: int | None = None, by: str = "harness.paper",
             detail: dict | None = None, alert: str | None = None) -> None:
        """Move to HALTED (recorded in the ledger and the audit trail)."""
        ev = self.risk.set_state(HALTED, reason, bar_time=bar_time, by=by, detail=detail)
        alerts = [{"bar_time": bar_time, "kind": alert, "message": reason}] if alert else []
        self.ledger.record(runner=self._runner_state(), risk_events=[ev] if ev else [], alerts=alerts)
        if ev:
            self._audit("risk_state", ev)

    def resume(self, *, by: str) -> None:
        """The human re-enable: back to ACTIVE (a halted runner never resumes by itself)."""
        ev = self.risk.set_state(ACTIVE, f"resumed by {by}", bar_time=self.last_time, by=by)
        self.ledger.record(runner=self._runner_state(), risk_events=[ev] if ev else [])
        if ev:
            self._audit("risk_state", ev)

    def kill_switch(self, *, by: str, flatten: bool = False, reason: str | None = None) -> dict:
        """HALTED now; cancel every open order; with ``flatten`` send orders that close every position."""
        self.halt(reason or f"halted by {by}" + (" (flatten)" if flatten else ""), bar_time=self.last_time, by=by)
        led = self.ledger
        canceled, updates = [], []
        for row in led.order_rows(list(led.open)):
            if row["leg"] == "stop":
                continue  # a resting stop protects the position; flatten closes it with the position
            ack = self.broker.cancel(row["client_order_id"])
            if ack.state != row["state"]:
                updates.append({"client_order_id": row["client_order_id"], "state": ack.state,
                                "reason": ack.reason or f"canceled by {by}"})
                canceled.append(row["client_order_id"])
                self._known.pop(row["client_order_id"], None)
        if updates:
            led.update_orders(updates, int(self.last_time or 0))
        flat = []
        if flatten:
            t = int(self.last_time or 0)
            intents = []
            for n, s in enumerate(self.symbols):
                if led.book_pos[n] != 0.0:
                    intents.append({"client_order_id": client_order_id(self.deployment, self.version or "0", t, s,
                                                                       "flatten"),
                                    "bar_time": t, "symbol": s, "leg": "flatten", "version": str(self.version),
                                    "target_weight": 0.0, "est_units": float(-led.book_pos[n])})
                    self.target[n] = 0.0
            if intents:
                led.commit_intents(t, intents, self._runner_state())
                ups = []
                for r in intents:
                    self._known[r["client_order_id"]] = ("new", 0.0, None)
                    st, bid, why = self._submit(r)
                    ups.append({"client_order_id": r["client_order_id"], "state": st, "reason": why})
                    self._known[r["client_order_id"]] = (st, 0.0, None)
                    flat.append(r["client_order_id"])
                led.update_orders(ups, t)
        return {"canceled": canceled, "flatten_orders": flat}

    def apply_control(self) -> list[str]:
        """Carry out, in order, the requests other processes left in the ledger (halt, resume, stop)."""
        actions = []
        for req in self.ledger.take_control():
            action = req.get("action")
            if action == "halt":
                self.kill_switch(by=req["by"], flatten=bool(req.get("flatten")), reason=req.get("reason"))
            elif action == "resume":
                self.resume(by=req["by"])
            elif action == "stop":
                self.stop_requested = True
            actions.append(action)
        return actions

    # ----------------------------------------------------------------- reconciliation
    def reconcile(self) -> list[str]:
        """Compare the ledger with the broker; a non-empty list of differences halts the runner."""
        diffs: list[str] = []
        led = self.ledger
        rows = {r["client_order_id"]: r for r in led.order_rows()}
        fills = led.fills_by_order()
        pending_pos = led.book_pos.copy()
        pending_cash = led.book_cash
        col = {s: i for i, s in enumerate(self.symbols)}
        seen_fills: set[str] = set()
        for cid, row in rows.items():
            rep = self.broker.order(cid)
            mine = fills.get(cid, [])
            if rep is None:
                if row["state"] in ("new", "submitted"):
                    continue  # never reached the broker: recovery submits it
                diffs.append(f"order {cid} is {row['state']} in the ledger but unknown to the broker")
                continue
            theirs = {f.fill_id: f for f in rep.fills}
            for fid, size, price in mine:
                f = theirs.get(fid)
                if f is None:
                    diffs.append(f"fill {fid} of order {cid} is in the ledger but not at the broker")
                elif not (math.isclose(f.size, size, rel_tol=1e-12) and math.isclose(f.price, price, rel_tol=1e-12)):
                    diffs.append(f"fill {fid} of order {cid}: ledger {size} @ {price}, broker {f.size} @ {f.price}")
                seen_fills.add(fid)
            if row["state"] in TERMINAL:
                extra = [fid for fid in theirs if fid not in seen_fills]
                if extra:
                    diffs.append(f"order {cid} is {row['state']} in the ledger but the broker has more fills: "
                                 f"{extra}")
                if rep.state != row["state"]:
                    diffs.append(f"order {cid}: ledger state {row['state']}, broker state {rep.state}")
            for fid, f in theirs.items():
                if fid not in seen_fills and fid not in led.fill_ids:  # not yet recorded: the next bar does
                    n = col[f.symbol]
                    signed = f.size if f.side == "buy" else -f.size
                    pending_pos[n] += signed
                    pending_cash += -(f.size * f.price + f.fees) if f.side == "buy" else f.size * f.price - f.fees
                    seen_fills.add(fid)
        known = set(rows)
        for rep in self.broker.open_orders():
            if rep.client_order_id not in known and not (rep.parent and rep.parent in known):
                diffs.append(f"open order {rep.client_order_id} at the broker is unknown to the ledger")
        theirs_pos = self.broker.positions()
        for i, s in enumerate(self.symbols):
            a, b = float(pending_pos[i]), float(theirs_pos.get(s, 0.0))
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                diffs.append(f"position {s}: ledger {a}, broker {b}")
        for s in theirs_pos:
            if s not in col:
                diffs.append(f"position {s} at the broker is not in the deployment's universe")
        acct = self.broker.account()
        if not math.isclose(pending_cash, acct.cash, rel_tol=1e-9, abs_tol=1e-6):
            diffs.append(f"cash: ledger {pending_cash}, broker {acct.cash}")
        self.reconciled = True
        if diffs:
            report = self._write_report(diffs)
            self.halt(f"reconciliation with the broker failed ({len(diffs)} difference(s)); report {report}",
                      detail={"differences": diffs[:50], "report": str(report)}, alert="reconciliation")
        return diffs

    def _write_report(self, diffs: list[str]) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.report_dir / f"{self.deployment}.reconcile-{stamp}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"reconciliation of paper ledger {self.ledger.path} with broker {type(self.broker).__name__}",
                 f"at {datetime.now(UTC).isoformat()}; {len(diffs)} difference(s); the runner is HALTED and "
                 "changed nothing:", ""] + [f"- {d}" for d in diffs]
        path.write_text("\n".join(lines) + "\n")
        return path

    # ----------------------------------------------------------------- one bar
    def process(self, bar: Bar) -> BarOutcome:
        out = BarOutcome(time=int(bar.time))
        led = self.ledger
        if self.last_time is not None and bar.time <= self.last_time:
            out.skipped = True
            applied = led.bar_digest(bar.time)
            if applied is None or applied != bar.digest():
                kind = "late bar" if applied is None else "corrected bar"
                self.halt(f"{kind} at {_fmt(bar.time)} (at or before the last processed bar "
                          f"{_fmt(self.last_time)}): never applied silently", bar_time=int(bar.time),
                          alert="bar_correction", detail={"bar_time": int(bar.time), "kind": kind})
                out.halted = True
                out.alerts.append(kind)
                return out
            if self.hist.n == 0 or self.hist.ts[self.hist.n - 1] < bar.time:
                self.hist.append(bar)
            return out
        if not self.reconciled:
            self.reconcile()
        self.apply_control()
        self.hist.append(bar)
        version, decider = self.source.current(int(bar.time))
        problem = getattr(self.source, "problem", None)
        if problem and self.state != HALTED:
            self.halt(problem, bar_time=int(bar.time), alert="champion")
        if self.version is not None and version != self.version:
            swap = {"from_version": self.version, "to_version": version, "bar_time": int(bar.time),
                    "positions": led.current_positions()}
            self.swaps.append(swap)
            self._audit("paper_swap", swap)
        self.version = version
        fill_at_open = self.config.fill_at_open
        if fill_at_open:
            self.broker.on_bar(bar)
        pending = led.runner_state.get("pending")  # read only: no copy of the state
        events: list[dict] = []
        if pending == int(bar.time):  # recovery: this bar's intents are committed, do not decide again
            intents = [r for r in led.order_rows(list(led.open)) if r["bar_time"] == int(bar.time)
                       and r["state"] in ("new", "submitted")]
        else:
            intents, events = self._decide(decider, bar)
            if intents:
                led.commit_intents(int(bar.time), intents, self._runner_state(pending=int(bar.time)))
                for r in intents:
                    self._known[r["client_order_id"]] = ("new", 0.0, None)
        out.orders = len(intents)
        acks: dict[str, tuple[str, str, str]] = {}
        for r in intents:
            acks[r["client_order_id"]] = self._submit(r)
        lost = [c for c, k in self._known.items() if k[0] == "submitted" and c not in acks]
        for r in led.order_rows(lost) if lost else ():  # an earlier bar's answer never came: look up, resend
            acks[r["client_order_id"]] = self._submit(r)
        if not fill_at_open:
            self.broker.on_bar(bar)
        updates, new_orders, fills, changed = self._poll(acks)
        for f in fills:
            led.apply_fill(f["symbol"], f["side"], f["size"], f["price"], f["fees"])
        if fills:
            led.settle_cash(self.broker.account().cash,
                            notional=sum(f["size"] * f["price"] + f["fees"] for f in fills))
        out.fills = len(fills)
        self._value(bar)
        equity = float(nb.portfolio_value_nb(led.book_cash, led.book_pos, self.val_px))
        events += self.risk.after_bar(int(bar.time), equity)
        self.last_time = int(bar.time)
        self.bar_index += 1
        digest_due = self._digest_due(int(bar.time))
        led.commit_bar(bar_time=int(bar.time), bar_index=self.bar_index - 1, digest=bar.digest(), equity=equity,
                       version=str(version), updates=updates, new_orders=new_orders, fills=fills,
                       changed=sorted(changed), runner=self._runner_state(pending=None), risk_events=events)
        for ev in events:
            if ev.get("kind") == "state":
                self._audit("risk_state", ev)
        if digest_due:
            self.last_digest_bar = int(bar.time)
            self._audit("ledger_digest", {"digest": led.digest(), "bar_time": int(bar.time),
                                          "bars": self.bar_index, "ledger": str(led.path)})
            led.record(runner={"last_digest_bar": self.last_digest_bar})
        out.halted = self.state == HALTED
        return out

    def _digest_due(self, t: int) -> bool:
        if self.audit is None:
            return False
        if self.digest_every:
            return self.bar_index % int(self.digest_every) == 0
        last = self.last_digest_bar
        return last is None or t // _DAY_NS != last // _DAY_NS

    def _value(self, bar: Bar) -> None:
        """The engine's valuation prices after a bar (the open when filling there, then the close)."""
        if self.config.fill_at_open:
            o = np.asarray(bar.open, dtype=np.float64)
            np.copyto(self.val_px, o, where=~np.isnan(o))
        c = np.asarray(bar.close, dtype=np.float64)
        np.copyto(self.val_px, c, where=~np.isnan(c))

    def _decide(self, decider, bar: Bar) -> tuple[list[dict], list[dict]]:
        """The orders due at this bar (the engine's rule: the target changed, or a rebalance)."""
        if self.features is None:
            w = np.asarray(decider.row(self.hist), dtype=np.float64)
        else:
            from strategies.features import use_store

            with use_store(self.features, usage=self.feature_usage):
                w = np.asarray(decider.row(self.hist), dtype=np.float64)
        if w.shape != (self.N,):
            from harness.errors import InputError

            raise InputError(f"the decider gave weights of shape {w.shape} for bar {_fmt(bar.time)}, expected "
                             f"({self.N},) for symbols {self.symbols}")
        if not self.config.allow_short:
            w = np.where(w <= 0.0, 0.0, w)  # as prepare_weights (NaN stays NaN)
        d = self.bar_index
        k = int(self.config.rebalance_every or 0)
        rebalance = k > 0 and d % k == 0
        changed = ~np.isnan(w) & (w != self.target)  # one vector pass (500 symbols: no Python loop)
        if rebalance:  # every symbol is due: its new target, or the one it holds
            due = list(enumerate(np.where(changed, w, self.target).tolist()))
        else:
            cols = np.flatnonzero(changed)
            if cols.size == 0:
                return [], []
            due = list(zip(cols.tolist(), w[cols].tolist(), strict=True))
        if not due:
            return [], []
        led = self.ledger
        equity = float(nb.portfolio_value_nb(led.book_cash, led.book_pos, self._px_now(bar)))
        allowed, events = self.risk.pre_trade(due, self.target, led.book_pos, self._px_now(bar), equity,
                                              self.symbols, int(bar.time))
        intents = []
        for n, x in due:
            self.target[n] = x  # a denied order is not retried until the target changes again
        for n, x in allowed:
            px = self._px_now(bar)[n]
            est = x * equity / px - led.book_pos[n] if px == px and px > 0 else math.nan
            intents.append({
                "client_order_id": client_order_id(self.deployment, self.version, int(bar.time), self.symbols[n],
                                                   "target"),
                "bar_time": int(bar.time), "symbol": self.symbols[n], "leg": "target", "version": str(self.version),
                "target_weight": x, "est_units": float(est)})
        return intents, events

    def _px_now(self, bar: Bar) -> np.ndarray:
        c = np.asarray(bar.close, dtype=np.float64)
        return np.where(np.isnan(c), self.val_px, c)

    def _order(self, r: dict) -> Order:
        cfg = self.config
        return Order(client_order_id=r["client_order_id"], symbol=r["symbol"], leg=r["leg"], bar_time=r["bar_time"],
                     target_weight=float(r["target_weight"]), est_units=float(r["est_units"] or math.nan),
                     stop_loss=cfg.stop_loss, take_profit=cfg.take_profit, trailing_stop=cfg.trailing_stop)

    def _submit(self, r: dict) -> tuple[str, str, str]:
        """Submit one intent; after a failed call look it up by id before sending it again."""
        cid = r["client_order_id"]
        rep = self.broker.order(cid) if "seq" in r else None  # a row read back from the ledger: recovery
        if rep is not None:
            return rep.state, rep.broker_order_id, rep.reason
        order = self._order(r)
        for attempt in range(self.submit_retries):
            try:
                ack = self.broker.submit(order)
                return ack.state, ack.broker_order_id, ack.reason
            except Exception:  # noqa: BLE001 - a lost answer: the order may or may not be there
                rep = self.broker.order(cid)
                if rep is not None:
                    return rep.state, rep.broker_order_id, rep.reason
                if attempt + 1 < self.submit_retries:
                    time.sleep(0.0)
        return "submitted", "", "no acknowledgement from the broker; looked up again next bar"

    def _poll(self, acks: dict) -> tuple[list[dict], list[dict], list[dict], set[int]]:
        """Order states and new fills of every order the ledger holds open (and the legs they spawned)."""
        led = self.ledger
        col = self._col
        todo = list(led.open)
        seen: set[str] = set()
        reports: dict[str, OrderReport | None] = {}
        while todo:
            cid = todo.pop()
            if cid in seen:
                continue
            seen.add(cid)
            rep = self.broker.order(cid)
            reports[cid] = rep
            if rep is not None:
                for leg in rep.legs:
                    if leg not in self._known and leg not in seen:
                        todo.append(leg)
        updates, new_orders, fills = [], [], []
        changed: set[int] = set()
        for cid, rep in reports.items():
            if rep is None:
                if cid in acks and acks[cid][0] == "submitted":
                    old = self._known.get(cid, ("new",))[0]
                    if old != "submitted":
                        updates.append({"client_order_id": cid, "state": "submitted", "reason": acks[cid][2],
                                        "path": ("submitted",)})
                        self._known[cid] = ("submitted", 0.0, None)
                continue
            for f in rep.fills:
                if f.fill_id not in led.fill_ids:
                    fills.append({"fill_id": f.fill_id, "seq": f.seq, "client_order_id": cid, "bar_time": f.bar_time,
                                  "symbol": f.symbol, "side": f.side, "size": f.size, "price": f.price,
                                  "fees": f.fees, "reason": f.reason})
                    changed.add(col[f.symbol])
            stop_px = None if math.isnan(rep.stop_price) else rep.stop_price
            avg = None if math.isnan(rep.avg_price) else rep.avg_price
            if cid not in self._known:  # an order the broker made for us (a resting stop)
                new_orders.append({"client_order_id": cid, "bar_time": int(self.hist.ts[self.hist.n - 1]),
                                   "symbol": rep.symbol,
                                   "leg": rep.leg, "version": str(self.version), "state": rep.state,
                                   "reason": rep.reason, "broker_order_id": rep.broker_order_id,
                                   "filled_size": rep.filled_size, "avg_price": avg, "fees": rep.fees,
                                   "stop_price": stop_px, "parent": rep.parent})
                self._known[cid] = (rep.state, rep.filled_size, stop_px)
                continue
            old = self._known[cid]
            now = (rep.state, rep.filled_size, stop_px)
            if now != old:
                updates.append({"client_order_id": cid, "state": rep.state, "reason": rep.reason,
                                "broker_order_id": rep.broker_order_id, "filled_size": rep.filled_size,
                                "avg_price": avg, "fees": rep.fees, "stop_price": stop_px,
                                "path": _path(old[0], rep.state), "state_changed": old[0] != rep.state})
                self._known[cid] = now
        for cid in list(self._known):
            if self._known[cid][0] in TERMINAL:
                del self._known[cid]
        fills.sort(key=lambda f: f["seq"])
        return updates, new_orders, fills, changed

    # ----------------------------------------------------------------- loop
    def run(self, feed, *, on_bar=None) -> int:
        """Process every bar of ``feed`` until it ends or :attr:`stop_requested`; returns the bars applied."""
        applied = 0
        for bar in feed:
            res = self.process(bar)
            if not res.skipped:
                applied += 1
            if on_bar is not None:
                on_bar(res)
            if self.stop_requested:
                break
        return applied


def _fmt(ns: int | None) -> str:
    from market_data.bars import _fmt_ts

    return "none" if ns is None else _fmt_ts(int(ns))
