"""The retrain report: one retrain's trigger, window, study, candidates, holdout evidence and gate decision.

Everything shown comes from the retrain's own MLflow run (kind ``retrain``, logged by
:func:`harness.retrain.log_retrain`): ``summary.json`` (``RetrainResult.summary()``),
``arrays.npz`` (the evidence arrays: the holdout returns of the champion and of each
candidate), ``study/`` (the study's ``summary.json`` and ``trials.csv``); the study
itself from the deployment's Optuna storage for the importances; and the gate's decision
on the challenger from the registry (:meth:`harness.registry.Registry.decisions`). The
only computations are display transforms (growth of 1 from the holdout returns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.report._page import Page, table_html
from harness.report._page import paragraph as _p

__all__ = ["RetrainData", "retrain_from_dir", "retrain_page", "RETRAIN_PANELS", "TOP_TRIALS"]

RETRAIN_PANELS = ("summary", "history", "importances", "trials", "candidates", "holdout_equity", "decision",
                  "lineage")
#: trials listed, best first
TOP_TRIALS = 20
#: holdout metrics shown per candidate (from RetrainResult.summary()["candidates"][i]["holdout"])
HOLDOUT_METRICS = ("sharpe", "total_return", "max_drawdown", "ann_volatility")


@dataclass
class RetrainData:
    """What a retrain report needs; every field comes from the retrain's own records."""

    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]
    lineage: dict[str, Any]
    study: Any = None  # harness.report._optimization.OptimizationData of the retrain's study (None: not logged)
    decisions: list[dict] = field(default_factory=list)  # the gate's decisions on this retrain's candidates
    approvals: list[dict] = field(default_factory=list)
    decision_note: str = ""
    extra_lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def versions(self) -> list[int]:
        return [int(c["version"]) for c in self.summary.get("candidates") or [] if c.get("version") is not None]


