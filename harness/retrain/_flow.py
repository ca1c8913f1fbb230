"""What ``harness deploy`` and ``harness retrain`` do: create, trigger, retrain, hand to the gate.

``deploy(path, by=...)`` creates (or updates) the deployment in the registry with its
spec and hash, primes the detector state from ``[data] start`` on first use, runs the
initial retrain (reason ``initial``; ``spec_changed`` after an edit) and hands the best
candidate to the gate against the champion (the baseline at first). An unchanged spec
whose training already finished does nothing and says so.

``trigger(name, if_regime_changed=True)`` is the cron entry point: it feeds the detector
only the bars since its persisted state, and retrains when the trigger policy fires or
``[retrain] max_age`` has passed (bar time since the last retrain); otherwise it reports
``no regime change since <time>``. The event is written into the state before the
retrain starts and cleared after it finished, so a retrain killed in between runs again
on the next call. Both hold the deployment's lock: a second invocation says so and
returns (exit 0 on the command line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.retrain._retrain import ACTOR, RetrainResult, _audit, _load_bars, retrain
from harness.retrain._state import DetectorState, DetectorStateError, deployment_lock, state_path

__all__ = ["deploy", "trigger", "FlowOutcome", "gate_result", "reset_detector"]


@dataclass
class FlowOutcome:
    """What a deploy or a trigger did: ``status`` (``retrained``, ``unchanged``,
    ``no_regime_change``, ``locked``, ``reset``), ``message`` lines for people, the
    :class:`RetrainResult` and the gate's ``Decision`` when there were any."""

    status: str
    messages: list[str] = field(default_factory=list)
    result: RetrainResult | None = None
    decision: Any = None
    spec: Any = None
    info: Any = None


def _fmt(ns: int | None) -> str:
    from market_data.bars import _fmt_ts

    return "never" if ns is None else _fmt_ts(int(ns))


def gate_result(spec: Any, result: RetrainResult, registry: Any) -> Any:
    """Hand the challenger of ``result`` to the gate (``harness.gate.decide``); None when
    there is no challenger."""
    if result.outcome != "candidates" or result.challenger is None:
        return None
    import harness.gate as gate

    if result.evidence is None:
        raise InputError(f"retrain {result.retrain_id} of {spec.name!r} has no gate evidence")
    decide = getattr(gate, "decide", None)
    if decide is None:  # an installation whose gate has no decision recording: evaluate only
        return gate.evaluate(result.evidence, spec.gate)
    return decide(spec.name, result.challenger.version.version, result.evidence, spec.gate, registry=registry,
                  actor="harness.gate")


def _completed(name: str, spec_hash: str) -> bool:
    from harness import audit

    recs = audit.trail().records(deployment=name, kind="retrain_completed")
    return any(r["payload"].get("spec_hash") == spec_hash for r in recs)


def reset_detector(spec: Any, *, by: str, reason: str, snapshot: str | None = None) -> DetectorState:
    """Rebuild the deployment's detector state from ``[data] start`` (audited ``detector_reset``)."""
    if not isinstance(by, str) or not by.strip():
        raise InputError("--reset-detector needs --by WHO (the person responsible is audited)")
    path = state_path(spec.name)
    old = last_retrain = None
    if path.exists():
        try:
            prev = DetectorState.load(spec.name)
            old, last_retrain = prev.digest(), prev.last_retrain_time
        except DetectorStateError as exc:
            old = f"unreadable: {exc}"
    if last_retrain is None:  # the retrain history is not the detector's: keep it from the audit trail
        done = [r["payload"].get("trigger_ns") for r in _records(spec.name, "retrain_completed")]
        done = [int(t) for t in done if t is not None]
        last_retrain = max(done) if done else None
    bars = _load_bars(spec, snapshot)
    state = DetectorState.prime(spec, bars)
    state.last_retrain_time = last_retrain
    state.save(path)
    _audit("detector_reset", spec.name, {"reason": reason, "previous": old, "digest": state.digest(),
                                         "bars": state.n_bars, "last_time": _fmt(state.last_time),
                                         "snapshot_id": bars.snapshot_id, "setup": state.setup}, _Actor(by))
    return state


class _Actor:
    """An audit sink that appends as a named person instead of the retrain's system actor."""

    def __init__(self, by: str) -> None:
        self.by = by

    def append(self, kind: str, *, actor: str, deployment: str | None, payload: Any) -> dict:
        from harness import audit

        return audit.append(kind, actor=self.by, deployment=deployment, payload=payload)


