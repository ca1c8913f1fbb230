"""The hash-chained audit trail: chain, every kind of tampering, torn lines, repair, concurrency, SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from harness.audit import GENESIS, KINDS, AuditTrail
from harness.errors import AuditTamperedError, AuditTornError, InputError

ISSUE_KINDS = ("run_logged", "deployment_created", "retrain_triggered", "candidate_registered", "gate_decision",
               "approval", "rejection", "promotion", "rollback", "paper_started", "paper_stopped", "paper_swap",
               "risk_state", "ledger_digest", "drift_alert")
REPO = Path(__file__).resolve().parents[2]


def _trail(home: Path, n: int = 5, *, anchor: bool = False) -> AuditTrail:
    trail = AuditTrail(home / "audit.log", anchor=anchor)
    for i in range(n):
        trail.append("risk_state", actor="harness.paper", deployment="spx-sma", payload={"i": i, "state": "normal"})
    return trail


def _lines(trail: AuditTrail) -> list[str]:
    return trail.path.read_text().splitlines()


def _write(trail: AuditTrail, lines: list[str]) -> None:
    trail.path.write_text("".join(line + "\n" for line in lines))


def _rehash(rec: dict) -> dict:
    """What a careful forger does: recompute the record's own hash after editing it."""
    body = {k: v for k, v in rec.items() if k != "hash"}
    rec["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False).encode()).hexdigest()
    return rec


def test_the_issue_kinds_exist():
    assert set(ISSUE_KINDS) <= set(KINDS)
    assert len(set(KINDS)) == len(KINDS)


def test_records_chain_by_the_published_rule(harness_home):
    trail = _trail(harness_home, 4)
    prev = GENESIS
    for seq, line in enumerate(_lines(trail), 1):
        rec = json.loads(line)
        assert set(rec) == {"seq", "time", "kind", "actor", "deployment", "payload", "user", "host", "prev", "hash"}
        assert rec["seq"] == seq and rec["prev"] == prev
        body = {k: v for k, v in rec.items() if k != "hash"}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert rec["hash"] == hashlib.sha256(canon).hexdigest()
        assert rec["time"].endswith("+00:00") and rec["user"] and rec["host"]
        prev = rec["hash"]
    report = trail.verify()
    assert report.ok and report.count == 4 and report.head == (4, prev) == trail.head()


def test_append_returns_the_stored_record_with_strict_json_payload(harness_home):
    trail = AuditTrail(harness_home / "audit.log", anchor=False)
    rec = trail.append("gate_decision", actor="harness.gate", deployment="spx-sma",
                       payload={"psr": np.float64(0.97), "n": np.int64(3), "w": np.array([0.5, 0.5]),
                                "dsr": float("nan"), "cap": float("inf"), "note": "ünïcode"})
    assert rec["payload"] == {"psr": 0.97, "n": 3, "w": [0.5, 0.5], "dsr": "NaN", "cap": "Infinity", "note": "ünïcode"}
    stored = json.loads(_lines(trail)[0])
    assert stored == rec
    assert trail.records() == [rec]


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "made_up", "actor": "alice"}, "unknown audit kind"),
    ({"kind": "promotion", "actor": "  "}, "actor"),
    ({"kind": "promotion", "actor": "alice", "deployment": "../etc"}, "deployment name"),
    ({"kind": "promotion", "actor": "alice", "payload": {"x": object()}}, "payload field payload.x"),
])
def test_bad_input_is_refused_and_nothing_is_written(harness_home, kwargs, match):
    trail = AuditTrail(harness_home / "audit.log", anchor=False)
    kind = kwargs.pop("kind")
    with pytest.raises(InputError, match=match):
        trail.append(kind, **kwargs)
    assert not trail.path.exists() or trail.path.read_bytes() == b""


def test_records_filter_by_deployment_kind_and_time(harness_home):
    trail = AuditTrail(harness_home / "audit.log", anchor=False)
    trail.append("promotion", actor="alice", deployment="a")
    middle = trail.append("rollback", actor="bob", deployment="b")
    trail.append("promotion", actor="carol", deployment="b")
    assert [r["actor"] for r in trail.records(deployment="b")] == ["bob", "carol"]
    assert [r["actor"] for r in trail.records(kind="promotion")] == ["alice", "carol"]
    assert [r["actor"] for r in trail.records(since=middle["time"])] == ["bob", "carol"]
    assert trail.records(since="2999-01-01") == []
    with pytest.raises(InputError, match="ISO-8601"):
        trail.records(since="last tuesday")
    with pytest.raises(InputError, match="unknown audit kind"):
        trail.records(kind="nope")


