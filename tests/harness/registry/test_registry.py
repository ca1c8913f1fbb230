"""The model registry: deployments, versions with lineage, loading, the champion rule, rollback, history."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from harness import backtest
from harness.audit import AuditTrail
from harness.engine import BacktestConfig
from harness.errors import (
    ArtifactHashMismatch,
    InputError,
    PromotionRefused,
    UnknownAliasError,
    UnknownDecisionError,
    UnknownDeploymentError,
    UnknownVersionError,
)
from harness.registry import Registry

# the registry runs on the embedded SQLite default and on PostgreSQL by URI (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("mlflow_backend")

REPO = Path(__file__).resolve().parents[3]
SMA = {"fast": 5, "slow": 20}


def _decision(outcome: str = "promote", mode: str = "auto") -> dict:
    """A decision as an always-pass (or always-fail) policy would give it."""
    return {"outcome": outcome, "checks": [{"name": "always", "passed": outcome != "reject"}],
            "reasons": [] if outcome != "reject" else ["always fails"], "evidence_digest": "e" * 32,
            "time": datetime.now(UTC).isoformat(), "policy": {"mode": mode, "checks": ["always"]}}


@pytest.fixture
def reg(stored_bars):
    return Registry.open()


@pytest.fixture
def snapshot(stored_bars):
    from harness._bars import home_store

    return home_store().resolve()


def _deploy(reg: Registry, name: str = "spx-sma", mode: str = "auto"):
    return reg.create_deployment(name, mode=mode, baseline="cash", spec=f"[deployment]\nname = '{name}'\n",
                                 spec_hash=f"hash-{name}-{mode}", by="alice")


def _register(reg: Registry, snapshot: str, bars, name: str = "spx-sma", params=SMA, **kw):
    return reg.register(name, strategy="sma_crossover", params=params, config=kw.pop("config", BacktestConfig()),
                        symbols=list(bars.symbols), frequency="1d", snapshot_id=snapshot,
                        data_digest=bars.digest(), run_id=kw.pop("run_id", "r" * 32), seed=7, **kw)


def _promote(reg: Registry, name: str, version: int, **kw):
    return reg.promote(name, version, decision=reg.record_decision(name, version, _decision()), **kw)


def _kinds(deployment: str | None = None) -> list[str]:
    return [r["kind"] for r in AuditTrail().records(deployment=deployment)]


# ---------------------------------------------------------------- deployments
def test_create_deployment_is_idempotent_and_versions_the_spec(reg):
    first = _deploy(reg)
    assert first.changed and first.spec_version == 1 and first.created_by == "alice" and first.mode == "auto"
    again = _deploy(reg)
    assert not again.changed and again.spec_version == 1
    long_spec = "# " + "x" * 9000 + "\n"
    changed = reg.create_deployment("spx-sma", mode="governed", baseline="buy_and_hold", spec=long_spec,
                                    spec_hash="h2", by="bob")
    assert changed.changed and changed.spec_version == 2 and changed.mode == "governed"
    got = reg.deployment("spx-sma")
    assert got.spec == long_spec and got.changed_by == "bob" and got.created_by == "alice"
    assert got.baseline == "buy_and_hold"
    assert [d.name for d in reg.deployments()] == ["spx-sma"]
    assert _kinds("spx-sma") == ["deployment_created", "deployment_changed"]


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x" * 65, "-lead", "a..b", "with space", "trail."])
def test_deployment_names_that_would_be_unsafe_keys_are_refused(reg, name):
    with pytest.raises(InputError, match="deployment name"):
        reg.create_deployment(name, mode="auto", baseline="cash", spec="", spec_hash="h", by="alice")


def test_bad_deployment_input_is_refused(reg):
    with pytest.raises(InputError, match="mode"):
        reg.create_deployment("d", mode="yolo", baseline="cash", spec="", spec_hash="h", by="alice")
    with pytest.raises(InputError, match="--by"):
        reg.create_deployment("d", mode="auto", baseline="cash", spec="", spec_hash="h", by=" ")


def test_unknown_deployment_names_a_close_match(reg):
    _deploy(reg)
    with pytest.raises(UnknownDeploymentError, match="did you mean 'spx-sma'"):
        reg.deployment("spx-smaa")
    with pytest.raises(UnknownDeploymentError):
        reg.get("nope", 1)


# ---------------------------------------------------------------- versions
def test_a_version_records_its_full_lineage(reg, snapshot, stored_bars):
    _deploy(reg)
    cfg = BacktestConfig(fee_rate=0.001, allow_short=False)
    v = _register(reg, snapshot, stored_bars, config=cfg, tags={"note": "first"})
    assert v.version == 1 and v.strategy == "sma_crossover" and v.params["fast"] == 5 and v.params["slow"] == 20
    assert v.config == cfg and v.symbols == ["AAA", "BBB"] and v.frequency == "1d"
    assert v.snapshot_id == snapshot and v.data_digest == stored_bars.digest() and v.run_id == "r" * 32
    assert v.seed == 7 and v.code_version and v.aliases == () and v.artifact_uri is None
    assert v.tags["user.note"] == "first" and v.tags["harness.snapshot_id"] == snapshot
    lineage = json.loads(Path(v.source.removeprefix("file://"), "lineage.json").read_text())
    assert lineage["deployment"] == "spx-sma" and lineage["config"]["fee_rate"] == 0.001
    assert reg.get("spx-sma", "1") == reg.get("spx-sma", 1) == v
    v2 = _register(reg, snapshot, stored_bars, params={"fast": 3, "slow": 30})
    assert [x.version for x in reg.versions("spx-sma")] == [1, 2] and v2.params["fast"] == 3


def test_register_validates_its_input(reg, snapshot, stored_bars):
    _deploy(reg)
    with pytest.raises(InputError, match="slow"):
        _register(reg, snapshot, stored_bars, params={"fast": 5, "slow": "x"})
    with pytest.raises(InputError, match="config"):
        _register(reg, snapshot, stored_bars, config={"fee_rate": 0})
    with pytest.raises(InputError, match="snapshot_id"):
        reg.register("spx-sma", strategy="sma_crossover", params=SMA, config=BacktestConfig(), symbols=["AAA"],
                     frequency="1d", snapshot_id="", data_digest="d")
    with pytest.raises(UnknownDeploymentError):
        _register(reg, snapshot, stored_bars, name="other")
    assert reg.versions("spx-sma") == []


def test_unknown_versions_and_aliases_are_named_errors(reg, snapshot, stored_bars):
    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    with pytest.raises(UnknownVersionError, match="no version 9; versions: 1"):
        reg.get("spx-sma", 9)
    with pytest.raises(UnknownAliasError, match="no champion yet"):
        reg.get("spx-sma", "champion")
    with pytest.raises(UnknownAliasError, match="invalid"):
        reg.get("spx-sma", "latest")


def test_load_gives_exactly_the_weights_backtest_trades(reg, snapshot, stored_bars):
    _deploy(reg)
    cfg = BacktestConfig(allow_short=False)
    v = _register(reg, snapshot, stored_bars, params={"fast": 5, "slow": 20, "long_short": True}, config=cfg)
    dep = reg.load("spx-sma", v.version)
    assert dep.version == v and dep.config == cfg and dep.params.fast == 5
    traded = backtest(stored_bars, "sma_crossover", v.params, config=cfg).weights
    got = dep.target_weights(stored_bars)
    assert np.array_equal(got, traded, equal_nan=True)
    assert (dep.raw_weights(stored_bars) < 0).any() and (got >= 0).all()  # clipped as the engine clips
    with pytest.raises(InputError, match="trades symbols"):
        dep.target_weights(stored_bars.select(["AAA"]) if hasattr(stored_bars, "select") else stored_bars[:, :1])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from market_data import Bars
    from strategies.ml import MLPParams, fit

    rng = np.random.default_rng(1)  # the stored_bars fixture's bars
    day = 86_400_000_000_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (400, 2)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.003, (400, 2)))
    bars = Bars(timestamps=np.arange(400, dtype=np.int64) * day + 18_000 * day, symbols=("AAA", "BBB"),
                open=open_, high=np.maximum(open_, close) * 1.005, low=np.minimum(open_, close) * 0.995,
                close=close, volume=np.full((400, 2), 1e6), frequency="1d")
    params = MLPParams(hidden=8, epochs=4, lookback=4, train_bars=250)
    model = fit(bars[:250], params, seed=3)
    folder = model.save(tmp_path_factory.mktemp("model") / "m")
    return model, folder, params


def test_a_trained_version_loads_its_weights_through_the_safe_loader(reg, snapshot, stored_bars, fitted):
    model, folder, params = fitted
    _deploy(reg, "mlp-dep")
    v = reg.register("mlp-dep", strategy="mlp", params=params.to_dict(), config=BacktestConfig(),
                     symbols=["AAA", "BBB"], frequency="1d", snapshot_id=snapshot, data_digest=stored_bars.digest(),
                     seed=3, artifact_path=folder)
    assert v.artifact_uri.endswith("/model") and len(v.artifact_sha256) == 64
    assert v == reg.get("mlp-dep", v.version)
    dep = reg.load("mlp-dep", v.version)
    assert dep.model is not None and dep.model.same_weights(model)
    traded = backtest(stored_bars, weights=model.target_weights(stored_bars), config=v.config).weights
    assert np.array_equal(dep.target_weights(stored_bars), traded, equal_nan=True)
    # a tampered stored artifact is refused before anything is loaded
    stored = Path(v.artifact_uri.removeprefix("file://"))
    (stored / "manifest.json").write_text((stored / "manifest.json").read_text().replace('"seed": 3', '"seed": 4'))
    with pytest.raises(ArtifactHashMismatch, match="refusing to load"):
        reg.load("mlp-dep", v.version)


# ---------------------------------------------------------------- the champion rule
def test_promotion_moves_champion_and_previous_and_tags_the_snapshot(reg, snapshot, stored_bars):
    from harness._bars import home_store

    _deploy(reg)
    v1 = _register(reg, snapshot, stored_bars)
    v2 = _register(reg, snapshot, stored_bars, params={"fast": 3, "slow": 30})
    got = reg.set_challenger("spx-sma", v1.version)
    assert got == reg.get("spx-sma", "challenger") == reg.get("spx-sma", 1) and got.aliases == ("challenger",)
    assert _promote(reg, "spx-sma", 1).aliases == ("champion",)  # promotion clears the challenger alias
    promoted = _promote(reg, "spx-sma", 2, by="harness.gate")
    assert promoted.aliases == ("champion",) and reg.get("spx-sma", "previous").version == v1.version
    info = reg.deployment("spx-sma")
    assert (info.champion, info.previous, info.challenger) == (2, 1, None)
    tags = home_store().tags()
    assert tags["deploy-spx-sma-v1"] == snapshot and tags["deploy-spx-sma-v2"] == snapshot
    rec = AuditTrail().records(kind="promotion")[-1]
    assert rec["payload"]["version"] == v2.version and rec["payload"]["old_champion"] == 1
    assert rec["payload"]["snapshot_tag"] == "deploy-spx-sma-v2"


def test_every_path_respects_the_champion_rule(reg, snapshot, stored_bars):
    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    _register(reg, snapshot, stored_bars)
    with pytest.raises(PromotionRefused, match="no gate decision"):
        reg.promote("spx-sma", 1, decision="")
    with pytest.raises(PromotionRefused, match="unknown gate_decision"):
        reg.promote("spx-sma", 1, decision="0" * 32)
    failing = reg.record_decision("spx-sma", 1, _decision("reject"))
    with pytest.raises(PromotionRefused, match="did not pass"):
        reg.promote("spx-sma", 1, decision=failing)
    pending = reg.record_decision("spx-sma", 1, _decision("pending_approval"))
    with pytest.raises(PromotionRefused, match="did not pass"):  # auto mode: pending is not a pass
        reg.promote("spx-sma", 1, decision=pending)
    other = reg.record_decision("spx-sma", 2, _decision())
    with pytest.raises(PromotionRefused, match="is for spx-sma v2"):
        reg.promote("spx-sma", 1, decision=other)
    with pytest.raises(UnknownAliasError):
        reg.get("spx-sma", "champion")
    assert "promotion" not in _kinds()


def test_governed_mode_needs_an_approval_of_that_very_decision(reg, snapshot, stored_bars):
    _deploy(reg, "gov", mode="governed")
    _register(reg, snapshot, stored_bars, name="gov")
    dec = reg.record_decision("gov", 1, _decision("pending_approval", mode="governed"))
    with pytest.raises(PromotionRefused, match="governed mode needs an approval"):
        reg.promote("gov", 1, decision=dec)
    passing = reg.record_decision("gov", 1, _decision("promote", mode="auto"))
    with pytest.raises(PromotionRefused, match="governed mode needs an approval"):  # the deployment's mode rules
        reg.promote("gov", 1, decision=passing)
    approval_of_other = reg.record_approval("gov", 1, decision_id=passing, by="carol")
    with pytest.raises(PromotionRefused, match=f"approves decision {passing}"):
        reg.promote("gov", 1, decision=dec, approval=approval_of_other)
    rejection = reg.record_approval("gov", 1, decision_id=dec, by="carol", note="no", approved=False)
    with pytest.raises(PromotionRefused, match="is a rejection by carol"):
        reg.promote("gov", 1, decision=dec, approval=rejection)
    with pytest.raises(PromotionRefused, match="unknown approval"):
        reg.promote("gov", 1, decision=dec, approval="f" * 32)
    with pytest.raises(InputError, match="--by"):
        reg.record_approval("gov", 1, decision_id=dec, by="")
    approval = reg.record_approval("gov", 1, decision_id=dec, by="carol", note="ok")
    assert reg.approval(approval)["by"] == "carol" and reg.approval(rejection)["approved"] is False
    v = reg.promote("gov", 1, decision=dec, approval=approval, by="carol")
    assert v.aliases == ("champion",)
    rec = AuditTrail().records(kind="promotion")[-1]
    assert rec["payload"]["approval_id"] == approval and rec["payload"]["approved_by"] == "carol"
    assert _kinds("gov").count("approval") == 2 and _kinds("gov").count("rejection") == 1
    assert [a["id"] for a in reg.approvals("gov")] == [approval_of_other, rejection, approval]


def test_a_decision_promotes_once_and_a_retry_is_a_no_op(reg, snapshot, stored_bars):
    from harness._bars import home_store

    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    _register(reg, snapshot, stored_bars)
    d1 = reg.record_decision("spx-sma", 1, _decision())
    reg.promote("spx-sma", 1, decision=d1)
    n = len(_kinds())
    assert reg.promote("spx-sma", 1, decision=d1).aliases == ("champion",)  # retry after a crash
    assert len(_kinds()) == n
    d2 = reg.record_decision("spx-sma", 2, _decision())
    reg.promote("spx-sma", 2, decision=d2)
    reg.rollback("spx-sma", by="dave", reason="drawdown")
    assert reg.get("spx-sma", "champion").version == 1
    with pytest.raises(PromotionRefused, match="already promoted"):  # the rolled-back decision is spent
        reg.promote("spx-sma", 2, decision=d2)
    _promote(reg, "spx-sma", 2)  # re-promotion after a rollback: a new decision, the tag is kept
    assert home_store().tags()["deploy-spx-sma-v2"] == snapshot
    assert reg.get("spx-sma", "champion").version == 2


@pytest.mark.parametrize("crash_at", ["previous", "consume"])
def test_a_promotion_interrupted_midway_is_finished_by_its_retry(reg, snapshot, stored_bars, monkeypatch, crash_at):
    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    _register(reg, snapshot, stored_bars)
    _promote(reg, "spx-sma", 1)
    d2 = reg.record_decision("spx-sma", 2, _decision())

    class Killed(Exception):
        pass

    with monkeypatch.context() as m:
        if crash_at == "previous":  # killed after the champion moved, before previous did
            real = Registry._set_alias

            def crash(self, deployment, alias, *a, **k):
                if alias == "previous":
                    raise Killed
                return real(self, deployment, alias, *a, **k)

            m.setattr(Registry, "_set_alias", crash)
        else:  # killed after the audit record, before the decision was marked used
            m.setattr(reg._client, "set_tag", lambda *a, **k: (_ for _ in ()).throw(Killed()), raising=False)
        with pytest.raises(Killed):
            reg.promote("spx-sma", 2, decision=d2)
    v = reg.promote("spx-sma", 2, decision=d2)  # the retry
    info = reg.deployment("spx-sma")
    assert v.version == 2 and (info.champion, info.previous) == (2, 1)
    moves = [(h["alias"], h["version"]) for h in reg.alias_history("spx-sma")]
    assert moves == [("champion", 1), ("champion", 2), ("previous", 1)]
    promotions = [r["payload"] for r in AuditTrail().records(kind="promotion")]
    assert [(p["version"], p["old_champion"]) for p in promotions] == [(1, None), (2, 1)]
    assert reg.decision(d2)["consumed_by"] == "2"
    assert reg.promote("spx-sma", 2, decision=d2).version == 2  # and again: a no-op


def test_a_version_whose_training_snapshot_is_gone_is_not_promoted(reg, snapshot, stored_bars):
    _deploy(reg)
    _register(reg, "NOSUCHSNAPSHOT0000000", stored_bars)
    with pytest.raises(PromotionRefused, match="not in the bar store"):
        _promote(reg, "spx-sma", 1)
    with pytest.raises(UnknownAliasError):
        reg.get("spx-sma", "champion")


def test_record_decision_validates_the_mapping(reg, snapshot, stored_bars):
    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    with pytest.raises(InputError, match="lacks evidence_digest"):
        reg.record_decision("spx-sma", 1, {k: v for k, v in _decision().items() if k != "evidence_digest"})
    with pytest.raises(UnknownVersionError):
        reg.record_decision("spx-sma", 5, _decision())
    did = reg.record_decision("spx-sma", 1, {**_decision(), "checks": [{"name": "dsr", "value": float("nan")}]})
    got = reg.decision(did)
    assert got["outcome"] == "promote" and got["version"] == 1 and got["checks"][0]["value"] == "NaN"
    assert reg.get("spx-sma", 1).tags["harness.decision"] == did
    assert [d["id"] for d in reg.decisions("spx-sma")] == [did]
    with pytest.raises(UnknownDecisionError):
        reg.decision("nope-not-an-id")
    payload = AuditTrail().records(kind="gate_decision")[-1]["payload"]
    assert payload["decision_id"] == did and payload["evidence_digest"] == "e" * 32 and payload["checks"]


# ---------------------------------------------------------------- rollback and history
def test_rollback_restores_previous_and_needs_a_person(reg, snapshot, stored_bars):
    _deploy(reg)
    for _ in range(3):
        _register(reg, snapshot, stored_bars)
    with pytest.raises(UnknownAliasError, match="no previous"):
        reg.rollback("spx-sma", by="dave", reason="x")
    for v in (1, 2, 3):
        _promote(reg, "spx-sma", v)
    with pytest.raises(InputError, match="--by"):
        reg.rollback("spx-sma", by="", reason="x")
    with pytest.raises(InputError, match="person"):
        reg.rollback("spx-sma", by="harness.monitor", reason="x")
    assert reg.rollback("spx-sma", by="dave", reason="drawdown").version == 2
    assert reg.get("spx-sma", "previous").version == 1  # the champion before 2
    assert reg.rollback("spx-sma", by="dave", reason="still bad").version == 1
    with pytest.raises(UnknownAliasError, match="no previous"):
        reg.rollback("spx-sma", by="dave", reason="x")
    rec = AuditTrail().records(kind="rollback")[0]
    assert rec["actor"] == "dave" and rec["payload"] == {**rec["payload"], "version": 2, "from_version": 3,
                                                         "reason": "drawdown"}


def test_champion_at_answers_for_any_past_instant(reg, snapshot, stored_bars):
    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    _register(reg, snapshot, stored_bars)
    t0 = datetime.now(UTC)
    time.sleep(0.01)
    _promote(reg, "spx-sma", 1)
    time.sleep(0.01)
    t1 = datetime.now(UTC)
    time.sleep(0.01)
    _promote(reg, "spx-sma", 2)
    time.sleep(0.01)
    t2 = datetime.now(UTC)
    time.sleep(0.01)
    reg.rollback("spx-sma", by="dave", reason="drawdown")
    assert reg.champion_at("spx-sma", t0) is None  # the baseline
    assert reg.champion_at("spx-sma", t1).version == 1
    assert reg.champion_at("spx-sma", t2.isoformat()).version == 2
    assert reg.champion_at("spx-sma", int(t2.timestamp() * 1e9)).version == 2
    assert reg.champion_at("spx-sma", "2999-01-01").version == 1
    history = reg.alias_history("spx-sma", "champion")
    assert [(h["version"], h["old"], h["by"], h["reason"]) for h in history] == [
        (1, None, "harness.gate", "promotion"), (2, 1, "harness.gate", "promotion"), (1, 2, "dave", "drawdown")]
    assert all(h["decision"] for h in history[:2]) and history[2]["decision"] is None


def test_every_registry_write_is_in_a_verifiable_audit_trail(reg, snapshot, stored_bars):
    _deploy(reg)
    _register(reg, snapshot, stored_bars)
    _register(reg, snapshot, stored_bars)
    reg.set_challenger("spx-sma", 2)
    _promote(reg, "spx-sma", 1)
    _promote(reg, "spx-sma", 2)
    reg.rollback("spx-sma", by="dave", reason="x")
    # a version that already has an alias keeps it when it becomes the challenger too
    both = reg.set_challenger("spx-sma", 1)
    assert both.aliases == ("challenger", "champion") and both == reg.get("spx-sma", 1)
    assert reg.get("spx-sma", "challenger").version == 1
    assert _kinds() == ["deployment_created", "challenger_set", "gate_decision", "promotion", "gate_decision",
                        "promotion", "rollback", "challenger_set"]
    report = AuditTrail().verify()
    assert report.ok and report.anchor_status == "ok" and report.count == 8


def test_importing_the_registry_does_not_import_mlflow():
    code = "import harness.registry, harness.audit, sys; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- concurrency
_WORKER = textwrap.dedent("""
    import sys
    from harness import audit
    from harness.engine import BacktestConfig
    from harness.registry import Registry
    k, n, snap, digest = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    reg = Registry.open()
    for i in range(n):
        v = reg.register("spx-sma", strategy="sma_crossover", params={"fast": 2 + i, "slow": 30},
                         config=BacktestConfig(), symbols=["AAA", "BBB"], frequency="1d", snapshot_id=snap,
                         data_digest=digest, tags={"worker": k, "i": i})
        audit.append("candidate_registered", actor=f"worker-{k}", deployment="spx-sma",
                     payload={"version": v.version})
        audit.append("run_logged", actor=f"worker-{k}", payload={"i": i})
""")


@pytest.mark.slow
def test_four_processes_register_and_audit_concurrently_on_sqlite(reg, snapshot, stored_bars, harness_home):
    import os

    _deploy(reg)
    n = 4
    env = {**os.environ, "PYTHONPATH": str(REPO), "HARNESS_HOME": str(harness_home)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(k), str(n), snapshot, stored_bars.digest()],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(4)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "database is locked" not in err
    versions = reg.versions("spx-sma")
    assert sorted(v.version for v in versions) == list(range(1, 4 * n + 1))
    assert sorted((v.tags["user.worker"], v.tags["user.i"]) for v in versions) == sorted(
        (str(k), str(i)) for k in range(4) for i in range(n))
    trail = AuditTrail()
    report = trail.verify()
    assert report.ok and report.count == 1 + 8 * n and report.anchor_status == "ok", report
    registered = sorted(r["payload"]["version"] for r in trail.records(kind="candidate_registered"))
    assert registered == list(range(1, 4 * n + 1))