def _describe(result: RetrainResult) -> list[str]:
    w = result.window.describe()
    lines = [f"window {w['kind']} ({w['requested']}): {w['bars']} bars {w['start']} .. {w['end']}, "
             f"holdout {w['holdout']} bars from {w['holdout_start']}"]
    if w["fallback"]:
        lines.append(f"fallback: {w['fallback']}")
    st = result.stats
    lines.append(f"study {st['study_name']}: {st['n_trials_evaluated']} trials evaluated "
                 f"({st['n_trials_in_study']} of {st['n_trials_requested']} in the study"
                 + (", stopped by the timeout" if result.timed_out else "") + f"), cv {st['cv']}")
    from harness.retrain._retrain import _metrics, _ppy

    champ = _metrics(result.champion_returns, _ppy(result.frequency))["sharpe"]
    for c in result.candidates:
        v = "" if c.version is None else f" v{c.version.version}"
        value = ", ".join(_num(x) for x in c.value) if isinstance(c.value, (list, tuple)) else _num(c.value)
        lines.append(f"candidate {c.rank}{v}: {c.params} objective {value}, holdout sharpe "
                     f"{_num(c.holdout_metrics.get('sharpe'))} vs champion {result.champion.name} {_num(champ)}")
    if result.outcome == "no_change":
        lines.append(f"no_change: the best candidate is the champion {result.champion.name}; nothing registered")
    elif result.challenger is not None and result.challenger.version is not None:
        lines.append(f"challenger: v{result.challenger.version.version}; evidence in {result.evidence_path}")
    return lines


def _num(x: Any) -> str:
    """A number for people: 4 significant digits; undefined (a flat series' Sharpe) is n/a."""
    import math

    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.4g}"


def _decision_lines(decision: Any) -> list[str]:
    if decision is None:
        return []
    failed = [c.name for c in getattr(decision, "checks", ()) if not c.passed]
    extra = f" (failed: {', '.join(failed)})" if failed else ""
    return [f"gate: {decision.outcome}{extra}"]


def deploy(path: str | Path, *, by: str, registry: Any = None, progress: bool = False) -> FlowOutcome:
    """``harness deploy SPEC --by WHO`` (see the module docs)."""
    from harness.deploy import load_deployment
    from harness.registry import Registry

    if not isinstance(by, str) or not by.strip():
        raise InputError("deploy needs --by WHO (the person responsible is audited)")
    spec = load_deployment(path)
    registry = Registry.open() if registry is None else registry
    info = registry.create_deployment(spec.name, mode=spec.mode, baseline=spec.baseline, spec=spec.text,
                                      spec_hash=spec.hash, by=by)
    changed = bool(getattr(info, "changed", True))
    if not changed and _completed(spec.name, spec.hash):
        return FlowOutcome(status="unchanged", spec=spec, info=info, messages=[
            f"deployment {spec.name!r} is unchanged (spec v{info.spec_version}, sha256 {spec.hash[:12]}); "
            "nothing to do"])
    first = not any(True for _ in _records(spec.name, "retrain_completed"))
    reason = "initial" if first else "spec_changed"
    msgs = [f"deployment {spec.name!r}: spec v{info.spec_version} ({spec.mode}, baseline {spec.baseline})"]
    with deployment_lock(spec.name):
        path_state = state_path(spec.name)
        state = None
        if path_state.exists():
            state = DetectorState.load(spec.name)
            try:
                state.check_matches(spec, path_state)
            except DetectorStateError:
                state = None
        bars = _load_bars(spec, None)
        if state is None:
            state = reset_detector(spec, by=by, reason=f"{reason}: primed from [data] start for spec "
                                                           f"v{info.spec_version}")
            msgs.append(f"detector {state.setup['detector']} on {state.symbol}: primed on {state.n_bars} bars "
                        f"({_fmt(state.first_time)} .. {_fmt(state.last_time)}), regime {_label(state.label)}")
        else:
            state.feed(bars)
        trig = {"timestamp": int(bars.timestamps[-1])}
        state.pending = {"reason": reason, "trigger": trig}
        state.save()
        result = retrain(spec, reason=reason, registry=registry, trigger=trig, snapshot=bars.snapshot_id,
                         labels=state.labels_at(bars.timestamps) if spec.retrain.window_spec.kind == "regime" else None,
                         progress=progress)
        state.pending = None
        state.last_retrain_time = trig["timestamp"]
        state.save()
    msgs += _describe(result)
    decision = gate_result(spec, result, registry)
    msgs += _decision_lines(decision)
    return FlowOutcome(status="retrained", messages=msgs, result=result, decision=decision, spec=spec, info=info)


def _records(name: str, kind: str) -> list[dict]:
    from harness import audit

    return audit.trail().records(deployment=name, kind=kind)


def _label(label: int | None) -> str:
    from harness.regime import LABEL_NAMES

    return "unknown" if label is None else LABEL_NAMES[label]


def _max_age_due(spec: Any, state: DetectorState, bars: Any) -> bool:
    """``[retrain] max_age`` has passed since the last retrain (bar time, or bars)."""
    age = spec.retrain.max_age
    if age is None:
        return False
    if state.last_retrain_time is None:
        return True
    from harness.validation._splits import resolve_duration

    size = resolve_duration(age, "max_age")
    if isinstance(size, int):
        import numpy as np

        since = int(np.searchsorted(bars.timestamps, state.last_retrain_time, "right"))
        return bars.n_bars - since >= size
    import pandas as pd

    from harness.validation._splits import _offset

    due = (pd.Timestamp(int(state.last_retrain_time), unit="ns", tz="UTC") + _offset(size)).value
    return int(state.last_time) >= due


