"""The append-only, hash-chained audit trail (``<home>/audit.log``).

Every decision the live half takes is one JSON line::

    {"seq": 7, "time": "2026-12-02T06:10:00.123456+00:00", "kind": "promotion",
     "actor": "alice", "deployment": "spx-sma", "payload": {...},
     "user": "quant", "host": "box1", "prev": "<hash of seq 6>", "hash": "<sha256>"}

``hash`` is the SHA-256 of the canonical JSON of the record without ``hash``:
``json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` encoded
as UTF-8. The first record's ``prev`` is 64 zeros, ``seq`` starts at 1. Non-finite floats
in a payload are stored as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` so that
every line is strict JSON.

Appends hold an exclusive ``flock`` on ``audit.log.lock`` (several processes append at
once: the CLI, a retrain, the paper runner), write the whole line with one ``write`` on an
``O_APPEND`` descriptor and ``fsync`` it. After each append the head ``(seq, hash)`` is
anchored outside the file, in the MLflow store (:mod:`harness.registry._mlflow`), so that
a truncated tail is detected by :meth:`AuditTrail.verify`.

A process killed mid-append can leave a torn last line: :meth:`~AuditTrail.verify`
reports it as torn (not tampered), appends refuse to chain onto it, and
:meth:`~AuditTrail.repair` (``harness audit repair --by WHO``) drops it and records an
``audit_repaired`` record of its own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import hashlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import AuditError, AuditTamperedError, AuditTornError, InputError

__all__ = ["KINDS", "GENESIS", "AuditTrail", "VerifyReport", "append", "canonical", "record_hash", "trail"]

_log = logging.getLogger("harness.audit")

GENESIS = "0" * 64

# The allowed record kinds, one per line: a helper that needs a new kind adds one line.
KINDS = (
    "run_logged",
    "deployment_created",
    "deployment_changed",
    "retrain_triggered",
    "candidate_registered",
    "retrain_completed",
    "detector_reset",
    "challenger_set",
    "gate_decision",
    "approval",
    "rejection",
    "self_approval",
    "promotion",
    "rollback",
    "paper_started",
    "paper_stopped",
    "paper_swap",
    "risk_state",
    "ledger_digest",
    "drift_alert",
    "audit_repaired",
    "watch_started",
    "watch_stopped",
    "watch_child_failed",
)

_FIELDS = ("seq", "time", "kind", "actor", "deployment", "payload", "user", "host", "prev", "hash")
_LOCK_TIMEOUT = 60.0


def canonical(record: Mapping[str, Any]) -> bytes:
    """The canonical JSON of ``record`` without its ``hash`` field, UTF-8 encoded."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical` ``(record)``."""
    return hashlib.sha256(canonical(record)).hexdigest()


