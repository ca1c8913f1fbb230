"""The paper ledger: one SQLite file per deployment, ``<home>/paper/<deployment>.db``.

WAL mode with ``synchronous=NORMAL``: a commit survives the process being killed at any
moment (the WAL is written before ``COMMIT`` returns); only a power loss or an OS crash
before the next checkpoint can lose the last commits (they are never half-applied).

Tables: ``meta`` (deployment, symbols, config, schema), ``orders`` (one row per order,
with its state), ``order_events`` (every state change), ``fills``, ``positions`` (the
ledger's own book, computed from its fills), ``position_history`` (units per symbol
whenever they change), ``bars`` (each processed bar: its digest, cash and equity at the
close), ``runner`` (last processed bar, targets, version, risk state, strategy state),
``risk_events`` (denials and state changes) and ``alerts``.

Each bar is written by the outbox protocol of :mod:`harness.paper._runner`: the bar's
intents in one transaction (:meth:`Ledger.commit_intents`), then, after the broker calls,
its acknowledgements, fills and book in another (:meth:`Ledger.commit_bar`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import LedgerError, LedgerMismatchError

__all__ = ["Ledger", "ledger_path", "SCHEMA_VERSION"]

#: the per-bar state rows: compact JSON, no circular-reference walk (plain dicts of lists and numbers)
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, bar_time INTEGER NOT NULL, symbol TEXT NOT NULL,
    leg TEXT NOT NULL, version TEXT NOT NULL, target_weight REAL, est_units REAL, state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', broker_order_id TEXT NOT NULL DEFAULT '', filled_size REAL NOT NULL DEFAULT 0,
    avg_price REAL, fees REAL NOT NULL DEFAULT 0, stop_price REAL, parent TEXT, updated_time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL, bar_time INTEGER NOT NULL, state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, client_order_id TEXT NOT NULL, bar_time INTEGER NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, size REAL NOT NULL, price REAL NOT NULL, fees REAL NOT NULL,
    reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, units REAL NOT NULL);
CREATE TABLE IF NOT EXISTS position_history (bar_time INTEGER NOT NULL, symbol TEXT NOT NULL, units REAL NOT NULL,
    PRIMARY KEY (bar_time, symbol));
CREATE TABLE IF NOT EXISTS bars (bar_time INTEGER PRIMARY KEY, bar_index INTEGER NOT NULL, digest TEXT NOT NULL,
    cash REAL NOT NULL, equity REAL NOT NULL, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runner (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS risk_events (id INTEGER PRIMARY KEY, bar_time INTEGER, kind TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, bar_time INTEGER, kind TEXT NOT NULL,
    message TEXT NOT NULL, wall_time TEXT NOT NULL);
"""
_TABLES = ("meta", "orders", "order_events", "fills", "positions", "position_history", "bars", "runner",
           "risk_events", "alerts")
_ORDER_COLS = ("client_order_id", "seq", "bar_time", "symbol", "leg", "version", "target_weight", "est_units",
               "state", "reason", "broker_order_id", "filled_size", "avg_price", "fees", "stop_price", "parent",
               "updated_time")
#: the tables :meth:`Ledger.digest` hashes (what the runner did, not when it ran)
DIGEST_TABLES = ("orders", "fills", "position_history", "bars")


def ledger_path(deployment: str) -> Path:
    """``<home>/paper/<deployment>.db``."""
    from harness.config import paths

    return paths().paper / f"{deployment}.db"


def _snap(x: float) -> float:
    from harness.engine.nb import is_close_nb

    return 0.0 if is_close_nb(x, 0.0) else x