def trigger(name: str, *, if_regime_changed: bool = False, reason: str | None = None, snapshot: str | None = None,
            reset: bool = False, by: str | None = None, registry: Any = None, progress: bool = False,
            dask: Any = None, until: Any = None, pending_only: bool = False) -> FlowOutcome:
    """``harness retrain NAME [--if-regime-changed] [--reason TEXT] [--snapshot S]
    [--reset-detector --by WHO] [--until T]`` (see the module docs).

    ``until`` (a bar time) makes the bars after it invisible, as if the store ended there:
    a replay (``harness watch --until``) checks and retrains bar by bar with it.
    ``pending_only`` retrains only the trigger left in the detector state's outbox, and
    does nothing when there is none (what ``harness watch`` hands its retrain child: a
    trigger another process already completed is never retrained again).
    """
    from harness.deploy import resolve
    from harness.registry import Registry

    if reset and not (isinstance(by, str) and by.strip()):
        raise InputError("--reset-detector needs --by WHO (the person responsible is audited)")
    registry = Registry.open() if registry is None else registry
    spec = resolve(name)
    msgs: list[str] = []
    with deployment_lock(spec.name):
        if reset:
            st = reset_detector(spec, by=by, reason=reason or "reset by hand", snapshot=snapshot)
            msgs.append(f"detector state of {spec.name!r} rebuilt from [data] start: {st.n_bars} bars "
                        f"({_fmt(st.first_time)} .. {_fmt(st.last_time)}), regime {_label(st.label)}")
            if not if_regime_changed and reason is None:
                return FlowOutcome(status="reset", messages=msgs, spec=spec)
        path = state_path(spec.name)
        state = DetectorState.load(spec.name)
        state.check_matches(spec, path)
        bars = _load_bars(spec, snapshot)
        if until is not None:
            bars = bars.between(None, until)
            if bars.n_bars == 0:
                raise InputError(f"no bars of {spec.name!r} up to --until {until}")
        before = state.last_time
        events = state.feed(bars)
        if state.pending is not None:
            why = str(state.pending.get("reason", "resumed"))
            trig = dict(state.pending.get("trigger") or {"timestamp": int(bars.timestamps[-1])})
            msgs.append(f"resuming the unfinished retrain ({why}) of {_fmt(trig['timestamp'])}")
        elif pending_only:
            state.save()
            msgs.append("no pending trigger: nothing to retrain (it was completed by another process)")
            return FlowOutcome(status="nothing_pending", messages=msgs, spec=spec)
        elif if_regime_changed:
            if events:
                ev = events[-1]
                why = reason or "regime_change"
                trig = {"bar": ev.bar, "since": ev.since, "from_label": ev.from_label, "to_label": ev.to_label,
                        "volatility": ev.volatility, "timestamp": ev.timestamp, "kind": ev.kind,
                        "detector_digest": state.digest(), "events_since_last_check": len(events)}
                if ev.kind == "change_point":
                    msgs.append(f"regime change: a change point within {_label(ev.to_label)} detected "
                                f"{_fmt(ev.timestamp)}")
                else:
                    msgs.append(f"regime change: {_label(ev.from_label)} -> {_label(ev.to_label)} detected "
                                f"{_fmt(ev.timestamp)} (since bar {ev.since})")
            elif _max_age_due(spec, state, bars):
                why = reason or "max_age"
                trig = {"timestamp": int(bars.timestamps[-1]), "max_age": str(spec.retrain.max_age),
                        "last_retrain": _fmt(state.last_retrain_time)}
                msgs.append(f"max_age {spec.retrain.max_age} passed since the last retrain "
                            f"({_fmt(state.last_retrain_time)})")
            else:
                state.save()
                since = state.last_event_time() or state.first_time
                msgs.append(f"no regime change since {_fmt(since)} (checked {_fmt(before)} .. "
                            f"{_fmt(state.last_time)}; regime {_label(state.label)})")
                return FlowOutcome(status="no_regime_change", messages=msgs, spec=spec)
        else:
            why = reason or "manual"
            trig = {"timestamp": int(bars.timestamps[-1])}
        state.pending = {"reason": why, "trigger": trig}
        state.save()
        labels = state.labels_at(bars.timestamps) if spec.retrain.window_spec.kind == "regime" else None
        result = retrain(spec, reason=why, registry=registry, trigger=trig, snapshot=bars.snapshot_id, labels=labels,
                         progress=progress, dask=dask)
        state.pending = None
        state.last_retrain_time = int(trig["timestamp"])
        state.save()
    msgs += _describe(result)
    decision = gate_result(spec, result, registry)
    msgs += _decision_lines(decision)
    return FlowOutcome(status="retrained", messages=msgs, result=result, decision=decision, spec=spec)


__all__ += ["ACTOR"]