def _plain(value: Any, where: str) -> Any:
    """``value`` as strict-JSON data (dicts with str keys, lists, str, int, float, bool, None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (Path, datetime)):
        return str(value) if isinstance(value, Path) else value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return _plain(item(), where)
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return _plain(tolist(), where)
    raise InputError(f"audit payload field {where}: {type(value).__name__} is not JSON data "
                     "(use str, int, float, bool, None, lists and dicts)")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return str(os.getuid())


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _parse_time(value: Any, what: str = "since") -> datetime:
    """A timezone-aware UTC datetime from an ISO string, datetime, date or pandas Timestamp."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{what}: {value!r} is not an ISO-8601 time (e.g. 2026-03-14 or "
                             "2026-03-14T09:30:00+00:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """What :meth:`AuditTrail.verify` found.

    ``ok`` is False when a record was edited, removed, inserted or reordered, or the tail
    was truncated below the anchor; ``problem`` then says what and ``bad_seq`` / ``bad_line``
    name the first such record. ``torn`` (a killed append left a partial last line) does
    not make the trail tampered: ``ok`` stays True and ``harness audit repair`` fixes it.
    """

    ok: bool
    count: int
    head: tuple[int, str]
    torn: bool = False
    torn_line: int | None = None
    problem: str | None = None
    bad_seq: int | None = None
    bad_line: int | None = None
    anchor: tuple[int, str] | None = None
    anchor_status: str = "not checked"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "head": {"seq": self.head[0], "hash": self.head[1]},
                "torn": self.torn, "torn_line": self.torn_line, "problem": self.problem,
                "bad_seq": self.bad_seq, "bad_line": self.bad_line,
                "anchor": None if self.anchor is None else {"seq": self.anchor[0], "hash": self.anchor[1]},
                "anchor_status": self.anchor_status, "warnings": list(self.warnings)}


class AuditTrail:
    """The hash-chained JSON-lines trail at ``path`` (default ``<home>/audit.log``).

    ``anchor``: True (default) anchors the head in the MLflow store of ``mlflow_uri``
    (default :func:`harness.registry.tracking_uri`) after each append and checks it in
    :meth:`verify`; False keeps the trail self-contained (no truncation detection).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, anchor: bool = True,
                 mlflow_uri: str | None = None) -> None:
        if path is None:
            from harness.config import paths

            path = paths().audit_log
        self.path = Path(path).expanduser().absolute()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.anchor = anchor
        self._mlflow_uri = mlflow_uri
        self._anchor_store = None

    def __repr__(self) -> str:
        return f"AuditTrail({str(self.path)!r})"

    # ----------------------------------------------------------------- locking
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + _LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() > deadline:
                        raise AuditError(f"{self.lock_path}: another process has held the audit lock for more "
                                         f"than {_LOCK_TIMEOUT:.0f} s") from None
                    time.sleep(0.005)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ------------------------------------------------------------------ anchor
    def _anchors(self):
        if self._anchor_store is None:
            from harness.registry._mlflow import AuditAnchor

            self._anchor_store = AuditAnchor(self.path, uri=self._mlflow_uri)
        return self._anchor_store

    def _write_anchor(self, seq: int, hash_: str, first: str) -> None:
        if not self.anchor:
            return
        try:
            self._anchors().write(seq, hash_, first)
        except Exception as exc:  # the record is stored; a lagging anchor is tolerated by verify
            _log.warning("audit record %d is stored but its anchor could not be written to the MLflow store: %s",
                         seq, exc)

    # ------------------------------------------------------------------- reads
    def _tail(self, fd: int) -> tuple[bytes, bytes | None]:
        """(last complete line, trailing partial bytes or None) of the open file ``fd``."""
        size = os.fstat(fd).st_size
        if size == 0:
            return b"", None
        chunk = 65536
        buf = b""
        pos = size
        while pos > 0:
            start = max(0, pos - chunk)
            buf = os.pread(fd, pos - start, start) + buf
            pos = start
            # need the last "\n" and the one before the last complete line
            body = buf[:-1] if buf.endswith(b"\n") else buf
            if b"\n" in body or pos == 0:
                break
        if buf.endswith(b"\n"):
            lines = buf[:-1].rsplit(b"\n", 1)
            return lines[-1], None
        head, _, partial = buf.rpartition(b"\n")
        last = head.rsplit(b"\n", 1)[-1] if head else b""
        return last, partial

    def _read_lines(self) -> tuple[list[bytes], bytes | None]:
        """(complete lines, trailing partial line or None)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], None
        if not data:
            return [], None
        if data.endswith(b"\n"):
            return data[:-1].split(b"\n"), None
        head, _, partial = data.rpartition(b"\n")
        return (head.split(b"\n") if head else []), partial

    def records(self, *, deployment: str | None = None, kind: str | None = None,
                since: Any = None) -> list[dict]:
        """The stored records, oldest first, optionally filtered (``since``: ISO time or datetime, inclusive).

        A torn last line is skipped; a middle line that is not JSON raises :class:`AuditTamperedError`.
        """
        if kind is not None and kind not in KINDS:
            raise InputError(f"unknown audit kind {kind!r}; expected one of {', '.join(KINDS)}")
        cutoff = _parse_time(since) if since is not None else None
        lines, _ = self._read_lines()
        out = []
        for i, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
            except ValueError:
                raise AuditTamperedError(f"{self.path}: line {i} is not a JSON record; run `harness audit verify`") \
                    from None
            if deployment is not None and rec.get("deployment") != deployment:
                continue
            if kind is not None and rec.get("kind") != kind:
                continue
            if cutoff is not None and _parse_time(rec.get("time"), f"line {i} time") < cutoff:
                continue
            out.append(rec)
        return out

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last complete record; ``(0, GENESIS)`` for an empty trail."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0, GENESIS
        try:
            last, _ = self._tail(fd)
        finally:
            os.close(fd)
        if not last:
            return 0, GENESIS
        try:
            rec = json.loads(last)
            return int(rec["seq"]), str(rec["hash"])
        except (ValueError, KeyError, TypeError):
            raise AuditTamperedError(f"{self.path}: the last complete line is not an audit record; "
                                     "run `harness audit verify`") from None

    def anchored_head(self) -> tuple[int, str] | None:
        """The head anchored in the MLflow store for this trail (None: never anchored)."""
        first = self._first_hash()
        return self._anchors().read(first)

    def _first_hash(self) -> str | None:
        try:
            with self.path.open("rb") as fh:
                line = fh.readline()
        except FileNotFoundError:
            return None
        try:
            return str(json.loads(line)["hash"]) if line.endswith(b"\n") else None
        except (ValueError, KeyError, TypeError):
            return None

    # ------------------------------------------------------------------ append
    def append(self, kind: str, *, actor: str, deployment: str | None = None,
               payload: Mapping[str, Any] | None = None) -> dict:
        """Append one record under the lock, fsync it, anchor the head; returns the stored record."""
        if kind not in KINDS:
            raise InputError(f"unknown audit kind {kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(actor, str) or not actor.strip():
            raise InputError(f"audit {kind}: actor must name the person (--by) or the system step, got {actor!r}")
        if deployment is not None:
            from harness.registry._names import check_deployment_name

            check_deployment_name(deployment)
        if payload is not None and not isinstance(payload, Mapping):
            raise InputError(f"audit {kind}: payload must be a mapping, got {type(payload).__name__}")
        body = _plain(dict(payload or {}), "payload")
        with self._locked():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                last, partial = self._tail(fd)
                if partial is not None:
                    raise AuditTornError(f"{self.path} ends in a torn line (a process was killed mid-append); "
                                         "nothing is chained onto it: run `harness audit repair --by NAME`")
                if last:
                    try:
                        prev_rec = json.loads(last)
                        seq, prev = int(prev_rec["seq"]) + 1, str(prev_rec["hash"])
                    except (ValueError, KeyError, TypeError):
                        raise AuditTamperedError(f"{self.path}: the last line is not an audit record; "
                                                 "run `harness audit verify`") from None
                else:
                    seq, prev = 1, GENESIS
                rec = {"seq": seq, "time": _utc_now(), "kind": kind, "actor": actor.strip(),
                       "deployment": deployment, "payload": body, "user": _os_user(),
                       "host": socket.gethostname(), "prev": prev}
                rec["hash"] = record_hash(rec)
                line = json.dumps({k: rec[k] for k in _FIELDS}, separators=(",", ":"),
                                  ensure_ascii=False).encode("utf-8") + b"\n"
                written = os.write(fd, line)
                while written < len(line):  # short writes (disk nearly full, signals) finish the line
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            finally:
                os.close(fd)
            first = rec["hash"] if seq == 1 else (self._first_hash() or "")
            self._write_anchor(seq, rec["hash"], first)
        return rec

    # ------------------------------------------------------------------ verify
    def verify(self) -> VerifyReport:
        """Check every record's hash, the chain and the anchored head; see :class:`VerifyReport`."""
        lines, partial = self._read_lines()
        prev, expected, count = GENESIS, 1, 0
        head = (0, GENESIS)
        hashes: dict[int, str] = {}
        problem = bad_seq = bad_line = None
        torn = partial is not None
        torn_line = len(lines) + 1 if torn else None
        seqs = []
        for line in lines:
            try:
                seqs.append(int(json.loads(line)["seq"]))
            except Exception:
                seqs.append(None)
        for i, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or set(rec) != set(_FIELDS):
                    raise ValueError
                seq = int(rec["seq"])
            except (ValueError, TypeError):
                problem, bad_line, bad_seq = f"line {i} is not a well-formed audit record (edited)", i, expected
                break
            if record_hash(rec) != rec["hash"]:
                problem, bad_line, bad_seq = f"record seq {seq} (line {i}) was edited: its hash does not match " \
                                             "its content", i, seq
                break
            if seq != expected:
                if seq > expected and expected not in seqs[i:]:
                    what = f"record seq {expected} was removed (line {i} holds seq {seq})"
                elif seq < expected:
                    what = f"record seq {seq} at line {i} is out of place (inserted or reordered; expected seq {expected})"
                else:
                    what = f"records were reordered: line {i} holds seq {seq}, expected seq {expected}"
                problem, bad_line, bad_seq = what, i, min(seq, expected)
                break
            if rec["prev"] != prev:
                problem = (f"the chain breaks at seq {seq} (line {i}): its prev does not match the hash of seq "
                           f"{seq - 1} — seq {seq - 1} was edited (hash recomputed) or seq {seq} was inserted")
                bad_line, bad_seq = i, max(seq - 1, 1)
                break
            prev, expected, count = rec["hash"], seq + 1, count + 1
            head = (seq, rec["hash"])
            hashes[seq] = rec["hash"]
        if problem is not None:
            torn, torn_line = False, None  # a tampered trail is not merely torn
        anchor, status, warns = None, "not checked", []
        if self.anchor:
            try:
                anchor = self._anchors().read(next(iter(hashes.values()), None))
            except Exception as exc:
                status = f"unavailable: {exc}"
                warns.append(f"the anchor could not be read from the MLflow store ({exc}); truncation is not checked")
            else:
                if anchor is None:
                    status = "none"
                    if count:
                        warns.append("no anchored head in the MLflow store for this trail; truncation is not checked")
                elif problem is None:
                    a_seq, a_hash = anchor
                    if a_seq > head[0]:
                        problem = (f"the trail was truncated: the MLflow anchor holds seq {a_seq} but the file ends "
                                   f"at seq {head[0]}")
                        bad_seq, bad_line = head[0] + 1, head[0] + 1
                        status = "ahead of the file"
                    elif hashes.get(a_seq) != a_hash:
                        problem = f"record seq {a_seq} differs from the hash anchored in the MLflow store (rewritten)"
                        bad_seq, bad_line = a_seq, a_seq
                        status = "mismatch"
                    else:
                        status = "ok" if a_seq == head[0] else f"ok ({head[0] - a_seq} record(s) newer than the anchor)"
        if torn:
            warns.append(f"line {torn_line} is torn (a process was killed mid-append); run `harness audit repair --by NAME`")
        return VerifyReport(ok=problem is None, count=count, head=head, torn=torn, torn_line=torn_line,
                            problem=problem, bad_seq=bad_seq, bad_line=bad_line, anchor=anchor,
                            anchor_status=status, warnings=tuple(warns))

    # ------------------------------------------------------------------ repair
    def repair(self, *, by: str) -> dict | None:
        """Drop a torn last line (or complete it, when it is a whole record missing its newline).

        Writes an ``audit_repaired`` record naming ``by``; returns it, or None when nothing
        was torn. A tampered trail is not repaired (:class:`AuditTamperedError`).
        """
        if not isinstance(by, str) or not by.strip():
            raise InputError("audit repair: --by must name the person responsible")
        with self._locked():
            lines, partial = self._read_lines()
            if partial is None:
                return None
            report = self.verify()
            if not report.ok:  # never touch a tampered trail
                raise AuditTamperedError(f"{self.path}: not repaired, the trail is tampered: {report.problem}")
            kept = sum(len(x) + 1 for x in lines)
            completed = False
            try:
                rec = json.loads(partial)
                prev = json.loads(lines[-1])["hash"] if lines else GENESIS
                completed = (isinstance(rec, dict) and set(rec) == set(_FIELDS) and record_hash(rec) == rec["hash"]
                             and rec["prev"] == prev and int(rec["seq"]) == len(lines) + 1)
            except (ValueError, KeyError, TypeError):
                completed = False
            fd = os.open(self.path, os.O_RDWR)
            try:
                if completed:
                    os.lseek(fd, 0, os.SEEK_END)
                    os.write(fd, b"\n")
                else:
                    os.ftruncate(fd, kept)
                os.fsync(fd)
            finally:
                os.close(fd)
        return self.append("audit_repaired", actor=by, payload={
            "line": len(lines) + 1, "action": "completed" if completed else "dropped",
            "bytes": len(partial), "text": partial[:200].decode("utf-8", "replace")})


_TRAILS: dict[Path, AuditTrail] = {}


def trail() -> AuditTrail:
    """The trail of the current home (``<home>/audit.log``), cached per path."""
    from harness.config import paths

    path = paths().audit_log
    found = _TRAILS.get(path)
    if found is None:
        found = _TRAILS[path] = AuditTrail(path)
    return found


def append(kind: str, *, actor: str, deployment: str | None = None, payload: Mapping[str, Any] | None = None) -> dict:
    """Append one record to the current home's trail (see :meth:`AuditTrail.append`)."""
    return trail().append(kind, actor=actor, deployment=deployment, payload=payload)
