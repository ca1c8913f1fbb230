"""``SimBroker``: a simulated venue that fills with the backtest's own kernel.

Its book (cash, positions, entry prices, the kernel's target/place arrays, every order
and fill) lives in its own SQLite file, apart from the runner's ledger, so that the
reconciliation at restart compares two independent records. Each ``submit``/``cancel``
and each bar is one transaction: a killed process leaves the book as of its last call.

Fills: :meth:`on_bar` runs :func:`harness.engine.nb.execute_bar_nb` once per bar with the
targets of the working orders, exactly as ``simulate_nb`` does over the whole history
(next-open or close fills, fees, slippage, whole-unit or fractional sizing, shared cash,
leverage, stops). There is no second fill model: the kernel's order records are mapped
back to the orders that caused them. A stop-loss / take-profit / trailing stop configured
on the order rests here as a stop order (leg ``stop``) for as long as the position is open.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from harness.engine import nb
from harness.engine.config import BacktestConfig
from harness.engine.enums import EXIT_REASON_NAMES, order_dt
from harness.paper._broker import (
    TERMINAL,
    Account,
    Ack,
    Bar,
    Broker,
    FillReport,
    Order,
    OrderReport,
)

__all__ = ["SimBroker"]

#: the per-bar state rows: compact JSON, no circular-reference walk (plain dicts of lists and numbers)
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (client_order_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS book (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slots (col INTEGER PRIMARY KEY, target REAL NOT NULL, place INTEGER NOT NULL,
    pending TEXT);
"""
_REPORT_FIELDS = ("client_order_id", "broker_order_id", "symbol", "leg", "state", "reason", "target_weight",
                  "filled_size", "avg_price", "fees", "stop_price", "parent", "legs")