# ---------------------------------------------------------------- tampering
def test_an_edited_record_is_named(harness_home):
    trail = _trail(harness_home)
    lines = _lines(trail)
    rec = json.loads(lines[2])
    rec["actor"] = "mallory"
    lines[2] = json.dumps(rec)
    _write(trail, lines)
    report = trail.verify()
    assert not report.ok and report.bad_seq == 3 and report.bad_line == 3 and "edited" in report.problem


def test_an_edited_record_with_a_recomputed_hash_breaks_the_chain_at_it(harness_home):
    trail = _trail(harness_home)
    lines = _lines(trail)
    lines[1] = json.dumps(_rehash({**json.loads(lines[1]), "actor": "mallory"}))
    _write(trail, lines)
    report = trail.verify()
    assert not report.ok and report.bad_seq == 2 and "seq 2 was edited" in report.problem


def test_a_removed_record_is_named(harness_home):
    trail = _trail(harness_home)
    lines = _lines(trail)
    del lines[2]
    _write(trail, lines)
    report = trail.verify()
    assert not report.ok and report.bad_seq == 3 and "seq 3 was removed" in report.problem


def test_an_inserted_record_is_named(harness_home):
    trail = _trail(harness_home)
    lines = _lines(trail)
    forged = _rehash({**json.loads(lines[1]), "actor": "mallory", "prev": json.loads(lines[1])["hash"], "seq": 3})
    lines.insert(2, json.dumps(forged))
    _write(trail, lines)
    report = trail.verify()
    assert not report.ok and report.bad_line == 4 and "inserted or reordered" in report.problem


def test_reordered_records_are_named(harness_home):
    trail = _trail(harness_home)
    lines = _lines(trail)
    lines[1], lines[2] = lines[2], lines[1]
    _write(trail, lines)
    report = trail.verify()
    assert not report.ok and report.bad_line == 2 and "reordered" in report.problem


def test_a_truncated_tail_is_caught_by_the_mlflow_anchor(harness_home):
    trail = _trail(harness_home, 4, anchor=True)
    assert trail.anchored_head() == trail.head()
    _write(trail, _lines(trail)[:2])
    report = trail.verify()
    assert not report.ok and "truncated" in report.problem and report.bad_seq == 3
    # a fresh object (another process) sees the same anchor
    assert AuditTrail(trail.path).verify().problem == report.problem


def test_an_emptied_trail_is_caught_by_the_anchor(harness_home):
    trail = _trail(harness_home, 2, anchor=True)
    trail.path.write_bytes(b"")
    report = trail.verify()
    assert not report.ok and "truncated" in report.problem


def test_a_rewritten_tail_with_valid_hashes_is_caught_by_the_anchor(harness_home):
    trail = _trail(harness_home, 3, anchor=True)
    lines = _lines(trail)
    lines[2] = json.dumps(_rehash({**json.loads(lines[2]), "actor": "mallory"}))
    _write(trail, lines)
    report = trail.verify()
    assert not report.ok and report.bad_seq == 3 and "anchored" in report.problem


