"""The panels of an optimisation report: Optuna history, importances, OOS folds, DSR and PBO."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.report._page import Page, table_html

__all__ = ["OptimizationData", "optimization_from_result", "optimization_from_dir", "optimization_page"]

OPTIMIZATION_PANELS = ("summary", "history", "importances", "folds", "oos_equity", "lineage")


@dataclass
class OptimizationData:
    summary: dict[str, Any]
    trials: pd.DataFrame
    oos_returns: dict[int, np.ndarray]
    lineage: dict[str, Any]
    study: Any = None
    extra_lineage: dict[str, Any] = field(default_factory=dict)


def optimization_from_result(result: Any) -> OptimizationData:
    """From a :class:`harness.OptimizationResult` (its study gives the importances)."""
    return OptimizationData(summary=result.summary(), trials=result.trials, oos_returns=dict(result.oos_returns),
                            lineage=dict(result.lineage), study=result.study)


def optimization_from_dir(folder: Path) -> OptimizationData:
    """From an ``OptimizationResult.save`` / ``harness run`` folder (summary.json, trials.csv, oos_returns.npz)."""
    folder = Path(folder)
    missing = [n for n in ("summary.json", "trials.csv") if not (folder / n).is_file()]
    if missing:
        raise InputError(f"{folder} is not an optimisation results folder: missing {', '.join(missing)}")
    summary = json.loads((folder / "summary.json").read_text())
    trials = pd.read_csv(folder / "trials.csv")
    oos: dict[int, np.ndarray] = {}
    if (folder / "oos_returns.npz").is_file():
        with np.load(folder / "oos_returns.npz") as z:
            oos = {int(k.split("_", 1)[1]): z[k] for k in z.files}
    lineage = summary.get("lineage") or {}
    study = None
    try:  # the study itself, for parameter importances, when its storage is reachable
        import optuna

        if lineage.get("study_name") and lineage.get("storage", "").startswith(("sqlite", "postgresql", "mysql")):
            study = optuna.load_study(study_name=lineage["study_name"], storage=lineage["storage"])
    except Exception:
        study = None
    return OptimizationData(summary=summary, trials=trials, oos_returns=oos, lineage=lineage, study=study)


def optimization_page(data: OptimizationData, *, title: str | None = None) -> Page:
    from harness.report._backtest import lineage_panel

    lin = data.lineage
    s = data.summary
    page = Page(title=title or f"Optimisation: {lin.get('strategy')} ({', '.join(s.get('objectives') or [])})",
                subtitle=f"study {lin.get('study_name')}, cv {json.dumps(lin.get('cv'), default=str)}")
    rows: list[tuple[Any, ...]] = [
        ("best params", json.dumps(s.get("best_params"), sort_keys=True)),
        ("best value (mean over folds)", s.get("best_value")),
        ("trials (complete)", f"{s.get('n_trials')} ({s.get('n_complete')})"),
    ]
    dsr = s.get("deflated_sharpe")
    rows.append(("deflated Sharpe ratio (probability)", dsr if dsr is not None else s.get("deflated_sharpe_error")))
    pbo = s.get("pbo")
    rows.append(("probability of backtest overfitting",
                 pbo.get("pbo") if isinstance(pbo, dict) else s.get("pbo_error", "n/a")))
    for k, v in (s.get("oos_metrics") or {}).items():
        rows.append((f"best trial OOS {k}", v))
    page.add("summary", "Result", html_fragment=table_html(rows, ("", "value")),
             note="Numbers from OptimizationResult.summary(): harness.validation's DSR and PBO (CSCV).")
    _history_panel(page, data)
    _importance_panel(page, data)
    _fold_panel(page, data)
    _oos_equity_panel(page, data)
    lineage_panel(page, {**lin, **data.extra_lineage})
    return page


def _value_columns(trials: pd.DataFrame) -> list[str]:
    return [c for c in trials.columns if c == "value" or c.startswith("values_")]


def _history_panel(page: Page, data: OptimizationData) -> None:
    import plotly.graph_objects as go

    tr = data.trials
    cols = _value_columns(tr)
    fig = go.Figure()
    if cols and len(tr):
        col = cols[0]
        done = tr[tr.get("state", pd.Series(["COMPLETE"] * len(tr))) == "COMPLETE"]
        fig.add_scatter(x=done["number"], y=done[col], mode="markers", name=f"trial {col}")
        directions = data.lineage.get("directions") or ["maximize"]
        direction_max = str(directions[0]).lower().startswith("max")
        best = done[col].cummax() if direction_max else done[col].cummin()
        fig.add_scatter(x=done["number"], y=best, mode="lines", name="best so far")
    fig.update_layout(height=360, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      xaxis_title="trial", yaxis_title="objective (mean over folds)")
    page.add("history", "Optimisation history", figure=fig)


def _importance_panel(page: Page, data: OptimizationData) -> None:
    import plotly.graph_objects as go

    if data.study is None:
        page.add("importances", "Parameter importances",
                 html_fragment="<p>The study's storage is not reachable, so importances cannot be computed.</p>")
        return
    try:
        import optuna

        imp = optuna.importance.get_param_importances(data.study, target=(
            (lambda t: t.values[0]) if len(data.study.directions) > 1 else None))
    except Exception as exc:  # too few trials, a single parameter...
        page.add("importances", "Parameter importances", html_fragment=f"<p>Not available: {exc}</p>")
        return
    names = list(imp)[::-1]
    fig = go.Figure(go.Bar(x=[imp[n] for n in names], y=names, orientation="h"))
    fig.update_layout(height=max(220, 40 * len(names) + 80), template="plotly_white",
                      margin={"l": 90, "r": 20, "t": 20, "b": 30}, xaxis_title="importance (fANOVA)")
    page.add("importances", "Parameter importances", figure=fig,
             note="optuna.importance.get_param_importances (fANOVA) over the study's complete trials.")


def _fold_values(cell: Any) -> list[list[float | None]] | None:
    if isinstance(cell, list):
        return cell
    if isinstance(cell, str) and cell.strip().startswith("["):
        try:
            return ast.literal_eval(cell.replace("nan", "None"))
        except (ValueError, SyntaxError):
            return None
    return None


def _fold_panel(page: Page, data: OptimizationData) -> None:
    tr = data.trials
    best = data.summary.get("best_trial")
    col = "user_attrs_fold_values"
    if best is None or col not in tr.columns or not (tr["number"] == best).any():
        page.add("folds", "Out-of-sample folds", html_fragment="<p>No per-fold values recorded.</p>")
        return
    values = _fold_values(tr.loc[tr["number"] == best, col].iloc[0]) or []
    objectives = data.summary.get("objectives") or ["objective"]
    rows = [(f"fold {k}", *[(v if v is not None else float("nan")) for v in fold]) for k, fold in enumerate(values)]
    positive = sum(1 for fold in values if fold and fold[0] is not None and fold[0] > 0)
    page.add("folds", f"Out-of-sample folds of the best trial (#{best})",
             html_fragment=table_html(rows, ("fold", *objectives)),
             note=f"{positive} of {len(values)} folds have a positive {objectives[0]}.")


def _oos_equity_panel(page: Page, data: OptimizationData) -> None:
    import plotly.graph_objects as go

    best = data.summary.get("best_trial")
    fig = go.Figure()
    if data.oos_returns:
        numbers = sorted(data.oos_returns)
        for n in numbers[:: max(1, len(numbers) // 50)]:  # a sample of the trials, faint
            if n == best:
                continue
            r = np.nan_to_num(data.oos_returns[n])
            fig.add_scatter(y=np.cumprod(1.0 + r), mode="lines", line={"width": 1, "color": "rgba(120,120,120,0.25)"},
                            showlegend=False, hoverinfo="skip")
        if best in data.oos_returns:
            r = np.nan_to_num(data.oos_returns[best])
            fig.add_scatter(y=np.cumprod(1.0 + r), mode="lines", name=f"best trial #{best}",
                            line={"width": 2.5})
    fig.update_layout(height=360, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      xaxis_title="out-of-sample bar (folds concatenated)", yaxis_title="growth of 1")
    page.add("oos_equity", "Out-of-sample growth: best trial against the others", figure=fig,
             note="Faint lines: up to 50 of the other complete trials. Selection inflates the best line; "
                  "DSR and PBO above correct for it.")