def _opt(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


class SimBroker(Broker):
    """A simulated broker over a fixed universe of ``symbols``, filling like ``backtest(config=...)``.

    ``path``: the SQLite file of its book (None: in memory). Reopening a path resumes the
    book; the symbols and config must be those it was created with.

    ``exclusive``: hold the book file's lock from the first statement until :meth:`close`
    (SQLite's ``locking_mode=EXCLUSIVE``; the WAL index then lives in this process's
    memory), so no transaction pays for taking and dropping file locks. This saves about
    10% of a one-symbol bar, measured in replay. Meanwhile no other connection can open
    the book: one that tries gets :class:`harness.errors.RunnerBusyError`. A kill releases the
    lock, and the WAL still makes each commit survive it. ``replay`` and the parity check
    use it for their scratch books. The live runner does not, since it builds its broker
    before it takes the deployment's runner lock.
    """

    def __init__(self, symbols, *, config: BacktestConfig = BacktestConfig(), path: str | Path | None = None,
                 name: str = "sim", exclusive: bool = False) -> None:
        from harness.errors import InputError

        self.symbols = tuple(symbols)
        if not self.symbols:
            raise InputError("SimBroker needs at least one symbol")
        self.config = config
        self.name = name
        self._p = config.fill_params()
        self._has_stops = not (math.isnan(self._p.stop_loss) and math.isnan(self._p.take_profit)
                               and math.isnan(self._p.trailing_stop))
        self._col = {s: i for i, s in enumerate(self.symbols)}
        N = len(self.symbols)
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path), isolation_level=None,
                                   check_same_thread=False)
        try:
            if exclusive:
                self._db.execute("PRAGMA locking_mode=EXCLUSIVE")  # before WAL: no shared-memory index
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=8000")
            self._db.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" not in str(exc):
                raise
            from harness.errors import RunnerBusyError

            raise RunnerBusyError(f"SimBroker book {self.path} is open in another connection ({exc}); an exclusive "
                              "book admits one at a time") from None
        self._orders: dict[str, OrderReport] = {}
        self._fills: dict[str, list[FillReport]] = {}
        self._seq = 0
        self._saved_seq = -1  # the sequence as last written ('seq' row); -1: never written
        self._fill_seq = 0
        self._dirty: set[int] | None = None
        self._lazy = False  # on_bar: begin the transaction at the first write
        self._open = False  # on_bar: its transaction is open
        self._recs = np.empty(3 * N + 1, dtype=order_dt)
        self._n_rec = np.zeros(1, np.int64)
        ident = json.dumps({"symbols": list(self.symbols), "config": config.to_dict()}, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key='ident'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('ident', ?)", (ident,))
            self.cash = np.full(1, float(config.init_cash))
            self.pos = np.zeros(N)
            self.entry_px = np.full(N, np.nan)
            self.extreme = np.full(N, np.nan)
            self.val_px = np.full(N, np.nan)
            self.target = np.zeros(N)
            self.place = np.zeros(N, np.bool_)
            self.pending: list[str | None] = [None] * N
            self.stop_leg: list[str | None] = [None] * N
            self.n_bars = 0
            self.last_time: int | None = None
            self._save_book()
        else:
            if row[0] != ident:
                raise InputError(f"SimBroker book {self.path} was created for other symbols or another config "
                                 f"({row[0]}), not {ident}")
            self._load()

    # ----------------------------------------------------------------- persistence
    def _book_text(self) -> str:
        return _dumps({
            "cash": self.cash.tolist(), "pos": self.pos.tolist(), "entry_px": self.entry_px.tolist(),
            "extreme": self.extreme.tolist(), "val_px": self.val_px.tolist(), "stop_leg": self.stop_leg,
            "n_bars": self.n_bars, "last_time": self.last_time, "fill_seq": self._fill_seq,
        })

    def _save_book(self) -> None:
        self._save_slots(range(len(self.symbols)) if self._dirty is None else self._dirty)
        self._dirty = set()
        self._put_book("book", self._book_text())

    def _begin(self) -> None:
        """Open :meth:`on_bar`'s transaction at its first write other than the book's row; a bar
        that writes only that row writes it as one statement, its own transaction."""
        if self._lazy:
            self._lazy = False
            self._db.execute("BEGIN IMMEDIATE")
            self._open = True

    def _put_book(self, key: str, text: str) -> None:
        """One row of the book (an UPDATE in place: half the cost of INSERT OR REPLACE; INSERT the first time)."""
        if self._db.execute("UPDATE book SET value=? WHERE key=?", (text, key)).rowcount == 0:
            self._db.execute("INSERT INTO book VALUES (?, ?)", (key, text))

    def _save_slots(self, cols) -> None:
        """The kernel's per-symbol order state (target, place) and the working order of each symbol, and the
        order sequence when it moved (inside the caller's transaction; a rollback reloads all of it)."""
        rows = [(int(n), float(self.target[n]), int(self.place[n]), self.pending[n]) for n in cols]
        if rows or self._seq != self._saved_seq:
            self._begin()
        if rows:
            self._db.executemany("INSERT OR REPLACE INTO slots VALUES (?, ?, ?, ?)", rows)
        if self._seq != self._saved_seq:
            self._put_book("seq", json.dumps(self._seq))
            self._saved_seq = self._seq

    def _load(self) -> None:
        book = json.loads(self._db.execute("SELECT value FROM book WHERE key='book'").fetchone()[0])
        self.cash = np.array(book["cash"], dtype=np.float64)
        for k in ("pos", "entry_px", "extreme", "val_px"):
            setattr(self, k, np.array(book[k], dtype=np.float64))
        N = len(self.symbols)
        self.target = np.zeros(N)
        self.place = np.zeros(N, np.bool_)
        self.pending = [None] * N
        for col, target, place, pending in self._db.execute("SELECT col, target, place, pending FROM slots"):
            self.target[col], self.place[col], self.pending[col] = target, bool(place), pending
        self.stop_leg = list(book["stop_leg"])
        self.n_bars = int(book["n_bars"])
        self.last_time = book["last_time"]
        self._seq = int(json.loads(self._db.execute("SELECT value FROM book WHERE key='seq'").fetchone()[0]))
        self._saved_seq = self._seq
        self._fill_seq = int(book["fill_seq"])
        self._dirty = set()
        self._orders = {}
        fills: dict[str, list[FillReport]] = {}
        for (body,) in self._db.execute("SELECT body FROM fills ORDER BY rowid"):
            f = FillReport(**json.loads(body))
            fills.setdefault(f.client_order_id, []).append(f)
        self._fills = fills
        for (body,) in self._db.execute("SELECT body FROM orders ORDER BY seq"):
            d = json.loads(body)
            d["fills"] = tuple(fills.get(d["client_order_id"], ()))
            d["legs"] = tuple(d["legs"])
            self._orders[d["client_order_id"]] = OrderReport(**d)

    def _put(self, rep: OrderReport) -> None:
        self._orders[rep.client_order_id] = rep
        d = {f: getattr(rep, f) for f in _REPORT_FIELDS}
        d["legs"] = list(d["legs"])
        self._begin()
        seq = self._db.execute("SELECT seq FROM orders WHERE client_order_id=?", (rep.client_order_id,)).fetchone()
        if seq is None:
            self._seq += 1
            seq = (self._seq,)
        self._db.execute("INSERT OR REPLACE INTO orders VALUES (?, ?, ?)", (rep.client_order_id, seq[0], json.dumps(d)))

    def _add_fill(self, f: FillReport) -> None:
        self._fills.setdefault(f.client_order_id, []).append(f)
        self._begin()
        self._db.execute("INSERT INTO fills VALUES (?, ?, ?)", (f.fill_id, f.client_order_id, json.dumps(asdict(f))))

    # ----------------------------------------------------------------- protocol
    def submit(self, order: Order) -> Ack:
        old = self._orders.get(order.client_order_id)
        if old is not None:
            return Ack(client_order_id=old.client_order_id, state=old.state, broker_order_id=old.broker_order_id,
                       reason=old.reason, duplicate=True)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            bid = f"{self.name}-{self._seq + 1}"
            base = OrderReport(client_order_id=order.client_order_id, broker_order_id=bid, symbol=order.symbol,
                               leg=order.leg, state="accepted", target_weight=float(order.target_weight))
            reason = self._reject_reason(order)
            if reason:
                rep = replace(base, state="rejected", reason=reason)
                self._put(rep)
            else:
                n = self._col[order.symbol]
                prev = self.pending[n]
                if prev is not None:  # a newer target replaces the working one (as the kernel does)
                    self._put(replace(self._orders[prev], state="canceled",
                                      reason=f"replaced by {order.client_order_id}"))
                self.target[n] = float(order.target_weight)
                self.place[n] = True
                self.pending[n] = order.client_order_id
                rep = base
                self._put(rep)
                self._save_slots((n,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._load()
            raise
        return Ack(client_order_id=rep.client_order_id, state=rep.state, broker_order_id=bid, reason=rep.reason)

    def _reject_reason(self, order: Order) -> str:
        if order.symbol not in self._col:
            return f"unknown symbol {order.symbol!r}"
        if order.leg not in ("target", "flatten"):
            return f"leg {order.leg!r} cannot be submitted (stops rest with the position)"
        w = float(order.target_weight)
        if not math.isfinite(w):
            return f"target weight must be finite, got {w}"
        if w < 0 and not self.config.allow_short:
            return "short selling is not allowed"
        p = self._p
        for name, mine in (("stop_loss", p.stop_loss), ("take_profit", p.take_profit),
                           ("trailing_stop", p.trailing_stop)):
            if not _same(_opt(getattr(order, name)), mine):
                return (f"{name}={getattr(order, name)} differs from this venue's {name}={mine} "
                        "(SimBroker rests the stops of its config)")
        return ""

    def cancel(self, client_order_id: str) -> Ack:
        rep = self._orders.get(client_order_id)
        if rep is None:
            return Ack(client_order_id=client_order_id, state="rejected", reason="unknown order")
        if rep.state in TERMINAL:
            return Ack(client_order_id=client_order_id, state=rep.state, broker_order_id=rep.broker_order_id,
                       reason=rep.reason, duplicate=True)
        if rep.leg == "stop":
            return Ack(client_order_id=client_order_id, state=rep.state, broker_order_id=rep.broker_order_id,
                       reason="a stop order rests with its position; flatten the position instead")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            n = self._col[rep.symbol]
            if self.pending[n] == client_order_id:
                self.pending[n] = None
                self.place[n] = False
            rep = replace(rep, state="canceled", reason="canceled by the runner")
            self._put(rep)
            self._save_slots((n,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._load()
            raise
        return Ack(client_order_id=client_order_id, state=rep.state, broker_order_id=rep.broker_order_id,
                   reason=rep.reason)

    def order(self, client_order_id: str) -> OrderReport | None:
        rep = self._orders.get(client_order_id)
        if rep is None:
            return None
        return replace(rep, fills=tuple(self._fills.get(client_order_id, ())))

    def open_orders(self) -> list[OrderReport]:
        return [self.order(c) for c, r in self._orders.items() if r.state not in TERMINAL]

    def positions(self) -> dict[str, float]:
        return {s: float(self.pos[i]) for i, s in enumerate(self.symbols) if self.pos[i] != 0.0}

    def account(self) -> Account:
        return Account(cash=float(self.cash[0]), equity=float(nb.portfolio_value_nb(self.cash[0], self.pos,
                                                                                      self.val_px)))

    # ----------------------------------------------------------------- the market
    def on_bar(self, bar: Bar) -> None:
        """Fill the working orders and resting stops on ``bar`` (once per bar time)."""
        if self.last_time is not None and bar.time <= self.last_time:
            return  # already processed: the venue sees each bar once
        if tuple(bar.symbols) != self.symbols:
            from harness.errors import InputError

            raise InputError(f"bar symbols {bar.symbols} differ from the broker's {self.symbols}")
        N = len(self.symbols)
        t = self.n_bars
        pos_before = self.pos.copy()
        placed = [self.pending[n] if self.place[n] else None for n in range(N)]
        self._dirty = {n for n in range(N) if placed[n] is not None}
        recs, n_rec = self._recs, self._n_rec  # the kernel's output buffers, reused bar after bar
        n_rec[0] = 0
        self._lazy, self._open = True, False  # the transaction begins at the first write (_begin)
        try:
            nb.execute_bar_nb(t, np.ascontiguousarray(bar.open, dtype=np.float64),
                              np.ascontiguousarray(bar.high, dtype=np.float64),
                              np.ascontiguousarray(bar.low, dtype=np.float64),
                              np.ascontiguousarray(bar.close, dtype=np.float64), self.target, self.place,
                              self.config.fill_at_open, self._p, self.cash, self.pos, self.entry_px, self.extreme,
                              self.val_px, recs, n_rec)
            stops = self._has_stops
            run = pos_before.copy()
            filled: dict[str, list[FillReport]] = {}
            for k in range(int(n_rec[0])):
                r = recs[k]
                n = int(r["col"])
                reason = int(r["reason"])
                cid = placed[n] if reason == 0 else self.stop_leg[n]
                if cid is None:  # cannot happen: every kernel order comes from an order or a stop
                    raise RuntimeError(f"fill of {self.symbols[n]} at bar {t} matches no working order")
                self._fill_seq += 1
                f = FillReport(fill_id=f"{self.name}-f{t}-{k}", seq=self._fill_seq, client_order_id=cid,
                               symbol=self.symbols[n], bar_time=int(bar.time),
                               side="buy" if int(r["side"]) == 0 else "sell", size=float(r["size"]),
                               price=float(r["price"]), fees=float(r["fees"]), reason=EXIT_REASON_NAMES[reason])
                self._add_fill(f)
                filled.setdefault(cid, []).append(f)
                before = run[n]
                new = before + (f.size if f.side == "buy" else -f.size)
                run[n] = 0.0 if nb.is_close_nb(new, 0.0) else new
                if stops:
                    self._stop_leg_after_fill(n, before, run[n], cid, reason)
            for cid, fs in filled.items():
                self._put(self._filled(self._orders[cid], fs))
            for n in range(N):
                cid = placed[n]
                if cid is not None and not self.place[n]:  # the kernel took the order
                    self.pending[n] = None
                    if cid not in filled:
                        self._put(replace(self._orders[cid], state="canceled",
                                          reason="nothing to trade at the fill price"))
                leg = self.stop_leg[n]
                if leg is not None and self.pos[n] != 0.0:
                    stop, _reason, _tp = nb._stop_levels_nb(n, self.pos, self.entry_px, self.extreme, self._p)
                    rep = self._orders[leg]
                    if not _same(float(stop), rep.stop_price):
                        self._put(replace(rep, stop_price=float(stop)))
            self.n_bars = t + 1
            self.last_time = int(bar.time)
            self._save_slots(self._dirty)
            self._dirty = set()
            text = self._book_text()
            self._lazy = False
            self._put_book("book", text)  # inside the bar's transaction, or alone: one statement
            if self._open:
                self._db.execute("COMMIT")
        except BaseException:
            self._lazy = False
            if self._open:
                self._db.execute("ROLLBACK")
            self._load()
            raise
        finally:
            self._open = False

    def _filled(self, rep: OrderReport, fs: list[FillReport]) -> OrderReport:
        all_fills = self._fills.get(rep.client_order_id, [])
        size = sum(f.size for f in all_fills)
        fees = sum(f.fees for f in all_fills)
        avg = sum(f.size * f.price for f in all_fills) / size if size else math.nan
        # the kernel fills an order in one go (a buy cut to what the cash affords is done
        # too: nothing keeps working), so the simulated venue never leaves one partially filled
        return replace(rep, state="filled", filled_size=size, avg_price=avg, fees=fees)

    def _stop_leg_after_fill(self, n: int, before: float, now: float, cid: str, reason: int) -> None:
        """Keep the resting stop order of symbol ``n`` in step with its position after one fill."""
        leg = self.stop_leg[n]
        if reason != 0:  # the stop itself filled: the position is flat, the leg is done (by _filled)
            self.stop_leg[n] = None
            return
        opened = now != 0.0 and (before == 0.0 or (before > 0.0) != (now > 0.0))
        if leg is not None and (now == 0.0 or opened):
            self._put(replace(self._orders[leg], state="canceled", reason="position closed by an order"))
            self.stop_leg[n] = None
        if opened:
            leg = cid[: -len(":target")] + ":stop" if cid.endswith(":target") else f"{cid}:stop"
            self.stop_leg[n] = leg
            self._put(OrderReport(client_order_id=leg, broker_order_id=f"{self.name}-{self._seq + 1}",
                                  symbol=self.symbols[n], leg="stop", state="accepted", parent=cid,
                                  target_weight=0.0))
            prep = self._orders[cid]
            self._put(replace(prep, legs=(*prep.legs, leg)))

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass

