"""The panels of a backtest report, from a :class:`BacktestResult` or a results folder."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.report._page import Page, table_html
from harness.report._transforms import (
    buy_and_hold,
    downsample,
    drawdown,
    monthly_returns,
    returns_of,
    rolling_sharpe,
    rolling_volatility,
)

__all__ = ["RunData", "from_result", "from_results_dir", "backtest_page", "regime_panel", "lineage_panel",
           "MAX_POINTS"]

#: Points per plotted line; longer series are downsampled (bucket min/max) and the page says so.
MAX_POINTS = 4000
#: Symbols whose prices and trades are drawn (the rest are listed in a note).
MAX_TRADE_SYMBOLS = 4

BACKTEST_PANELS = ("summary", "equity", "trades", "monthly", "rolling", "regimes", "lineage")


@dataclass
class RunData:
    """What a backtest report needs; every field comes straight from the run."""

    equity: pd.Series
    init_cash: float
    stats: dict[str, Any]
    lineage: dict[str, Any]
    frequency: str
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)
    close: pd.DataFrame | None = None  # bar closes (time x symbol) for the benchmark, trades and regimes
    extra_lineage: dict[str, Any] = field(default_factory=dict)


def from_result(result: Any) -> RunData:
    """The report data of a :class:`harness.engine.BacktestResult`."""
    bars = result.bars
    close = pd.DataFrame(bars.close, index=result.index, columns=list(bars.symbols))
    return RunData(equity=result.equity, init_cash=float(result.config.init_cash), stats=dict(result.stats),
                   lineage=dict(result.lineage), frequency=bars.frequency,
                   trades=result.trades.drop(columns=["entry_idx", "exit_idx"]), close=close)


def from_results_dir(folder: Path) -> RunData:
    """The report data of a ``harness backtest`` results folder (no MLflow needed).

    It reads ``equity.csv``, ``trades.csv``, ``stats.json`` and ``lineage.json``; the bar
    closes for the benchmark, trade and regime panels come from the home store at the
    recorded snapshot when it is there (otherwise those panels say why they are missing).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"results folder {folder} does not exist")
    need = ["equity.csv", "stats.json", "lineage.json"]
    missing = [n for n in need if not (folder / n).is_file()]
    if missing:
        raise InputError(f"{folder} is not a backtest results folder: missing {', '.join(missing)} "
                         "(expected the output of `harness backtest`)")
    eq = pd.read_csv(folder / "equity.csv", index_col=0)
    eq.index = pd.to_datetime(eq.index, utc=True)
    if "equity" not in eq.columns:
        raise InputError(f"{folder / 'equity.csv'} has no 'equity' column")
    trades = pd.read_csv(folder / "trades.csv") if (folder / "trades.csv").is_file() else pd.DataFrame()
    for col in ("entry_time", "exit_time"):
        if col in trades.columns:
            trades[col] = pd.to_datetime(trades[col], utc=True)
    stats = json.loads((folder / "stats.json").read_text())
    lineage = json.loads((folder / "lineage.json").read_text())
    init_cash = float((lineage.get("config") or {}).get("init_cash", 100_000.0))
    close = _closes_from_store(lineage, eq.index)
    return RunData(equity=eq["equity"], init_cash=init_cash, stats=stats, lineage=lineage,
                   frequency=str(lineage.get("frequency") or "1d"), trades=trades, close=close)


def _closes_from_store(lineage: dict[str, Any], index: pd.DatetimeIndex) -> pd.DataFrame | None:
    symbols = lineage.get("symbols")
    if not symbols:
        return None
    try:
        from harness._bars import load_bars

        bars = load_bars(symbols, start=lineage.get("start"), end=lineage.get("end"),
                         frequency=str(lineage.get("frequency") or "1d"), snapshot=lineage.get("snapshot_id"))
    except Exception:  # the store or the snapshot is not here: those panels explain themselves
        return None
    idx = pd.DatetimeIndex(bars.timestamps.view("datetime64[ns]")).tz_localize("UTC")
    return pd.DataFrame(bars.close, index=idx, columns=list(bars.symbols)).reindex(index)


