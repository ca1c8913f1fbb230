"""``harness registry ls|show|history`` and ``harness audit verify|head|log|repair``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from harness.audit import AuditTrail
from harness.engine import BacktestConfig


def _setup(stored_bars) -> None:
    from harness._bars import home_store
    from harness.registry import Registry

    snap = home_store().resolve()
    reg = Registry.open()
    reg.create_deployment("spx-sma", mode="auto", baseline="cash", spec="x = 1\n", spec_hash="h", by="alice")
    for fast in (5, 7):
        reg.register("spx-sma", strategy="sma_crossover", params={"fast": fast, "slow": 20}, config=BacktestConfig(),
                     symbols=["AAA", "BBB"], frequency="1d", snapshot_id=snap, data_digest=stored_bars.digest())
    for v in (1, 2):
        did = reg.record_decision("spx-sma", v, {"outcome": "promote", "checks": [], "reasons": [],
                                                 "evidence_digest": "e", "time": datetime.now(UTC).isoformat(),
                                                 "policy": {"mode": "auto"}})
        reg.promote("spx-sma", v, decision=did)
    reg.rollback("spx-sma", by="dave", reason="drawdown [big]")


def test_registry_commands_show_deployments_versions_and_history(run_cli, stored_bars):
    _setup(stored_bars)
    ls = run_cli("registry", "ls", "--json", check=True)
    (row,) = json.loads(ls.stdout)
    assert (row["name"], row["champion"], row["previous"], row["versions"]) == ("spx-sma", 1, None, 2)
    assert row["last_retrain"]
    table = run_cli("registry", "ls", check=True).stdout
    assert "spx-sma" in table and "auto" in table
    show = json.loads(run_cli("registry", "show", "spx-sma", "--json", check=True).stdout)
    assert [v["version"] for v in show["versions"]] == [1, 2]
    assert show["versions"][0]["aliases"] == ["champion"] and show["versions"][1]["params"]["fast"] == 7
    assert show["versions"][0]["snapshot_id"] and show["versions"][0]["data_digest"] == stored_bars.digest()
    history = run_cli("registry", "history", "spx-sma", check=True).stdout
    assert "dave" in history and "drawdown [big]" in history and "rollback" in history
    rows = json.loads(run_cli("registry", "history", "spx-sma", "--json", check=True).stdout)
    assert [(r["alias"], r["version"], r["by"]) for r in rows if r["alias"] == "champion"] == [
        ("champion", 1, "harness.gate"), ("champion", 2, "harness.gate"), ("champion", 1, "dave")]


def test_unknown_names_are_one_line_errors(run_cli, stored_bars):
    _setup(stored_bars)
    for args in (("registry", "show", "spx-smb"), ("registry", "history", "no/such")):
        proc = run_cli(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "deployment" in proc.stderr


def test_audit_verify_head_and_log(run_cli, stored_bars):
    _setup(stored_bars)
    trail = AuditTrail()
    seq, head = trail.head()
    verify = run_cli("audit", "verify", check=True)
    assert f"{seq} records" in verify.stdout and head in verify.stdout
    assert run_cli("audit", "head", check=True).stdout.split() == [str(seq), head]
    log = json.loads(run_cli("audit", "log", "--deployment", "spx-sma", "--kind", "promotion", "--json",
                             check=True).stdout)
    assert [r["payload"]["version"] for r in log] == [1, 2]
    table = run_cli("audit", "log", "--since", "2000-01-01", check=True).stdout
    assert "rollback" in table and "dave" in table
    bad = run_cli("audit", "log", "--kind", "nope")
    assert bad.returncode == 2 and "unknown audit kind" in bad.stderr


def test_audit_verify_exits_1_naming_the_tampered_record(run_cli, stored_bars):
    _setup(stored_bars)
    trail = AuditTrail()
    lines = trail.path.read_text().splitlines()
    rec = json.loads(lines[3])
    rec["actor"] = "mallory"
    lines[3] = json.dumps(rec)
    trail.path.write_text("\n".join(lines) + "\n")
    proc = run_cli("audit", "verify")
    assert proc.returncode == 1 and f"seq {rec['seq']}" in proc.stderr and "edited" in proc.stderr
    trail.path.write_text("\n".join(json.loads(x) and x for x in lines[:2]) + "\n")
    proc = run_cli("audit", "verify", "--json")
    assert proc.returncode == 1 and "truncated" in json.loads(proc.stdout)["problem"]


def test_audit_repair_needs_a_person_and_fixes_a_torn_line(run_cli, stored_bars):
    _setup(stored_bars)
    trail = AuditTrail()
    n = trail.head()[0]
    with trail.path.open("ab") as fh:
        fh.write(b'{"seq":')
    verify = run_cli("audit", "verify")
    assert verify.returncode == 0 and "torn" in verify.stderr
    missing = run_cli("audit", "repair")
    assert missing.returncode == 2 and "--by" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    fixed = run_cli("audit", "repair", "--by", "erin", check=True)
    assert "dropped" in fixed.stdout
    last = trail.records()[-1]
    assert last["kind"] == "audit_repaired" and last["actor"] == "erin" and last["seq"] == n + 1
    assert run_cli("audit", "repair", "--by", "erin", check=True).stdout.startswith("nothing to repair")
