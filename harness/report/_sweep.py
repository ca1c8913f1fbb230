"""The panels of a sweep report: the best rows, the metric over the grid, its distribution, lineage.

Everything comes from the sweep's own table (``harness.sweep`` metrics, one row per
combination) and lineage as :func:`harness.registry.log_sweep` logged them. The only
computation is the best combination's backtest for the equity panel: the engine's
:func:`harness.backtest` of that row's params on the sweep's bars (the same numbers as
the row, since a sweep's metrics equal the backtest's stats).
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
from harness.report._transforms import grid_pivot, top_rows, varying_columns

__all__ = ["SweepData", "sweep_from_dir", "sweep_page", "SWEEP_PANELS", "TOP_ROWS"]

SWEEP_PANELS = ("summary", "top", "landscape", "distribution", "best_equity", "lineage")
#: rows of the table shown, best first
TOP_ROWS = 20


@dataclass
class SweepData:
    """What a sweep report needs: the table, which columns are metrics, and the lineage."""

    table: pd.DataFrame
    lineage: dict[str, Any]
    metrics: list[str]
    sort: str
    ascending: bool = False
    logged: dict[str, float] = field(default_factory=dict)  # the run's MLflow metrics (best_<metric>, n_rows)
    best_result: Any = None  # the engine's backtest of the best row (None: not rerun)
    best_note: str = ""
    extra_lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> list[str]:
        return [c for c in self.table.columns if c not in self.metrics]

    @property
    def axes(self) -> list[str]:
        """The parameters the grid varies."""
        return varying_columns(self.table, self.params)


def sweep_from_dir(folder: Path, *, lineage: dict[str, Any] | None = None) -> SweepData:
    """From a sweep's files: ``results.csv`` or ``results.parquet`` and ``lineage.json``."""
    folder = Path(folder)
    table_path = next((folder / n for n in ("results.csv", "results.parquet") if (folder / n).is_file()), None)
    if table_path is None:
        raise InputError(f"{folder} holds no sweep table (results.csv or results.parquet)")
    table = pd.read_parquet(table_path) if table_path.suffix == ".parquet" else pd.read_csv(table_path)
    if lineage is None:
        lin_path = folder / "lineage.json"
        lineage = json.loads(lin_path.read_text()) if lin_path.is_file() else {}
    metrics = [m for m in (lineage.get("metrics") or []) if m in table.columns]
    if not metrics:
        from harness.sweep import METRICS

        metrics = [c for c in table.columns if c in METRICS]
    if not metrics:
        raise InputError(f"{table_path} has no metric columns (expected some of harness.sweep.METRICS)")
    sort = lineage.get("sort") if lineage.get("sort") in table.columns else metrics[0]
    return SweepData(table=table, lineage=dict(lineage), metrics=metrics, sort=sort,
                     ascending=bool(lineage.get("ascending", False)))


def best_backtest(data: SweepData) -> None:
    """The engine's backtest of the best row on the sweep's bars (at its snapshot); where the bars
    cannot be read again the panel says why."""
    lin = data.lineage
    if not len(data.table):
        data.best_note = "The sweep has no rows."
        return
    if not lin.get("snapshot_id") or not lin.get("strategy"):
        data.best_note = "No equity drawn: the sweep's bars have no snapshot id, so they cannot be read again."
        return
    try:
        from harness._bars import load_bars
        from harness.engine import BacktestConfig, backtest

        best = top_rows(data.table, data.sort, 1, ascending=data.ascending).iloc[0]
        params = {k: _py(best[k]) for k in data.params}
        bars = load_bars(list(lin.get("symbols") or []), start=lin.get("start"), end=lin.get("end"),
                         frequency=str(lin.get("frequency") or "1d"), snapshot=lin["snapshot_id"])
        data.best_result = backtest(bars, lin["strategy"], params, config=BacktestConfig.from_dict(lin.get("config")
                                                                                                   or {}))
    except Exception as exc:  # noqa: BLE001 - the other panels stand; this one says why it is empty
        data.best_note = f"No equity drawn: the best combination could not be backtested again ({exc})."


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# --------------------------------------------------------------------------- page
def sweep_page(data: SweepData, *, title: str | None = None) -> Page:
    """Every sweep panel, each saying so where its data is missing."""
    from harness.report._backtest import lineage_panel

    lin = data.lineage
    axes = data.axes
    page = Page(title=title or f"Sweep: {lin.get('strategy')} over {', '.join(axes) or 'one combination'}",
                subtitle=f"{', '.join(lin.get('symbols') or [])} {lin.get('frequency') or ''} "
                         f"{lin.get('start')} .. {lin.get('end')}; ranked by {data.sort}"
                         f"{' (ascending)' if data.ascending else ''}")
    _summary_panel(page, data)
    _top_panel(page, data)
    _landscape_panel(page, data)
    _distribution_panel(page, data)
    _best_equity_panel(page, data)
    lineage_panel(page, {**lin, **data.extra_lineage},
                  keys=("run_id", "snapshot_id", "data_digest", "code_version", "strategy", "grid", "symbols",
                        "frequency", "start", "end", "config", "metrics", "sort"),
                  note="Everything needed to rerun this sweep (harness reproduce RUN_ID).")
    return page