def retrain_from_dir(folder: Path, *, lineage: dict[str, Any] | None = None) -> RetrainData:
    """From a retrain run's artifacts (or its evidence folder ``<home>/artifacts/retrains/NAME/ID``):
    ``summary.json``, ``arrays.npz`` and, where logged, ``study/``."""
    from harness.report._optimization import optimization_from_dir

    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        raise InputError(f"{folder} holds no retrain summary.json (expected a retrain run's artifacts)")
    summary = json.loads((folder / "summary.json").read_text())
    arrays: dict[str, np.ndarray] = {}
    if (folder / "arrays.npz").is_file():
        with np.load(folder / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
    study = None
    if (folder / "study" / "summary.json").is_file():
        study = optimization_from_dir(folder / "study")
        if study.study is None:
            study.study = _load_study(summary)
    return RetrainData(summary=summary, arrays=arrays, lineage=dict(lineage or {}), study=study)


def _load_study(summary: dict[str, Any]) -> Any:
    """The retrain's Optuna study from the deployment's journal storage (None where it is gone)."""
    try:
        import optuna

        from harness.optimize._storage import journal_storage
        from harness.retrain import study_storage

        name = summary.get("stats", {}).get("study_name")
        return optuna.load_study(study_name=name, storage=journal_storage(study_storage(summary["deployment"])))
    except Exception:  # noqa: BLE001 - the importances panel says the study is not reachable
        return None


def gate_records(data: RetrainData, registry: Any = None) -> None:
    """The gate's recorded decisions (and their approvals) on this retrain's registered candidates."""
    versions = set(data.versions)
    if not versions:
        data.decision_note = ("No gate decision: the retrain registered no candidate "
                              f"(outcome {data.summary.get('outcome')}).")
        return
    try:
        from harness.registry import Registry

        reg = registry if registry is not None else Registry.open()
        name = data.summary["deployment"]
        data.decisions = [d for d in reg.decisions(name) if d.get("version") in versions]
        ids = {d.get("id") for d in data.decisions}
        data.approvals = [a for a in reg.approvals(name) if a.get("decision_id") in ids]
    except Exception as exc:  # noqa: BLE001 - the rest of the page stands; this panel says why
        data.decision_note = f"The registry's decisions could not be read ({exc})."
        return
    if not data.decisions:
        vs = ", ".join(f"v{v}" for v in sorted(versions))
        data.decision_note = (f"No gate decision recorded yet on {vs}: `harness gate "
                              f"{data.summary['deployment']} {min(versions)}` puts the challenger to the gate.")


# --------------------------------------------------------------------------- page
def retrain_page(data: RetrainData, *, title: str | None = None) -> Page:
    """Every retrain panel, each saying so where its data does not exist."""
    s = data.summary
    champ = (s.get("champion") or {}).get("name")
    page = Page(title=title or f"Retrain: {s.get('deployment')} ({s.get('reason')})",
                subtitle=f"retrain {s.get('retrain_id')}: {s.get('outcome')}; champion {champ}; "
                         f"{s.get('n_trials')} trials evaluated")
    _summary_panel(page, data)
    _study_panels(page, data)
    _trials_panel(page, data)
    _candidates_panel(page, data)
    _holdout_panel(page, data)
    _decision_panel(page, data)
    _lineage_panel(page, data)
    return page


def _summary_panel(page: Page, data: RetrainData) -> None:
    s = data.summary
    w = s.get("window") or {}
    st = s.get("stats") or {}
    trig = data.lineage.get("trigger") or {}
    challenger = next((c for c in s.get("candidates") or [] if c.get("rank") == 0), None)
    rows: list[tuple[Any, ...]] = [
        ("deployment", s.get("deployment")), ("retrain id", s.get("retrain_id")), ("reason", s.get("reason")),
        ("outcome", s.get("outcome")),
        ("trigger bar", w.get("trigger_time")),
    ]
    if trig.get("from_name") or trig.get("to_name"):
        rows.append(("regime change", f"{trig.get('from_name')} -> {trig.get('to_name')} (detected at "
                                      f"{trig.get('time')})"))
    rows += [
        ("window", f"{w.get('kind')} ({w.get('requested')}): {w.get('bars')} bars {w.get('start')} .. "
                   f"{w.get('end')}"),
        ("holdout", f"{w.get('holdout')} bars from {w.get('holdout_start')}"),
    ]
    if w.get("fallback"):
        rows.append(("window fallback", w.get("fallback")))
    rows += [
        ("champion", (s.get("champion") or {}).get("name")),
        ("challenger", f"v{challenger['version']}" if challenger and challenger.get("version") is not None
         else "none registered"),
        ("study", st.get("study_name")), ("cv", st.get("cv")), ("objective", ", ".join(st.get("objective") or [])),
        ("trials evaluated (in study, requested)", f"{st.get('n_trials_evaluated')} ({st.get('n_trials_in_study')}, "
                                                   f"{st.get('n_trials_requested')})"),
        ("stopped by the timeout", bool(s.get("timed_out"))),
        ("best value (mean over folds)", st.get("best_value")),
        ("deflated Sharpe ratio (probability)", st.get("deflated_sharpe") if st.get("deflated_sharpe") is not None
         else st.get("deflated_sharpe_error", "n/a")),
        ("probability of backtest overfitting", st.get("pbo") if st.get("pbo") is not None
         else st.get("pbo_error", "n/a")),
    ]
    page.add("summary", "Retrain", html_fragment=table_html(rows, ("", "value")),
             note="From RetrainResult.summary() as the retrain stored it (its summary.json artifact): "
                  "harness.validation's DSR and PBO over the study's trials.")


def _study_panels(page: Page, data: RetrainData) -> None:
    from harness.report._optimization import _history_panel, _importance_panel

    if data.study is None:
        for key, title in (("history", "Study history"), ("importances", "Parameter importances")):
            page.add(key, title, html_fragment=_p("The retrain run has no study/ artifact (summary.json, "
                                                  "trials.csv)."))
        return
    _history_panel(page, data.study)
    _importance_panel(page, data.study)


def _trials_panel(page: Page, data: RetrainData) -> None:
    from harness.report._optimization import _value_columns
    from harness.report._transforms import top_rows

    if data.study is None or not len(data.study.trials):
        page.add("trials", "Trials", html_fragment=_p("No trials were logged."))
        return
    tr = data.study.trials
    cols = _value_columns(tr)
    params = [c for c in tr.columns if c.startswith("params_")]
    directions = data.study.lineage.get("directions") or ["maximize"]
    ascending = not str(directions[0]).lower().startswith("max")
    top = top_rows(tr, cols[0], TOP_TRIALS, ascending=ascending) if cols else tr.head(TOP_TRIALS)
    chosen = {c.get("trial"): c.get("rank") for c in data.summary.get("candidates") or []}
    rows = [(int(r["number"]), *(r[c] for c in cols), *(r[p] for p in params), r.get("state", ""),
             "" if chosen.get(int(r["number"])) is None else f"rank {chosen[int(r['number'])]}")
            for _, r in top.iterrows()]
    head = ("trial", *cols, *(p.removeprefix("params_") for p in params), "state", "candidate")
    page.add("trials", f"Best {len(top)} of {len(tr)} trials", html_fragment=table_html(rows, head),
             note="The study's trials.csv; objective values are the means over the CV folds. The candidates are "
                  "the best distinct trials.")


def _candidates_panel(page: Page, data: RetrainData) -> None:
    s = data.summary
    cands = s.get("candidates") or []
    if not cands:
        page.add("candidates", "Candidates", html_fragment=_p("The retrain produced no candidates."))
        return
    rows: list[tuple[Any, ...]] = []
    for c in cands:
        value = c.get("value")
        value = ", ".join(f"{v:.4f}" for v in value) if isinstance(value, list) else value
        h = c.get("holdout") or {}
        rows.append((c.get("rank"), "-" if c.get("version") is None else f"v{c['version']}", c.get("trial"),
                     _params_text(c.get("params")), value, *(h.get(k) for k in HOLDOUT_METRICS),
                     (c.get("stats") or {}).get("trades")))
    champ = s.get("champion_holdout") or {}
    rows.append(("champion", (s.get("champion") or {}).get("name"), "-",
                 _params_text((s.get("champion") or {}).get("params")), "-",
                 *(champ.get(k) for k in HOLDOUT_METRICS), "-"))
    head = ("rank", "version", "trial", "params", "objective (folds)", *(f"holdout {k}" for k in HOLDOUT_METRICS),
            "holdout trades")
    page.add("candidates", f"Candidates ({len(cands)}) and the champion on the holdout",
             html_fragment=table_html(rows, head),
             note="Holdout metrics as the retrain computed them (fractions; max_drawdown negative); the champion "
                  "is scored on the same holdout bars, never refitted.")


def _holdout_panel(page: Page, data: RetrainData) -> None:
    import plotly.graph_objects as go

    from harness.report._transforms import growth

    a = data.arrays
    champ = a.get("champion_returns")
    cands = sorted((int(k.split("_")[1]), v) for k, v in a.items() if k.startswith("candidate_") and
                   k.endswith("_returns"))
    if champ is None or not cands:
        page.add("holdout_equity", "Holdout: challenger against champion",
                 html_fragment=_p("The retrain's arrays.npz holds no holdout returns."))
        return
    times = a.get("holdout_times")
    x = pd.to_datetime(times, unit="ns", utc=True) if times is not None and len(times) == len(champ) \
        else np.arange(len(champ))
    names = {c.get("rank"): c for c in data.summary.get("candidates") or []}
    fig = go.Figure()
    for rank, r in reversed(cands):
        c = names.get(rank) or {}
        label = f"candidate {rank}" + (f" v{c['version']}" if c.get("version") is not None else "")
        if rank == 0:
            label = "challenger" + (f" v{c['version']}" if c.get("version") is not None else "")
        fig.add_scatter(x=x, y=growth(r), mode="lines", name=label,
                        line={"width": 2.5} if rank == 0 else {"width": 1, "dash": "dot"})
    champ_name = (data.summary.get("champion") or {}).get("name")
    fig.add_scatter(x=x, y=growth(champ), mode="lines", name=f"champion {champ_name}",
                    line={"width": 2, "color": "#5b6475"})
    fig.update_layout(height=380, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      legend={"orientation": "h"}, yaxis_title="growth of 1")
    page.add("holdout_equity", f"Holdout ({len(champ)} bars): challenger against champion {champ_name}",
             figure=fig, note="Growth of 1 from the paired holdout returns of the gate's evidence "
                              "(challenger_returns, champion_returns); other candidates dotted.")


def _decision_panel(page: Page, data: RetrainData) -> None:
    from harness.report._deployment import decision_html

    if not data.decisions:
        page.add("decision", "Gate decision", html_fragment=_p(data.decision_note or "No gate decision recorded."))
        return
    by_id: dict[Any, list[dict]] = {}
    for a in data.approvals:
        by_id.setdefault(a.get("decision_id"), []).append(a)
    parts = [decision_html(d, by_id.get(d.get("id"), [])) for d in reversed(data.decisions)]
    page.add("decision", f"Gate decision{'s' if len(parts) > 1 else ''} on this retrain's challenger",
             html_fragment="".join(parts),
             note="The gate's check table as recorded in the registry (harness gate NAME VERSION), newest first.")


def _lineage_panel(page: Page, data: RetrainData) -> None:
    from harness.report._backtest import lineage_panel

    s = data.summary
    lin = {"deployment": s.get("deployment"), "retrain_id": s.get("retrain_id"),
           "snapshot_id": s.get("snapshot_id"), "data_digest": s.get("data_digest"),
           "study_name": (s.get("stats") or {}).get("study_name"), "study_run_id": (s.get("stats") or {}).get("run_id"),
           "evidence_path": s.get("evidence_path"), **data.lineage, **data.extra_lineage}
    keys = ("run_id", "deployment", "retrain_id", "snapshot_id", "data_digest", "code_version", "seed", "strategy",
            "params", "symbols", "frequency", "start", "end", "config", "spec_hash", "study_name", "study_run_id",
            "versions", "evidence_path")
    lineage_panel(page, lin, keys=keys,
                  note="The retrain's lineage: the data snapshot and digest of its window, the spec's hash and "
                       "seed, and the study's own MLflow run. params: the challenger's.")


def _params_text(params: Any) -> str:
    return "-" if params is None else json.dumps(params, sort_keys=True)
