"""harness deploy / harness retrain end to end on synthetic bars: registry, audit, triggers, lock."""

from __future__ import annotations

import json

import pytest

from harness.retrain import DetectorState, deployment_lock, state_path
from harness.retrain._flow import deploy, trigger

from ._helpers import spec_text, store, synthetic


def _kinds(name):
    from harness import audit

    return [r["kind"] for r in audit.trail().records(deployment=name)]


def _write_spec(tmp_path, **kw):
    path = tmp_path / "syn.toml"
    path.write_text(spec_text(**kw).replace('window = "trailing:800"', 'window = "trailing:800"\nmax_age = 400'))
    return path


@pytest.mark.slow
def test_deploy_registers_candidates_and_an_unchanged_spec_does_nothing(tmp_path):
    from harness.registry import Registry

    bars, _ = synthetic()
    store(bars[:1300])
    path = _write_spec(tmp_path, trials=6)
    out = deploy(path, by="alice")
    assert out.status == "retrained" and out.result.reason == "initial" and out.result.outcome == "candidates"
    reg = Registry.open()
    versions = reg.versions("syn-sma")
    assert [v.version for v in versions] == [1, 2]
    assert reg.get("syn-sma", "challenger").version == 1
    v1 = versions[0]
    assert v1.params == out.result.candidates[0].params and v1.snapshot_id == out.result.snapshot_id
    assert v1.run_id and v1.run_id == out.result.stats["run_id"]  # the study is an MLflow run
    kinds = _kinds("syn-sma")
    for k in ("deployment_created", "detector_reset", "retrain_triggered", "candidate_registered",
              "challenger_set", "retrain_completed"):
        assert k in kinds, k
    assert kinds.count("candidate_registered") == 2
    folder = out.result.evidence_path
    assert (folder / "arrays.npz").exists() and json.loads((folder / "summary.json").read_text())["outcome"] \
        == "candidates"
    assert any("gate:" in m for m in out.messages)
    # the detector was primed from [data] start, up to the last bar
    st = DetectorState.load("syn-sma")
    assert st.n_bars == 1300 and st.last_retrain_time == int(bars.timestamps[1299]) and st.pending is None

    again = deploy(path, by="alice")
    assert again.status == "unchanged" and "nothing to do" in again.messages[0]
    assert _kinds("syn-sma") == kinds

    path.write_text(path.read_text().replace("trials = 6", "trials = 7"))
    changed = deploy(path, by="bob")
    assert changed.status == "retrained" and changed.result.reason == "spec_changed"
    assert changed.info.spec_version == 2 and "deployment_changed" in _kinds("syn-sma")


@pytest.mark.slow
def test_if_regime_changed_feeds_new_bars_retrains_on_events_and_max_age(tmp_path):
    from harness import audit
    from harness._bars import home_store

    bars, _ = synthetic()
    store(bars[:1300])
    deploy(_write_spec(tmp_path, trials=4), by="alice")
    first = trigger("syn-sma", if_regime_changed=True)
    assert first.status == "no_regime_change" and first.messages[0].startswith("no regime change since ")

    home_store().write(bars[1300:], message="new bars")
    out = trigger("syn-sma", if_regime_changed=True)
    assert out.status == "retrained" and out.result.reason == "regime_change"
    rec = audit.trail().records(deployment="syn-sma", kind="retrain_triggered")[-1]["payload"]
    ch = rec["regime_change"]
    assert {"bar", "since", "from_label", "to_label", "detector_digest", "time"} <= set(ch)
    assert rec["trigger_time"] == ch["time"] and ch["to_label"] != ch["from_label"]
    st = DetectorState.load("syn-sma")
    assert st.n_bars == bars.n_bars and st.last_retrain_time == ch["timestamp"] and st.pending is None
    # the trigger bar's window ends at the detection, not at the newest bar
    assert out.result.window.describe()["end"] == ch["time"]

    # nothing new: no retrain until max_age (400 bars) has passed since the last one
    assert trigger("syn-sma", if_regime_changed=True).status in ("no_regime_change", "retrained")
    # a crash between the trigger and the end of the retrain: the next run resumes it
    st = DetectorState.load("syn-sma")
    st.pending = {"reason": "regime_change", "trigger": {"timestamp": int(bars.timestamps[1700])}}
    st.save()
    resumed = trigger("syn-sma", if_regime_changed=True)
    assert resumed.status == "retrained" and resumed.messages[0].startswith("resuming the unfinished retrain")
    assert DetectorState.load("syn-sma").pending is None