# --------------------------------------------------------------------------- panels
def backtest_page(data: RunData, *, title: str | None = None) -> Page:
    """Every backtest panel the data allows, in a :class:`Page`."""
    from market_data.frequency import periods_per_year

    lin = data.lineage
    strat = lin.get("strategy") or "weights"
    params = ", ".join(f"{k}={v}" for k, v in (lin.get("params") or {}).items())
    syms = ", ".join(lin.get("symbols") or [])
    page = Page(title=title or f"Backtest: {strat}({params})",
                subtitle=f"{syms} {data.frequency} {lin.get('start')} .. {lin.get('end')}")
    ppy = periods_per_year(data.frequency)
    page.add("summary", "Statistics", html_fragment=table_html(
        [(k, v) for k, v in data.stats.items()], ("statistic", "value")),
        note="The engine's own statistics (BacktestResult.stats), unchanged.")
    _equity_panel(page, data)
    _trades_panel(page, data)
    _monthly_panel(page, data)
    _rolling_panel(page, data, ppy)
    regime_panel(page, data.close)
    lineage_panel(page, {**lin, **data.extra_lineage})
    return page


def _line(fig: Any, series: pd.Series, name: str, notes: list[str], **kw: Any) -> None:
    shown, cut = downsample(series, MAX_POINTS)
    if cut:
        notes.append(f"{name}: {len(series):,} points shown as {len(shown):,} (each bucket's min and max)")
    fig.add_scatter(x=shown.index, y=shown.to_numpy(), name=name, mode="lines", **kw)


def _note(notes: list[str]) -> str:
    return ("Downsampled for display: " + "; ".join(notes) + ".") if notes else ""


def _equity_panel(page: Page, data: RunData) -> None:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    notes: list[str] = []
    _line(fig, data.equity, "strategy", notes, row=1, col=1)
    bench_note = ""
    if data.close is not None and data.close.shape[1]:
        _line(fig, buy_and_hold(data.close, data.init_cash), "buy and hold", notes, row=1, col=1,
              line={"dash": "dot"})
    else:
        bench_note = " No benchmark: the bars are not available."
    dd = drawdown(data.equity, data.init_cash) * 100.0
    _line(fig, dd, "drawdown [%]", notes, row=2, col=1, fill="tozeroy")
    fig.update_layout(height=520, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      legend={"orientation": "h"})
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown [%]", row=2, col=1)
    page.add("equity", "Equity and drawdown against buy and hold", figure=fig,
             note=(_note(notes) + bench_note).strip())


def _trades_panel(page: Page, data: RunData) -> None:
    import plotly.graph_objects as go

    if data.close is None:
        page.add("trades", "Trades on price", html_fragment="<p>The bars of this run are not in the home store, "
                 "so prices cannot be drawn.</p>")
        return
    tr = data.trades
    symbols = list(data.close.columns)
    if len(tr) and "pnl" in tr.columns and "symbol" in tr.columns:
        ranked = tr.groupby("symbol")["pnl"].apply(lambda s: s.abs().sum()).sort_values(ascending=False)
        symbols = [s for s in ranked.index if s in data.close.columns] + \
            [s for s in symbols if s not in ranked.index]
    shown_syms = symbols[:MAX_TRADE_SYMBOLS]
    fig = go.Figure()
    notes: list[str] = []
    for sym in shown_syms:
        _line(fig, data.close[sym].dropna(), sym, notes)
        if len(tr) and "symbol" in tr.columns:
            t = tr[tr["symbol"] == sym]
            fig.add_scatter(x=t["entry_time"], y=t["entry_price"], mode="markers", name=f"{sym} entry",
                            marker={"symbol": "triangle-up", "color": "#137333", "size": 8},
                            text=t.get("direction"))
            closed = t[t["status"] == "closed"] if "status" in t.columns else t
            fig.add_scatter(x=closed["exit_time"], y=closed["exit_price"], mode="markers", name=f"{sym} exit",
                            marker={"symbol": "triangle-down", "color": "#b3261e", "size": 8},
                            text=closed.get("exit_reason"))
    fig.update_layout(height=420, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      yaxis_type="log" if bool((data.close[shown_syms] > 0).all().all()) else "linear")
    extra = f" Showing {len(shown_syms)} of {len(symbols)} symbols (largest traded P&L first)." \
        if len(symbols) > len(shown_syms) else ""
    n_tr = len(tr)
    page.add("trades", f"Trades on price ({n_tr} trades)", figure=fig, note=(_note(notes) + extra).strip())