def _summary_panel(page: Page, data: SweepData) -> None:
    lin = data.lineage
    t = data.table
    rows: list[tuple[Any, ...]] = [
        ("strategy", lin.get("strategy")),
        ("grid", json.dumps(lin.get("grid"), sort_keys=True, default=str)),
        ("combinations", lin.get("n_combinations", len(t))),
        ("rows (valid combinations)", len(t)),
        ("ranked by", f"{data.sort} ({'smallest' if data.ascending else 'largest'} first)"),
    ]
    if lin.get("interrupted"):
        rows.append(("interrupted", True))
    if len(t):
        best = top_rows(t, data.sort, 1, ascending=data.ascending).iloc[0]
        rows.append(("best params", json.dumps({k: _py(best[k]) for k in data.axes or data.params},
                                               sort_keys=True, default=str)))
        rows += [(f"best {m}", _py(best[m])) for m in data.metrics]
    from harness.registry._tracking import metric_key

    logged = data.logged.get(f"best_{metric_key(data.sort)}")
    if logged is not None:
        rows.append((f"logged run metric best_{metric_key(data.sort)}", logged))
    page.add("summary", "Result", html_fragment=table_html(rows, ("", "value")),
             note="The sweep's own metrics (harness.sweep: fractions, max_drawdown negative), unchanged; "
                  "the best row is the one the run logged as best_<metric>.")


def _top_panel(page: Page, data: SweepData) -> None:
    t = data.table
    if not len(t):
        page.add("top", "Best combinations", html_fragment="<p>The sweep has no rows.</p>")
        return
    top = top_rows(t, data.sort, TOP_ROWS, ascending=data.ascending)
    cols = [*(data.axes or data.params), *data.metrics]
    rows = [(i, *(_py(r[c]) for c in cols)) for i, (_, r) in enumerate(top.iterrows(), 1)]
    page.add("top", f"Best {len(top)} of {len(t)} combinations by {data.sort}",
             html_fragment=table_html(rows, ("#", *cols)))


def _numeric(s: pd.Series) -> pd.Series:
    return s.astype(np.float64) if s.dtype == bool else pd.to_numeric(s, errors="coerce")