@pytest.mark.slow
def test_the_cli_reports_a_held_lock_and_a_missing_state(tmp_path, run_cli):
    bars, _ = synthetic()
    store(bars[:1300])
    deploy(_write_spec(tmp_path, trials=3), by="alice")
    with deployment_lock("syn-sma"):
        proc = run_cli("retrain", "syn-sma", "--if-regime-changed")
    assert proc.returncode == 0 and "a retrain of 'syn-sma' is already running (pid" in proc.stdout
    state_path("syn-sma").unlink()
    proc = run_cli("retrain", "syn-sma", "--if-regime-changed")
    assert proc.returncode == 2 and "detector state" in proc.stderr and "is missing" in proc.stderr
    assert "--reset-detector --by WHO" in proc.stderr
    proc = run_cli("retrain", "syn-sma", "--reset-detector", "--by", "carol")
    assert proc.returncode == 0 and "rebuilt from [data] start: 1300 bars" in proc.stdout
    from harness import audit

    rec = audit.trail().records(deployment="syn-sma", kind="detector_reset")[-1]
    assert rec["actor"] == "carol"
    proc = run_cli("retrain", "syn-sma", "--if-regime-changed")
    assert proc.returncode == 0 and "no regime change since" in proc.stdout


@pytest.mark.slow
def test_the_demo_step_deploys_the_shipped_spec_then_checks_the_regime():
    from harness._bars import demo_step as data_step
    from harness.retrain._demo import demo_step

    ctx = {"fast": True}
    data_step(ctx)
    first = demo_step(ctx)
    assert first.startswith("deployed demo-spx-sma: 15 trials on trailing:8y") and "no regime change since" in first
    again = demo_step(ctx)
    assert "is unchanged" in again and "nothing to do" in again


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::harness.gate.EmptyGateWarning")
def test_the_gate_promotes_in_auto_mode_and_the_next_retrain_faces_the_champion(tmp_path):
    from harness import audit
    from harness.registry import Registry

    bars, _ = synthetic()
    store(bars[:1300])
    path = tmp_path / "syn.toml"
    path.write_text(spec_text(trials=4) + "\n[gate]\nchecks = []\n")
    out = deploy(path, by="alice")
    assert out.decision is not None and out.decision.outcome == "promote" and out.decision.promoted
    reg = Registry.open()
    assert reg.get("syn-sma", "champion").version == 1
    assert [r["kind"] for r in audit.trail().records(deployment="syn-sma") if r["kind"] in
            ("gate_decision", "promotion")] == ["gate_decision", "promotion"]
    # the next retrain compares with the registered champion (its DeployedStrategy weights)
    nxt = trigger("syn-sma", reason="manual")
    champ = nxt.result.champion
    assert champ.kind == "version" and champ.name == "v1"
    assert nxt.result.study.study.trials[0].params == {k: v for k, v in reg.get("syn-sma", 1).params.items()
                                                       if k in ("fast", "slow")}
    assert nxt.result.outcome in ("candidates", "no_change")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::harness.gate.EmptyGateWarning")
def test_a_governed_deployment_waits_for_approval(tmp_path):
    from harness.registry import Registry

    bars, _ = synthetic()
    store(bars[:1300])
    path = tmp_path / "syn.toml"
    path.write_text(spec_text(trials=3).replace('mode = "auto"', 'mode = "governed"') + "\n[gate]\nchecks = []\n")
    out = deploy(path, by="alice")
    assert out.decision.outcome == "pending_approval" and not out.decision.promoted
    from harness.errors import UnknownAliasError

    with pytest.raises(UnknownAliasError):
        Registry.open().get("syn-sma", "champion")


@pytest.mark.slow
def test_harness_deploy_on_the_command_line(tmp_path, run_cli):
    bars, _ = synthetic()
    store(bars[:1300])
    path = _write_spec(tmp_path, trials=3)
    proc = run_cli("deploy", str(path), "--no-progress")
    assert proc.returncode == 2 and "--by" in (proc.stdout + proc.stderr)
    proc = run_cli("deploy", str(path), "--by", "alice", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "deployment 'syn-sma': spec v1" in proc.stdout and "challenger: v1" in proc.stdout
    assert "gate: " in proc.stdout
    proc = run_cli("deploy", str(path), "--by", "alice")
    assert proc.returncode == 0 and "is unchanged (spec v1" in proc.stdout and "nothing to do" in proc.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("[retrain]", "[retrian]"))
    proc = run_cli("deploy", str(bad), "--by", "alice")
    assert proc.returncode == 2 and "unknown table or key 'retrian'; did you mean [retrain]" in proc.stderr