def _monthly_panel(page: Page, data: RunData) -> None:
    import plotly.graph_objects as go

    table = monthly_returns(data.equity, data.init_cash) * 100.0
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    z = table.to_numpy(dtype=np.float64)
    text = np.where(np.isfinite(z), np.char.mod("%.1f", np.nan_to_num(z)), "")
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(z=z, x=months, y=[str(y) for y in table.index], text=text, texttemplate="%{text}",
                               colorscale="RdYlGn", zmid=0.0, zmin=-lim, zmax=lim,
                               colorbar={"title": "%"}, hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>"))
    fig.update_layout(height=max(260, 22 * len(table) + 80), template="plotly_white",
                      margin={"l": 50, "r": 20, "t": 20, "b": 30}, yaxis={"autorange": "reversed"})
    page.add("monthly", "Monthly returns [%]", figure=fig,
             note="Each month's compounded return of the equity curve (UTC calendar months).")


def _rolling_window(n: int, ppy: float) -> int:
    w = int(round(ppy / 2))  # half a year of bars
    return max(2, min(w, max(2, n // 4)))


def _rolling_panel(page: Page, data: RunData, ppy: float) -> None:
    from plotly.subplots import make_subplots

    r = returns_of(data.equity, data.init_cash)
    w = _rolling_window(len(r), ppy)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    notes: list[str] = []
    _line(fig, rolling_sharpe(r, w, ppy).dropna(), "rolling Sharpe", notes, row=1, col=1)
    _line(fig, rolling_volatility(r, w, ppy).dropna() * 100.0, "rolling volatility [%]", notes, row=2, col=1)
    fig.update_layout(height=420, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      legend={"orientation": "h"})
    page.add("rolling", f"Rolling Sharpe and volatility ({w} bars, annualised)", figure=fig,
             note=_note(notes))


def regime_panel(page: Page, close: pd.DataFrame | None, detector: Any = None, *, symbol: str | None = None,
                 shown_from: Any = None, note: str = "") -> None:
    """Price of ``symbol`` (default: the first column) with the bands an online detector labelled
    high-volatility. The detector runs over every bar of ``close``; only the bars from
    ``shown_from`` on are drawn (so labels there are the ones the detector gave at the time,
    having seen the history before them)."""
    import plotly.graph_objects as go

    if close is None or not close.shape[1]:
        page.add("regimes", "Volatility regimes", html_fragment="<p>The bars of this run are not in the home "
                 "store, so regimes cannot be computed.</p>")
        return
    from harness import regime

    sym = symbol if symbol is not None else close.columns[0]
    px = close[sym]
    c = px.to_numpy(dtype=np.float64)
    r = np.full(c.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = np.log(c[1:] / c[:-1])
    det = detector if detector is not None else regime.default()
    res = det.run(r)
    first = 0 if shown_from is None else int(np.searchsorted(px.index, pd.Timestamp(shown_from), "left"))
    first = min(first, max(len(px) - 1, 0))
    fig = go.Figure()
    notes: list[str] = []
    _line(fig, px.iloc[first:].dropna(), sym, notes)
    idx = px.index
    colours = {0: "rgba(46,125,50,0.10)", 1: "rgba(249,168,37,0.18)", 2: "rgba(198,40,40,0.18)"}
    for p in res.periods():
        if p.label <= 0 or p.end < first:
            continue
        fig.add_vrect(x0=idx[max(p.start, first)], x1=idx[min(p.end + 1, len(idx) - 1)], line_width=0,
                      fillcolor=colours.get(min(p.label, 2), "rgba(198,40,40,0.18)"), layer="below")
    fig.update_layout(height=380, template="plotly_white", margin={"l": 50, "r": 20, "t": 20, "b": 30},
                      yaxis_type="log" if bool((px.iloc[first:].dropna() > 0).all()) else "linear")
    n_changes = int((res.change_points >= first).sum())
    page.add("regimes", f"Volatility regimes of {sym} ({det.name} detector, {n_changes} changes)", figure=fig,
             note=(f"Shaded: bars the online {det.name} detector labelled high-volatility at the time "
                   f"(no hindsight). {note} {_note(notes)}").strip().replace("  ", " "))


LINEAGE_KEYS = ("run_id", "reproduced", "snapshot_id", "data_digest", "code_version", "seed", "strategy", "params",
                "symbols", "frequency", "start", "end", "study_name", "config")


def lineage_panel(page: Page, lineage: dict[str, Any], *, keys: tuple[str, ...] = LINEAGE_KEYS,
                  note: str = "Everything needed to reproduce this result (harness reproduce RUN_ID).",
                  empty: str = "") -> None:
    rows = []
    for k in keys:
        if k in lineage and lineage[k] not in (None, ""):
            v = lineage[k]
            rows.append((k, json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v))
    fragment = table_html(rows, ("field", "value")) if rows or not empty else f"<p>{html.escape(empty)}</p>"
    page.add("lineage", "Lineage", html_fragment=fragment, note=note)