def test_an_anchor_that_lags_the_file_is_tolerated(harness_home, monkeypatch):
    trail = _trail(harness_home, 2, anchor=True)
    with monkeypatch.context() as m:
        m.setattr(type(trail._anchors()), "write", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
        trail.append("promotion", actor="alice")  # stored, anchor failed (logged)
    report = trail.verify()
    assert report.ok and report.count == 3 and report.anchor[0] == 2 and "newer than the anchor" in report.anchor_status


def test_without_an_anchor_verify_warns_that_truncation_is_unchecked(harness_home):
    plain = _trail(harness_home, 2, anchor=False)
    report = AuditTrail(plain.path).verify()
    assert report.ok and report.anchor is None and any("truncation is not checked" in w for w in report.warnings)


# ---------------------------------------------------------------- torn lines and repair
def test_a_torn_last_line_is_torn_not_tampered(harness_home):
    trail = _trail(harness_home, 3)
    with trail.path.open("ab") as fh:
        fh.write(b'{"seq":4,"time":"2026-')
    report = trail.verify()
    assert report.ok and report.torn and report.torn_line == 4 and report.count == 3
    with pytest.raises(AuditTornError, match="repair"):
        trail.append("promotion", actor="alice")
    assert trail.records()[-1]["seq"] == 3  # readers skip the torn line


def test_repair_drops_the_torn_line_and_records_itself(harness_home):
    trail = _trail(harness_home, 3)
    with trail.path.open("ab") as fh:
        fh.write(b'{"seq":4,"ti')
    with pytest.raises(InputError, match="--by"):
        trail.repair(by="")
    rec = trail.repair(by="alice")
    assert rec["kind"] == "audit_repaired" and rec["actor"] == "alice" and rec["seq"] == 4
    assert rec["payload"]["action"] == "dropped" and rec["payload"]["text"] == '{"seq":4,"ti'
    report = trail.verify()
    assert report.ok and not report.torn and report.count == 4
    assert trail.repair(by="alice") is None  # nothing left to repair
    trail.append("promotion", actor="alice")
    assert trail.verify().count == 5


def test_repair_completes_a_whole_record_that_only_lost_its_newline(harness_home):
    trail = _trail(harness_home, 3)
    data = trail.path.read_bytes()
    trail.path.write_bytes(data[:-1])
    assert trail.verify().torn
    rec = trail.repair(by="alice")
    assert rec["payload"]["action"] == "completed"
    assert trail.verify().ok and trail.verify().count == 4


def test_repair_refuses_a_tampered_trail_and_leaves_it_untouched(harness_home):
    trail = _trail(harness_home, 3)
    lines = _lines(trail)
    del lines[1]
    trail.path.write_text("\n".join(lines) + "\n" + '{"seq":9')
    before = trail.path.read_bytes()
    with pytest.raises(AuditTamperedError, match="removed"):
        trail.repair(by="alice")
    assert trail.path.read_bytes() == before


# ---------------------------------------------------------------- processes
_APPENDER = textwrap.dedent("""
    import sys
    from harness.audit import AuditTrail
    trail = AuditTrail(sys.argv[1], anchor=sys.argv[3] == "1")
    for i in range(int(sys.argv[2])):
        trail.append("risk_state", actor=f"proc-{sys.argv[4]}", payload={"i": i, "pad": "x" * 3000})
""")


def _spawn(path: Path, n: int, anchor: bool, tag: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), str(n), "1" if anchor else "0", tag],
                            env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("anchor, n", [(False, 50), pytest.param(True, 10, marks=pytest.mark.slow)])
def test_concurrent_appenders_never_interleave_or_fork_the_chain(harness_home, anchor, n):
    path = harness_home / "audit.log"
    AuditTrail(path, anchor=anchor).append("paper_started", actor="alice")  # creates the MLflow store once
    procs = [_spawn(path, n, anchor, str(k)) for k in range(4)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    trail = AuditTrail(path, anchor=anchor)
    report = trail.verify()
    assert report.ok and report.count == 4 * n + 1, report
    assert report.anchor_status == ("ok" if anchor else "not checked")
    actors = [r["actor"] for r in trail.records()]
    assert all(actors.count(f"proc-{k}") == n for k in range(4))
    assert [r["seq"] for r in trail.records()] == list(range(1, 4 * n + 2))


def test_sigkill_mid_append_leaves_a_verifiable_trail(harness_home):
    path = harness_home / "audit.log"
    for round_ in range(3):
        procs = [_spawn(path, 10_000, False, f"{round_}{k}") for k in range(2)]
        deadline = time.monotonic() + 30
        while (not path.exists() or path.stat().st_size < 200_000 * (round_ + 1)) and time.monotonic() < deadline:
            time.sleep(0.01)
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        trail = AuditTrail(path, anchor=False)
        report = trail.verify()
        assert report.ok, report.problem
        if report.torn:
            trail.repair(by="test")
        trail.append("paper_stopped", actor="test")
        assert trail.verify().ok and not trail.verify().torn


def _append_in_child(i: int) -> int:
    from harness.audit import trail

    return trail().append("run_logged", actor=f"child-{i}")["seq"]


def test_forked_workers_append_to_the_parents_trail_and_anchor(harness_home):
    import multiprocessing as mp

    from harness.audit import trail

    trail().append("run_logged", actor="parent")  # the parent holds an open MLflow connection
    with mp.get_context("fork").Pool(2) as pool:
        seqs = pool.map(_append_in_child, range(4))
    assert sorted(seqs) == [2, 3, 4, 5]
    trail().append("run_logged", actor="parent")
    report = trail().verify()
    assert report.ok and report.count == 6 and report.anchor_status == "ok"