class Ledger:
    """A paper ledger. ``Ledger(path)`` opens an existing one (read side and writes).

    ``Ledger.create(path, deployment=..., symbols=..., init_cash=..., config=...)`` makes a
    new one (or opens it when it exists for the same deployment and symbols). A file that
    is not a ledger, or is damaged, is a :class:`~harness.errors.LedgerError`; one of
    another deployment a :class:`~harness.errors.LedgerMismatchError`. Neither is changed.
    """

    def __init__(self, path: str | Path, *, deployment: str | None = None, _create: dict | None = None) -> None:
        self.path = Path(path)
        if _create is None and not self.path.exists():
            raise LedgerError(f"no paper ledger at {self.path}")
        if _create is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            uri = self.path.as_uri() + ("" if _create is not None else "?mode=rw")
            self._db = self._connect(uri, pragmas=False)
            if existed:
                self._check_file(deployment, _create)
            self._pragmas(self._db)
            if not existed:
                self._db.execute("BEGIN IMMEDIATE")
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                meta = {"schema": SCHEMA_VERSION, **_create}
                for k, v in meta.items():
                    self._db.execute("INSERT INTO meta VALUES (?, ?)", (k, json.dumps(v)))
                self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001
                pass
            raise LedgerError(f"paper ledger {self.path} is damaged or not a ledger: {exc}") from None
        self._held = False  # inside exclusive(), holding the locks
        #: set by the paper runner while it holds the deployment's runner lock: no other
        #: connection writes bars then, so :meth:`latest_bar_time` answers from memory
        self.sole_writer = False
        self._no_control = False  # held, and a look found no control request
        self.meta = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
        self.deployment: str = self.meta["deployment"]
        self.symbols: tuple[str, ...] = tuple(self.meta["symbols"])
        self._col = {s: i for i, s in enumerate(self.symbols)}
        self._load_book()

    @staticmethod
    def _pragmas(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=8000")

    @classmethod
    def _connect(cls, uri: str, *, pragmas: bool = True) -> sqlite3.Connection:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
        if pragmas:
            cls._pragmas(db)
        return db

    def _check_file(self, deployment: str | None, create: dict | None) -> None:
        db = self._db
        ok = db.execute("PRAGMA quick_check").fetchone()
        if ok is None or ok[0] != "ok":
            raise LedgerError(f"paper ledger {self.path} failed SQLite's integrity check: {ok and ok[0]}")
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = [t for t in _TABLES if t not in names]
        if missing:
            raise LedgerError(f"{self.path} is not a paper ledger: table(s) {', '.join(missing)} missing")
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        for key in ("schema", "deployment", "symbols", "init_cash"):
            if key not in meta:
                raise LedgerError(f"paper ledger {self.path}: meta key {key!r} missing")
        if meta["schema"] != SCHEMA_VERSION:
            raise LedgerError(f"paper ledger {self.path} has schema {meta['schema']}, this harness reads "
                              f"{SCHEMA_VERSION}")
        want = deployment if deployment is not None else (create or {}).get("deployment")
        if want is not None and meta["deployment"] != want:
            raise LedgerMismatchError(f"paper ledger {self.path} belongs to deployment {meta['deployment']!r}, "
                                      f"not {want!r}")
        if create is not None and list(meta["symbols"]) != list(create["symbols"]):
            raise LedgerMismatchError(f"paper ledger {self.path} trades symbols {meta['symbols']}, "
                                      f"not {list(create['symbols'])}")

    @classmethod
    def create(cls, path: str | Path, *, deployment: str, symbols, init_cash: float,
               config: dict | None = None) -> Ledger:
        return cls(path, deployment=deployment, _create={"deployment": deployment, "symbols": list(symbols),
                                                         "init_cash": float(init_cash), "config": config or {}})

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Hold the ledger file's locks for the block instead of taking them per transaction;
        yields whether it could (False: another connection has the file open, and the block
        runs with the usual per-transaction locks).

        For a scratch ledger that no other process reads meanwhile (``replay``): the
        per-bar transactions then skip SQLite's lock and unlock calls. On leaving, the
        locks are released and the file is shared again. The WAL and
        ``synchronous=NORMAL`` are unchanged, so each commit survives a killed process as
        before.
        """
        db = self._db
        held = False
        db.execute("PRAGMA busy_timeout=0")  # another open connection: fall back at once, never wait
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            try:
                db.execute("BEGIN IMMEDIATE")  # takes the lock now (kept after the commit), or fails now
                db.execute("COMMIT")
                held = True
            except sqlite3.OperationalError:
                # a failed exclusive attempt can leave a pending lock that blocks other readers:
                # a new connection starts clean
                db.close()
                self._db = db = self._connect(self.path.as_uri() + "?mode=rw")
        finally:
            db.execute("PRAGMA busy_timeout=30000")
        self._held = held
        try:
            yield held
        finally:
            self._held = self._no_control = False
            if held:
                self._normal_locks()

    def _normal_locks(self) -> None:
        """Back to per-transaction locks; the next access drops whatever the connection holds."""
        self._db.execute("PRAGMA locking_mode=NORMAL")
        self._db.execute("SELECT 1 FROM meta LIMIT 1").fetchone()

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            pass

    # ----------------------------------------------------------------- the book
    def _load_book(self) -> None:
        db = self._db
        N = len(self.symbols)
        self.book_pos = np.zeros(N)
        for sym, units in db.execute("SELECT symbol, units FROM positions"):
            self.book_pos[self._col[sym]] = units
        row = db.execute("SELECT cash, bar_time FROM bars ORDER BY bar_time DESC LIMIT 1").fetchone()
        self.book_cash = float(self.meta["init_cash"]) if row is None else float(row[0])
        self._last_time: int | None = None if row is None else int(row[1])
        self.fill_ids = {r[0] for r in db.execute("SELECT fill_id FROM fills")}
        self._fill_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM fills").fetchone()[0]
        self._order_seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()[0]
        self.open = {r[0]: r[1] for r in db.execute(
            "SELECT client_order_id, state FROM orders WHERE state NOT IN "
            "('filled','partially_filled','canceled','rejected')")}
        row = db.execute("SELECT value FROM runner WHERE key='state'").fetchone()
        self.runner_state = {} if row is None else json.loads(row[0])

    def apply_fill(self, symbol: str, side: str, size: float, price: float, fees: float) -> None:
        """The ledger's own book after a fill (in memory until :meth:`commit_bar`)."""
        n = self._col[symbol]
        if side == "buy":
            self.book_pos[n] = _snap(self.book_pos[n] + size)
            self.book_cash = _snap(self.book_cash - (size * price + fees))
        else:
            self.book_pos[n] = _snap(self.book_pos[n] - size)
            self.book_cash = _snap(self.book_cash + (size * price - fees))

    def settle_cash(self, venue_cash: float, *, notional: float) -> None:
        """The venue's cash, where the book's own sum of the bar's fills (``notional`` = their
        size * price + fees) differs from it by rounding alone (1e-9 of that notional): the
        engine books a buy that spends all the cash it may as exactly that cash, which
        ``size * price + fees`` misses by an ulp. A larger difference is left as it is, for
        reconciliation and the tracking error to find."""
        from harness.engine.nb import REL_TOL

        venue_cash = float(venue_cash)
        if venue_cash != self.book_cash and abs(venue_cash - self.book_cash) <= REL_TOL * abs(notional):
            self.book_cash = venue_cash

    # ----------------------------------------------------------------- the outbox
    def commit_intents(self, bar_time: int, orders: list[dict], runner: dict[str, Any]) -> None:
        """Transaction 1 of a bar: its order intents (state ``new``) and the runner state."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for o in orders:
                self._order_seq += 1
                row = {"seq": self._order_seq, "state": "new", "reason": "", "broker_order_id": "",
                       "filled_size": 0.0, "avg_price": None, "fees": 0.0, "stop_price": None, "parent": None,
                       "updated_time": bar_time, **o}
                db.execute(f"INSERT INTO orders ({','.join(_ORDER_COLS)}) VALUES ({','.join('?' * len(_ORDER_COLS))})",
                           [row[c] for c in _ORDER_COLS])
                db.execute("INSERT INTO order_events (client_order_id, bar_time, state, reason) VALUES (?,?,?,?)",
                           (o["client_order_id"], bar_time, "new", ""))
                self.open[o["client_order_id"]] = "new"
            self._put_runner(runner)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._load_book()
            raise

    def commit_bar(self, *, bar_time: int, bar_index: int, digest: str, equity: float, version: str,
                   updates: list[dict], new_orders: list[dict], fills: list[dict], changed: list[int],
                   runner: dict[str, Any], risk_events: list[dict] = (), alerts: list[dict] = ()) -> None:
        """Transaction 3 of a bar: acknowledgements and order states, fills, the book, equity, runner state.

        ``fills`` have already been applied with :meth:`apply_fill`; ``changed`` are the
        columns whose units changed in this bar.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for o in new_orders:  # orders the broker created for us (resting stops)
                self._order_seq += 1
                row = {"seq": self._order_seq, "reason": "", "filled_size": 0.0, "avg_price": None, "fees": 0.0,
                       "stop_price": None, "parent": None, "target_weight": None, "est_units": None,
                       "updated_time": bar_time, **o}
                db.execute(f"INSERT INTO orders ({','.join(_ORDER_COLS)}) VALUES ({','.join('?' * len(_ORDER_COLS))})",
                           [row[c] for c in _ORDER_COLS])
                db.execute("INSERT INTO order_events (client_order_id, bar_time, state, reason) VALUES (?,?,?,?)",
                           (o["client_order_id"], bar_time, o["state"], o.get("reason", "")))
            for u in updates:
                cid = u["client_order_id"]
                db.execute("UPDATE orders SET state=?, reason=?, broker_order_id=?, filled_size=?, avg_price=?, "
                           "fees=?, stop_price=?, updated_time=? WHERE client_order_id=?",
                           (u["state"], u.get("reason", ""), u.get("broker_order_id", ""), u.get("filled_size", 0.0),
                            u.get("avg_price"), u.get("fees", 0.0), u.get("stop_price"), bar_time, cid))
                if u.get("state_changed", True):
                    for st in u.get("path", (u["state"],)):
                        db.execute("INSERT INTO order_events (client_order_id, bar_time, state, reason) "
                                   "VALUES (?,?,?,?)", (cid, bar_time, st, u.get("reason", "")))
            for f in fills:
                self._fill_seq += 1
                db.execute("INSERT INTO fills VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (f["fill_id"], self._fill_seq, f["client_order_id"], f["bar_time"], f["symbol"],
                            f["side"], f["size"], f["price"], f["fees"], f["reason"]))
            for n in changed:
                sym = self.symbols[n]
                db.execute("INSERT OR REPLACE INTO positions VALUES (?, ?)", (sym, float(self.book_pos[n])))
                db.execute("INSERT OR REPLACE INTO position_history VALUES (?, ?, ?)",
                           (bar_time, sym, float(self.book_pos[n])))
            db.execute("INSERT INTO bars VALUES (?,?,?,?,?,?)",
                       (bar_time, bar_index, digest, self.book_cash, equity, version))
            for e in risk_events:
                self._risk_row(e)
            for a in alerts:
                self._alert_row(a)
            self._put_runner(runner)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._load_book()
            raise
        self._last_time = int(bar_time)
        for f in fills:
            self.fill_ids.add(f["fill_id"])
        for u in updates:
            if u["state"] in ("filled", "partially_filled", "canceled", "rejected"):
                self.open.pop(u["client_order_id"], None)
            else:
                self.open[u["client_order_id"]] = u["state"]
        for o in new_orders:
            if o["state"] not in ("filled", "partially_filled", "canceled", "rejected"):
                self.open[o["client_order_id"]] = o["state"]

    def _put_runner(self, runner: dict[str, Any]) -> None:
        """The runner state: one JSON row (``key = 'state'``), merged with what was there."""
        state = {**self.runner_state, **runner}
        text = _dumps(state)
        # an UPDATE in place costs half an INSERT OR REPLACE (a delete and an insert); the row exists after the first
        if self._db.execute("UPDATE runner SET value=? WHERE key='state'", (text,)).rowcount == 0:
            self._db.execute("INSERT INTO runner VALUES ('state', ?)", (text,))
        self.runner_state = state

    def _risk_row(self, e: dict) -> None:
        self._db.execute("INSERT INTO risk_events (bar_time, kind, state, reason, detail) VALUES (?,?,?,?,?)",
                         (e.get("bar_time"), e["kind"], e["state"], e["reason"], json.dumps(e.get("detail", {}))))

    def _alert_row(self, a: dict) -> None:
        from datetime import UTC, datetime

        self._db.execute("INSERT INTO alerts (bar_time, kind, message, wall_time) VALUES (?,?,?,?)",
                         (a.get("bar_time"), a["kind"], a["message"], datetime.now(UTC).isoformat()))

    def update_orders(self, updates: list[dict], bar_time: int) -> None:
        """Order states changed outside a bar (a cancel by the kill switch), in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for u in updates:
                db.execute("UPDATE orders SET state=?, reason=?, updated_time=? WHERE client_order_id=?",
                           (u["state"], u.get("reason", ""), bar_time, u["client_order_id"]))
                db.execute("INSERT INTO order_events (client_order_id, bar_time, state, reason) VALUES (?,?,?,?)",
                           (u["client_order_id"], bar_time, u["state"], u.get("reason", "")))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._load_book()
            raise
        for u in updates:
            if u["state"] in ("filled", "partially_filled", "canceled", "rejected"):
                self.open.pop(u["client_order_id"], None)
            else:
                self.open[u["client_order_id"]] = u["state"]

    def control(self) -> list[dict]:
        """The requests other processes left for the running runner (``harness paper halt/resume``), oldest first."""
        row = self._db.execute("SELECT value FROM runner WHERE key='control'").fetchone()
        return [] if row is None else _requests(json.loads(row[0]))

    def push_control(self, request: dict) -> None:
        """Queue a request for the running runner; requests made before it looks are all kept, in order."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM runner WHERE key='control'").fetchone()
            queue = [] if row is None else _requests(json.loads(row[0]))
            db.execute("INSERT OR REPLACE INTO runner VALUES ('control', ?)", (json.dumps([*queue, request]),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._no_control = False

    def take_control(self) -> list[dict]:
        """Remove and return every queued request, oldest first (one transaction: none is lost or taken twice).

        An empty queue is seen by one read outside any transaction (a request queued after
        it is taken at the next look), so the per-bar cost of asking is one statement. While
        the ledger is held :meth:`exclusive`, no other connection can queue one: after one
        look finds the queue empty, none is made until this object queues a request."""
        db = self._db
        if self._no_control:
            return []
        if db.execute("SELECT 1 FROM runner WHERE key='control'").fetchone() is None:
            self._no_control = self._held
            return []
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM runner WHERE key='control'").fetchone()
            if row is not None:
                db.execute("DELETE FROM runner WHERE key='control'")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [] if row is None else _requests(json.loads(row[0]))

    def record(self, *, runner: dict[str, Any] | None = None, risk_events: list[dict] = (),
               alerts: list[dict] = ()) -> None:
        """One transaction outside a bar: a state change, a denial, an alert."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for e in risk_events:
                self._risk_row(e)
            for a in alerts:
                self._alert_row(a)
            if runner:
                self._put_runner(runner)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._load_book()
            raise

    # ----------------------------------------------------------------- read side
    def bar_digest(self, bar_time: int) -> str | None:
        row = self._db.execute("SELECT digest FROM bars WHERE bar_time=?", (int(bar_time),)).fetchone()
        return None if row is None else row[0]

    def order_rows(self, client_order_ids=None) -> list[dict]:
        q = f"SELECT {','.join(_ORDER_COLS)} FROM orders"
        if client_order_ids is None:
            rows = self._db.execute(q + " ORDER BY seq").fetchall()
        else:
            ids = list(client_order_ids)
            rows = []
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                rows += self._db.execute(q + f" WHERE client_order_id IN ({','.join('?' * len(chunk))}) ORDER BY seq",
                                         chunk).fetchall()
        return [dict(zip(_ORDER_COLS, r, strict=True)) for r in rows]

    def fills_by_order(self) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {}
        for cid, fid, size, price in self._db.execute(
                "SELECT client_order_id, fill_id, size, price FROM fills ORDER BY seq"):
            out.setdefault(cid, []).append((fid, size, price))
        return out

    def _frame(self, sql: str, params=()):
        import pandas as pd

        cur = self._db.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)

    @staticmethod
    def _times(values):
        import pandas as pd

        return pd.to_datetime(np.asarray(values, dtype=np.int64), unit="ns", utc=True)

    def orders(self):
        """Every order, in the order it was created, with its ``client_order_id`` and ``state``."""
        df = self._frame(f"SELECT {','.join(_ORDER_COLS)} FROM orders ORDER BY seq")
        df.insert(0, "time", self._times(df["bar_time"]))
        return df

    def fills(self):
        df = self._frame("SELECT * FROM fills ORDER BY seq")
        df.insert(0, "time", self._times(df["bar_time"]))
        return df

    def latest_bar_time(self) -> int | None:
        """The time (int64 ns) of the last processed bar, None before the first. From memory
        while this object is the only writer (:attr:`sole_writer`, or inside :meth:`exclusive`),
        so a monitor can ask after every bar for free; else a query."""
        if self.sole_writer or self._held:
            return self._last_time
        row = self._db.execute("SELECT MAX(bar_time) FROM bars").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def equity_rows(self, after: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The processed bars' times (int64 ns) and equity, in time order; with ``after``, only
        the bars after that time (the primary key's range, so a monitor polling a growing
        ledger reads only its new rows)."""
        if after is None:
            rows = self._db.execute("SELECT bar_time, equity FROM bars ORDER BY bar_time").fetchall()
        else:
            rows = self._db.execute("SELECT bar_time, equity FROM bars WHERE bar_time > ? ORDER BY bar_time",
                                    (int(after),)).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        times, equity = zip(*rows, strict=True)
        return np.array(times, dtype=np.int64), np.array(equity, dtype=np.float64)

    def version_rows(self, after: int | None = None) -> tuple[np.ndarray, list[str]]:
        """The processed bars' times (int64 ns) and the version that traded each, in time order;
        with ``after``, only the bars after that time."""
        rows = self._db.execute("SELECT bar_time, version FROM bars WHERE bar_time > ? ORDER BY bar_time",
                                (-(2**63) if after is None else int(after),)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), [str(r[1]) for r in rows]

    def equity(self):
        import pandas as pd

        times, equity = self.equity_rows()
        return pd.Series(equity, index=self._times(times).rename("timestamp"), name="equity")

    def cash(self):
        import pandas as pd

        df = self._frame("SELECT bar_time, cash FROM bars ORDER BY bar_time")
        return pd.Series(df["cash"].to_numpy(dtype=float), index=self._times(df["bar_time"]).rename("timestamp"),
                         name="cash")

    def positions(self):
        """Units held at each processed bar's close (one column per symbol)."""
        import pandas as pd

        times = np.array([r[0] for r in self._db.execute("SELECT bar_time FROM bars ORDER BY bar_time")],
                         dtype=np.int64)
        out = np.zeros((times.size, len(self.symbols)))
        if times.size:
            for bt, sym, units in self._db.execute(
                    "SELECT bar_time, symbol, units FROM position_history ORDER BY bar_time"):
                i = int(np.searchsorted(times, bt))
                out[i:, self._col[sym]] = units
        return pd.DataFrame(out, index=self._times(times).rename("timestamp"), columns=list(self.symbols))

    def current_positions(self) -> dict[str, float]:
        return {s: float(self.book_pos[i]) for i, s in enumerate(self.symbols) if self.book_pos[i] != 0.0}

    def state(self) -> dict[str, Any]:
        """The runner's state: last processed bar, version, targets, risk state, ..."""
        return dict(self.runner_state)

    def risk_events(self):
        return self._frame("SELECT * FROM risk_events ORDER BY id")

    def alerts(self):
        return self._frame("SELECT * FROM alerts ORDER BY id")

    def n_bars(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM bars").fetchone()[0]

    def digest(self) -> str:
        """SHA-256 over the rows of orders, fills, positions history and bars, in key order."""
        h = hashlib.sha256()
        for table in DIGEST_TABLES:
            h.update(table.encode())
            order = {"orders": "seq", "fills": "seq", "position_history": "bar_time, symbol",
                     "bars": "bar_time"}[table]
            for row in self._db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(json.dumps([_canon(v) for v in row]).encode())
        return h.hexdigest()

    def table_rows(self, table: str) -> list[tuple]:
        if table not in _TABLES:
            raise LedgerError(f"no table {table!r} in a paper ledger")
        return self._db.execute(f"SELECT * FROM {table}").fetchall()


def _canon(v: Any) -> Any:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return v


def _requests(value: Any) -> list[dict]:
    """The control queue; a ledger written before requests were queued holds one request, not a list."""
    return [value] if isinstance(value, dict) else list(value)