def _landscape_panel(page: Page, data: SweepData) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = data.table
    axes = data.axes
    metric = data.sort
    if not axes:
        page.add("landscape", f"{metric} over the grid",
                 html_fragment="<p>The grid has a single combination: nothing varies.</p>")
        return
    if len(axes) == 2:
        x, y = axes
        z = grid_pivot(t, x, y, metric)
        fig = go.Figure(go.Heatmap(z=z.to_numpy(), x=[str(v) for v in z.columns], y=[str(v) for v in z.index],
                                   colorscale="RdYlGn", reversescale=data.ascending, colorbar={"title": metric},
                                   hovertemplate=f"{x}=%{{x}} {y}=%{{y}}: %{{z:.4f}}<extra></extra>"))
        fig.update_layout(height=460, template="plotly_white", margin={"l": 60, "r": 20, "t": 20, "b": 40},
                          xaxis_title=x, yaxis_title=y, xaxis_type="category", yaxis_type="category")
        page.add("landscape", f"{metric} over {x} and {y}", figure=fig,
                 note="Blank cells: combinations the strategy rejected (or an undefined metric).")
        return
    fig = make_subplots(rows=1, cols=len(axes), shared_yaxes=True, horizontal_spacing=0.04)
    best = top_rows(t, metric, 1, ascending=data.ascending).index[0]
    for i, a in enumerate(axes, 1):
        fig.add_scatter(x=_numeric(t[a]), y=t[metric], mode="markers", name=a, row=1, col=i, showlegend=False,
                        marker={"size": 6, "opacity": 0.6}, text=[_row_text(r, axes) for _, r in t.iterrows()],
                        hovertemplate="%{text}<br>" + metric + " %{y:.4f}<extra></extra>")
        fig.add_scatter(x=[_numeric(t[a]).loc[best]], y=[t[metric].loc[best]], mode="markers", row=1, col=i,
                        showlegend=i == 1, name="best", marker={"size": 11, "color": "#b3261e", "symbol": "star"})
        fig.update_xaxes(title_text=a, row=1, col=i)
    fig.update_yaxes(title_text=metric, row=1, col=1)
    fig.update_layout(height=380, template="plotly_white", margin={"l": 60, "r": 20, "t": 20, "b": 40},
                      legend={"orientation": "h"})
    page.add("landscape", f"{metric} against each parameter ({len(axes)} varied)", figure=fig,
             note="One point per combination; the star is the best.")


def _row_text(r: pd.Series, axes: list[str]) -> str:
    return ", ".join(f"{a}={_py(r[a])}" for a in axes)


def _distribution_panel(page: Page, data: SweepData) -> None:
    import plotly.graph_objects as go

    t = data.table
    metric = data.sort
    values = pd.to_numeric(t[metric], errors="coerce") if len(t) else pd.Series(dtype=float)
    finite = values[np.isfinite(values)]
    fig = go.Figure(go.Histogram(x=finite, nbinsx=min(50, max(5, len(finite) // 3)), name=metric,
                                 marker={"color": "#1f77b4"}))
    notes = []
    if len(finite):
        best = float(top_rows(t, metric, 1, ascending=data.ascending)[metric].iloc[0])
        fig.add_vline(x=best, line={"color": "#b3261e", "dash": "dash"}, annotation_text="best")
    if len(finite) < len(values):
        notes.append(f"{len(values) - len(finite)} combinations with an undefined {metric} are left out.")
    fig.update_layout(height=320, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 40},
                      xaxis_title=metric, yaxis_title="combinations", bargap=0.05)
    page.add("distribution", f"Distribution of {metric} across {len(finite)} combinations", figure=fig,
             note=" ".join(["The dashed line is the best combination: selection picks the tail of this "
                            "distribution.", *notes]))


def _best_equity_panel(page: Page, data: SweepData) -> None:
    import plotly.graph_objects as go

    from harness.report._backtest import _line, _note
    from harness.report._transforms import buy_and_hold

    res = data.best_result
    if res is None:
        page.add("best_equity", "Best combination against buy and hold",
                 html_fragment=f"<p>{data.best_note or 'Not drawn.'}</p>")
        return
    close = pd.DataFrame(res.bars.close, index=res.index, columns=list(res.bars.symbols))
    fig = go.Figure()
    notes: list[str] = []
    _line(fig, res.equity, "best combination", notes)
    _line(fig, buy_and_hold(close, float(res.config.init_cash)), "buy and hold", notes, line={"dash": "dot"})
    fig.update_layout(height=380, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      legend={"orientation": "h"}, yaxis_title="equity")
    params = ", ".join(f"{k}={v}" for k, v in (res.lineage.get("params") or {}).items())
    stats = res.stats
    table = table_html([(k, stats.get(k)) for k in ("Total Return [%]", "Sharpe Ratio", "Max Drawdown [%]",
                                                    "Number of Trades") if k in stats], ("statistic", "value"))
    page.add("best_equity", f"Best combination ({params}) against buy and hold", figure=fig,
             html_fragment=table,
             note=" ".join(x for x in ("harness.backtest of the best row's params on the sweep's bars (its "
                                       "snapshot); its statistics equal the row's metrics.", _note(notes)) if x))
