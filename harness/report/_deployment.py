"""The deployment report: a deployment's story so far, from the registry, audit trail, paper ledger and monitor.

Everything shown is read through the owners' APIs: :class:`harness.registry.Registry`
(versions with their feature attributions, gate decisions, approvals, alias history),
:mod:`harness.audit` (the timeline),
:class:`harness.paper.Ledger` (paper equity, alerts, risk events), :func:`harness.monitor.alerts`
and the deployment spec (its regime detector). The only computation of our own is the
backtest the paper equity is drawn against: the engine's :func:`harness.backtest` of the
versions the ledger traded (each bar's champion, weights decided on the whole stored history
before the bar, as the runner decides), on the ledger's bars; and display transforms.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.report._page import Page, table_html
from harness.report._page import paragraph as _p

__all__ = ["DeploymentData", "deployment_data", "deployment_page", "decision_html", "DEPLOYMENT_PANELS"]

DEPLOYMENT_PANELS = ("summary", "timeline", "decisions", "attributions", "paper", "alerts", "regimes", "lineage")

#: audit kinds on the timeline, by lane (top to bottom)
_LANES: dict[str, tuple[str, ...]] = {
    "deployment": ("deployment_created", "deployment_changed"),
    "retrain": ("retrain_triggered", "retrain_completed", "detector_reset"),
    "candidate": ("candidate_registered", "challenger_set"),
    "decision": ("gate_decision", "approval", "rejection", "self_approval"),
    "promotion": ("promotion",),
    "rollback": ("rollback",),
    "paper": ("paper_started", "paper_stopped", "paper_swap", "risk_state"),
    "alert": ("drift_alert",),
}
_LANE_OF = {k: lane for lane, kinds in _LANES.items() for k in kinds}
_LANE_COLOURS = {"deployment": "#5b6475", "retrain": "#1f77b4", "candidate": "#9467bd", "decision": "#ff7f0e",
                 "promotion": "#137333", "rollback": "#b3261e", "paper": "#17becf", "alert": "#d62728"}
#: decisions shown open on the page (the newest); older ones are folded
OPEN_DECISIONS = 3
#: alert rows listed per source (the newest)
MAX_ALERT_ROWS = 50
#: versions whose attributions are drawn (the newest); each one's table is listed below the chart
MAX_ATTRIBUTION_VERSIONS = 6


@dataclass
class DeploymentData:
    """What a deployment report needs; every field comes from the deployment's own records."""

    name: str
    info: Any  # harness.registry.DeploymentInfo
    versions: list[Any] = field(default_factory=list)  # ModelVersion, oldest first
    decisions: list[dict] = field(default_factory=list)
    approvals: list[dict] = field(default_factory=list)
    alias_history: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # audit records of the deployment, oldest first
    events_note: str = ""
    paper_equity: pd.Series | None = None
    backtest_equity: pd.Series | None = None
    backtest_note: str = ""
    init_cash: float | None = None
    swaps: list[tuple[pd.Timestamp, str]] = field(default_factory=list)  # (bar time, version) of each change
    ledger_path: str | None = None
    ledger_state: dict = field(default_factory=dict)
    ledger_digest: str | None = None
    ledger_alerts: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk_events: pd.DataFrame = field(default_factory=pd.DataFrame)
    monitor_alerts: list[Any] = field(default_factory=list)  # harness.monitor.Alert
    close: pd.DataFrame | None = None  # the regime symbol's closes from [data] start
    regime_symbol: str | None = None
    detector: Any = None
    regime_note: str = ""
    spec: Any = None  # DeploymentSpec, None when the stored spec does not load
    spec_note: str = ""

    @property
    def champion(self) -> Any:
        number = self.info.champion
        return next((v for v in self.versions if v.version == number), None)


# --------------------------------------------------------------------------- gathering
def deployment_data(name: str, *, registry: Any = None) -> DeploymentData:
    """Everything the report shows about deployment ``name``; :class:`UnknownDeploymentError` if unknown."""
    from harness.registry import Registry

    reg = registry if registry is not None else Registry.open()
    info = reg.deployment(name)  # UnknownDeploymentError, with a did-you-mean hint
    data = DeploymentData(name=name, info=info, versions=reg.versions(name), decisions=reg.decisions(name),
                          approvals=reg.approvals(name), alias_history=reg.alias_history(name))
    _spec(data)
    _events(data)
    _paper(data, reg)
    _alerts(data)
    _regimes(data)
    return data


def _spec(data: DeploymentData) -> None:
    from harness.deploy import loads_deployment

    try:
        data.spec = loads_deployment(data.info.spec, source=f"deployment {data.name!r} "
                                                         f"(spec v{data.info.spec_version} in the registry)")
    except Exception as exc:  # noqa: BLE001 - the page says why the spec's parts are missing
        data.spec_note = f"the stored spec does not load ({exc})"


def _events(data: DeploymentData) -> None:
    from harness import audit

    try:
        data.events = audit.trail().records(deployment=data.name)
    except Exception as exc:  # noqa: BLE001 - a damaged trail: the registry's own history still shows
        data.events_note = f"The audit trail could not be read ({exc}); `harness audit verify` says why."


def _paper(data: DeploymentData, reg: Any) -> None:
    from harness.paper import Ledger, ledger_path

    path = ledger_path(data.name)
    if not path.exists():
        return
    led = Ledger(path, deployment=data.name)
    try:
        data.ledger_path = str(path)
        eq = led.equity()
        data.paper_equity = eq
        data.init_cash = float(led.meta.get("init_cash", 0.0))
        data.ledger_state = led.state()
        data.ledger_alerts = led.alerts()
        data.risk_events = led.risk_events()
        data.ledger_digest = led.digest() if len(eq) else None
        # bars: bar_time, bar_index, digest, cash, equity, version (the version that traded the bar)
        versions = [r[5] for r in sorted(led.table_rows("bars"), key=lambda r: r[0])]
        symbols = list(led.symbols)
        config = led.meta.get("config") or {}
    finally:
        led.close()
    if not len(eq):
        return
    times = eq.index
    vs = np.asarray(versions, dtype=object)
    change = np.flatnonzero(np.concatenate([[True], vs[1:] != vs[:-1]]))
    data.swaps = [(times[i], str(vs[i])) for i in change]
    try:
        data.backtest_equity, data.backtest_note = _backtest_of_ledger(reg, data.name, times, vs, symbols, config)
    except Exception as exc:  # noqa: BLE001 - the paper equity is still shown; the page says why alone
        data.backtest_equity, data.backtest_note = None, f"No backtest drawn: {exc}"


def _backtest_of_ledger(reg: Any, name: str, times: pd.DatetimeIndex, versions: np.ndarray, symbols: list[str],
                        config: dict) -> tuple[pd.Series | None, str]:
    """The engine's backtest of the versions the ledger traded, on the ledger's bars.

    Each version's weights are decided on the whole stored history (as the runner decides,
    bar by bar, with the history before each bar); each bar takes the weights of the version
    that traded it, so a ledger that followed its champions bar for bar equals this curve.
    """
    from harness import backtest
    from harness._bars import load_bars
    from harness.engine import BacktestConfig

    numbers = list(dict.fromkeys(versions.tolist()))
    if not all(str(v).isdigit() for v in numbers):
        return None, f"No backtest drawn: the ledger traded {', '.join(map(str, numbers))}, not registered versions."
    loaded = {str(v): reg.load(name, int(v)) for v in numbers}
    first = next(iter(loaded.values())).version
    bars = load_bars(symbols, end=times[-1], frequency=first.frequency)
    ts = np.asarray(bars.timestamps, dtype=np.int64)
    want = np.asarray(times.asi8, dtype=np.int64)
    cut = int(np.searchsorted(ts, want[0], "left"))
    if ts.size - cut != want.size or not np.array_equal(ts[cut:], want):
        return None, ("No backtest drawn: the ledger's bars are not consecutive bars of the home store "
                      f"({want.size} ledger bars, {ts.size - cut} stored bars from its first).")
    weights = np.zeros((want.size, len(symbols)))
    for number, deployed in loaded.items():
        rows = versions == number
        weights[rows] = deployed.target_weights(bars)[cut:][rows]
    cfg = BacktestConfig.from_dict(config) if config else first.config
    bt = backtest(bars[cut:], weights=weights, config=cfg)
    label = ", ".join(f"v{n}" for n in loaded)
    return bt.equity.rename("backtest"), f"Backtest: harness.backtest of {label} (each bar's champion) on the " \
        f"ledger's {want.size} bars, weights decided on the stored history before each bar."


def _alerts(data: DeploymentData) -> None:
    from harness.monitor import alerts

    data.monitor_alerts = alerts(data.name)


def _regimes(data: DeploymentData) -> None:
    from harness._bars import load_bars

    spec = data.spec
    if spec is not None:
        symbol, start, freq = spec.regime_symbol, spec.data.start, spec.data.frequency
        data.detector = spec.detector()
        data.regime_note = ("The deployment's own detector ([regime] of its spec), fed every stored bar from "
                            + (f"[data] start {start}." if start else "the first."))
    elif data.versions:
        v = data.versions[-1]
        symbol, start, freq = v.symbols[0], None, v.frequency
        data.regime_note = f"The default detector: {data.spec_note}."
    else:
        data.regime_note = f"No regimes: {data.spec_note or 'no spec'} and no version names the symbols."
        return
    data.regime_symbol = symbol
    try:
        bars = load_bars([symbol], start=start, frequency=freq)
    except Exception as exc:  # noqa: BLE001 - the panel says the bars are missing
        data.regime_note = f"No regimes: the bars of {symbol} are not in the home store ({exc})."
        return
    idx = pd.DatetimeIndex(bars.timestamps.view("datetime64[ns]")).tz_localize("UTC")
    data.close = pd.DataFrame(bars.close, index=idx, columns=list(bars.symbols))


# --------------------------------------------------------------------------- page
def deployment_page(data: DeploymentData, *, title: str | None = None) -> Page:
    """Every deployment panel, each saying so where its data does not exist yet."""
    info = data.info
    champ = data.champion
    who = f"v{champ.version} ({champ.strategy})" if champ is not None else f"the baseline ({info.baseline or 'cash'})"
    page = Page(title=title or f"Deployment: {data.name}",
                subtitle=f"{info.mode} mode; champion {who}; {len(data.versions)} versions, "
                         f"{len(data.decisions)} gate decisions; spec v{info.spec_version}")
    _summary_panel(page, data)
    _timeline_panel(page, data)
    _decisions_panel(page, data)
    _attributions_panel(page, data)
    _paper_panel(page, data)
    _alerts_panel(page, data)
    _regime_panel(page, data)
    _lineage_panel(page, data)
    return page


def _summary_panel(page: Page, data: DeploymentData) -> None:
    info = data.info
    alias = {"champion": info.champion, "challenger": info.challenger, "previous": info.previous}
    rows: list[tuple[Any, ...]] = [("mode", info.mode), ("baseline", info.baseline or "cash"),
                                   *((a, f"v{n}" if n is not None else "-") for a, n in alias.items()),
                                   ("versions", len(data.versions)), ("gate decisions", len(data.decisions)),
                                   ("approvals and rejections", len(data.approvals)),
                                   ("promotions", sum(1 for r in data.events if r.get("kind") == "promotion")),
                                   ("rollbacks", sum(1 for r in data.events if r.get("kind") == "rollback")),
                                   ("retrains", sum(1 for r in data.events if r.get("kind") == "retrain_completed")),
                                   ("spec version", info.spec_version), ("created", f"{info.created_at} by "
                                                                                     f"{info.created_by}")]
    if data.paper_equity is not None:
        eq = data.paper_equity
        rows += [("paper bars", len(eq))]
        if len(eq):
            rows += [("paper from", eq.index[0]), ("paper to", eq.index[-1]), ("paper equity", float(eq.iloc[-1]))]
        rows += [("paper risk state", data.ledger_state.get("risk_state", "ACTIVE"))]
    else:
        rows += [("paper ledger", "none yet")]
    rows += [("monitor alerts", len(data.monitor_alerts))]
    page.add("summary", "State", html_fragment=table_html(rows, ("field", "value")),
             note="From the registry (aliases, versions, decisions), the audit trail and the paper ledger.")


def _event_text(rec: dict) -> str:
    p = rec.get("payload") or {}
    kind = rec.get("kind", "")
    if kind == "retrain_triggered":
        return f"retrain triggered ({p.get('reason')}) at bar {p.get('trigger_time')}"
    if kind == "retrain_completed":
        ch = p.get("challenger")
        return f"retrain {p.get('outcome')}" + (f": challenger v{ch}" if ch is not None else "")
    if kind == "candidate_registered":
        return f"candidate v{p.get('version')} (rank {p.get('rank')})"
    if kind == "challenger_set":
        return f"challenger v{p.get('version')}"
    if kind == "gate_decision":
        return f"gate decision on v{p.get('version')}: {p.get('outcome')}"
    if kind in ("approval", "rejection", "self_approval"):
        return f"{kind} of v{p.get('version')} by {rec.get('actor')}"
    if kind == "promotion":
        old = p.get("old_champion")
        return f"promoted v{p.get('version')} (champion was {'v' + str(old) if old is not None else 'the baseline'})"
    if kind == "rollback":
        return f"rollback to v{p.get('version')} from v{p.get('from_version')} by {rec.get('actor')}: {p.get('reason')}"
    if kind == "paper_swap":
        return f"paper swap v{p.get('from_version')} -> v{p.get('to_version')}"
    if kind == "paper_started":
        return f"paper started (v{p.get('version')})"
    if kind == "risk_state":
        return f"risk state {p.get('state')}: {p.get('reason')}"
    if kind == "drift_alert":
        return f"alert {p.get('monitor')}.{p.get('metric')} {p.get('severity')}"
    return kind.replace("_", " ")


def _timeline_panel(page: Page, data: DeploymentData) -> None:
    import plotly.graph_objects as go

    rows = [r for r in data.events if r.get("kind") in _LANE_OF]
    note = data.events_note
    if not rows and data.alias_history:  # no trail here: the registry's own alias history
        rows = [{"time": h["time"], "kind": "promotion" if h.get("action") == "promote" else "rollback",
                 "actor": h.get("by"), "payload": {"version": h.get("version"), "old_champion": h.get("old"),
                                                   "from_version": h.get("old"), "reason": h.get("reason")}}
                for h in data.alias_history if h.get("alias") == "champion"]
        note = (note + " Shown from the registry's alias history.").strip()
    if not rows:
        page.add("timeline", "Timeline", html_fragment=_p("Nothing has happened yet: no retrain, decision, "
                                                            "promotion or paper run is recorded for this "
                                                            "deployment."), note=note)
        return
    lanes = [lane for lane in _LANES if any(_LANE_OF[r["kind"]] == lane for r in rows)]
    fig = go.Figure()
    for lane in lanes:
        mine = [r for r in rows if _LANE_OF[r["kind"]] == lane]
        fig.add_scatter(x=pd.to_datetime([r["time"] for r in mine], utc=True, format="ISO8601"), y=[lane] * len(mine),
                        mode="markers", name=lane, text=[_event_text(r) for r in mine],
                        hovertemplate="%{x}<br>%{text}<extra></extra>",
                        marker={"size": 11, "color": _LANE_COLOURS[lane], "symbol": "diamond",
                                "line": {"width": 1, "color": "#fff"}})
    fig.update_layout(height=max(220, 46 * len(lanes) + 90), template="plotly_white", showlegend=False,
                      margin={"l": 90, "r": 20, "t": 20, "b": 30},
                      yaxis={"categoryorder": "array", "categoryarray": list(reversed(lanes))})
    shown = rows[-200:]
    table = table_html([(r.get("time"), r.get("kind"), r.get("actor"), _event_text(r)) for r in reversed(shown)],
                       ("time (UTC)", "kind", "by", "what"))
    fold = f"<details><summary>{len(shown)} newest events</summary>{table}</details>"
    page.add("timeline", f"Timeline ({len(rows)} events)", figure=fig, html_fragment=fold,
             note=(note + " Wall-clock times of the audit trail (when each thing happened); the paper "
                   "panel marks where each champion took over in bar time.").strip())


def _check_rows(dec: dict) -> tuple[list[tuple[Any, ...]], list[str | None]]:
    rows, classes = [], []
    for c in dec.get("checks") or []:
        verdict = "PENDING" if c.get("pending") else ("pass" if c.get("passed") else "FAIL")
        rows.append((c.get("name"), _num(c.get("value")), c.get("op") or "", _num(c.get("threshold")),
                     c.get("detail") or "", verdict))
        classes.append(None if c.get("pending") else ("pass" if c.get("passed") else "fail"))
    return rows, classes


def _num(v: Any) -> Any:
    return "-" if v is None else v


def decision_html(dec: dict, approvals: list[dict], *, open_: bool = True) -> str:
    """One recorded gate decision (``Registry.decisions``) as a folded block: its check table,
    reasons and the approvals or rejections of it."""
    rows, classes = _check_rows(dec)
    outcome = str(dec.get("outcome"))
    used = dec.get("consumed_by")
    head = (f"v{dec.get('version')}: {outcome}{' (promoted)' if used else ''} at "
            f"{dec.get('time') or dec.get('recorded_at')}")
    body = [f'<div class="decision" data-decision="{html.escape(str(dec.get("id")))}">']
    if rows:
        body.append(table_html(rows, ("check", "value", "op", "threshold", "detail", "result"), classes=classes))
    else:
        body.append(_p("This decision ran no checks."))
    reasons = dec.get("reasons") or []
    if reasons:
        body.append("<ul>" + "".join(f"<li>{html.escape(str(r))}</li>" for r in reasons) + "</ul>")
    for a in approvals:
        body.append(_p(f"{'approved' if a.get('approved') else 'rejected'} by {a.get('by')} at "
                       f"{a.get('recorded_at')}" + (f": {a.get('note')}" if a.get("note") else "")))
    body.append(f"<p class=\"note\">decision {html.escape(str(dec.get('id')))}, evidence "
                f"{html.escape(str(dec.get('evidence_digest', ''))[:16])}...</p></div>")
    cls = "pass" if outcome == "promote" else ("fail" if outcome == "reject" else "")
    summary = f'<summary><b class="{cls}">{html.escape(head)}</b></summary>'
    return f"<details{' open' if open_ else ''}>{summary}{''.join(body)}</details>"


def _decisions_panel(page: Page, data: DeploymentData) -> None:
    if not data.decisions:
        page.add("decisions", "Gate decisions", html_fragment=_p("No gate decision yet: no candidate has been "
                                                                 "put to the gate."))
        return
    approvals: dict[str, list[dict]] = {}
    for a in data.approvals:
        approvals.setdefault(a.get("decision_id"), []).append(a)
    parts = []
    n = len(data.decisions)
    for i, dec in enumerate(reversed(data.decisions)):
        parts.append(decision_html(dec, approvals.get(dec.get("id"), []), open_=i < OPEN_DECISIONS))
    page.add("decisions", f"Gate decisions ({n}, newest first)", html_fragment="".join(parts),
             note="The gate's check table of each decision, as recorded in the registry (harness gate NAME VERSION).")


def _attributions_panel(page: Page, data: DeploymentData) -> None:
    """Each version's feature attributions as recorded in the registry (``ModelVersion.attributions``):
    the permutation importances of the newest versions as bars, and one table per version."""
    import plotly.graph_objects as go

    have = [v for v in reversed(data.versions) if v.attributions is not None][:MAX_ATTRIBUTION_VERSIONS]
    missing = [v for v in data.versions if v.attributions is None]
    without = (f" Versions without attributions (registered without them, or before versions carried them): "
               f"{', '.join(f'v{v.version}' for v in missing)}.") if missing else ""
    if not have:
        what = "no version is registered yet" if not data.versions else "no version carries attributions"
        page.add("attributions", "Feature attributions", html_fragment=_p(f"No attributions yet: {what}."),
                 note=without.strip())
        return
    fig = go.Figure()
    for v in reversed(have):  # oldest first: the newest bar on top of each group
        perm = v.attributions.permutation
        fig.add_bar(x=list(perm.importance), y=list(perm.features), orientation="h", name=f"v{v.version}",
                    error_x={"type": "data", "array": list(perm.std), "visible": True, "thickness": 1},
                    hovertemplate="%{y}: %{x:.4g}<extra>v" + str(v.version) + "</extra>")
    features = list(dict.fromkeys(f for v in have for f in v.attributions.permutation.ranking()))
    height = min(900, max(260, 14 * len(features) * len(have) + 120))
    fig.update_layout(barmode="group", template="plotly_white", height=height,
                      margin={"l": 110, "r": 20, "t": 20, "b": 40}, legend={"orientation": "h"},
                      xaxis_title=f"permutation importance (drop in {have[0].attributions.metric})",
                      yaxis={"categoryorder": "array", "categoryarray": list(reversed(features))})
    parts = []
    for i, v in enumerate(have):
        att = v.attributions
        header, raw = att.table()
        rows = [(r[0], *(_num(x) for x in r[1:])) for r in raw]
        head = f"v{v.version} ({v.strategy}): {att.describe()}"
        parts.append(f'<details{" open" if i == 0 else ""} data-version="{v.version}"><summary>{html.escape(head)}'
                     f"</summary>{table_html(rows, header)}</details>")
    page.add("attributions", f"Feature attributions ({len(have)} versions)", figure=fig,
             html_fragment="".join(parts),
             note="Permutation importance: the drop in the metric on each version's out-of-sample blocks when one "
                  "input's values are permuted within the block (bars: std over blocks and permutations); "
                  "integrated gradients (torch models): the mean |IG| of the network's output per feature. "
                  "Recorded with each version at registration (harness registry show NAME)." + without)


def _paper_panel(page: Page, data: DeploymentData) -> None:
    from plotly.subplots import make_subplots

    from harness.report._backtest import _line, _note
    from harness.report._transforms import relative_gap

    eq = data.paper_equity
    if eq is None or not len(eq):
        why = ("No paper ledger yet: the deployment has not been paper-traded"
               + ("" if data.info.champion is not None else " (no version has been promoted)")) \
            if eq is None else "The paper ledger has no bars yet."
        page.add("paper", "Paper equity over the backtest", html_fragment=_p(why + "."))
        return
    bt = data.backtest_equity
    fig = make_subplots(rows=2 if bt is not None else 1, cols=1, shared_xaxes=True,
                        row_heights=[0.72, 0.28] if bt is not None else [1.0], vertical_spacing=0.05)
    notes: list[str] = []
    _line(fig, eq, "paper", notes, row=1, col=1)
    if bt is not None:
        _line(fig, bt, "backtest", notes, row=1, col=1, line={"dash": "dot"})
        _line(fig, relative_gap(eq, bt) * 100.0, "paper - backtest [%]", notes, row=2, col=1)
        fig.update_yaxes(title_text="gap [%]", row=2, col=1)
    for t, version in data.swaps:
        fig.add_shape(type="line", x0=t, x1=t, y0=0.0, y1=1.0, xref="x", yref="paper",
                      line={"width": 1, "dash": "dash", "color": "#137333"})
        fig.add_annotation(x=t, y=1.0, yref="paper", text=f"v{version}", showarrow=False, yanchor="bottom",
                           font={"size": 10, "color": "#137333"})
    fig.update_layout(height=480 if bt is not None else 380, template="plotly_white",
                      margin={"l": 50, "r": 20, "t": 30, "b": 30}, legend={"orientation": "h"})
    fig.update_yaxes(title_text="equity", row=1, col=1)
    note = " ".join(x for x in (data.backtest_note, "Dashed lines: the bar from which each version traded.",
                                _note(notes)) if x)
    page.add("paper", f"Paper equity over the backtest ({len(eq)} bars)", figure=fig, note=note)


def _alerts_panel(page: Page, data: DeploymentData) -> None:
    import plotly.graph_objects as go

    led = data.ledger_alerts
    risk = data.risk_events
    mon = data.monitor_alerts
    n_led = len(led) if led is not None else 0
    n_risk = len(risk) if risk is not None else 0
    if not (n_led or n_risk or mon):
        what = "the paper ledger has no alerts or risk events" if data.ledger_path else "there is no paper ledger"
        page.add("alerts", "Alerts", html_fragment=_p(f"No alerts yet: {what}, and the monitor has raised none."))
        return
    fig = go.Figure()
    colours = {"alert": "#b3261e", "warn": "#f9a825", "ok": "#137333"}
    eq = data.paper_equity if data.paper_equity is not None and len(data.paper_equity) else None
    notes: list[str] = []
    if eq is not None:  # the alerts sit on the paper equity curve, at their bars
        from harness.report._backtest import _line

        _line(fig, eq, "paper equity", notes, line={"color": "#9aa3b2", "width": 1})

    def place(times: pd.DatetimeIndex, lanes: list[str]) -> list[Any]:
        if eq is None:
            return lanes
        # several alerts can share a bar: the union must not repeat it (reindex needs unique labels)
        return list(eq.reindex(eq.index.union(times.unique())).ffill().bfill().reindex(times).to_numpy())

    if mon:
        t = pd.to_datetime([a.time for a in mon], unit="ns", utc=True)
        fig.add_scatter(x=t, y=place(t, [f"monitor: {a.monitor}" for a in mon]), mode="markers", name="monitor",
                        text=[a.message() for a in mon], hovertemplate="%{text}<extra></extra>",
                        marker={"size": 10, "color": [colours.get(a.severity, "#5b6475") for a in mon]})
    if n_led:
        t = pd.to_datetime(led["bar_time"].astype("Int64").fillna(0).to_numpy(dtype=np.int64), unit="ns", utc=True)
        fig.add_scatter(x=t, y=place(t, [f"ledger: {k}" for k in led["kind"]]), mode="markers",
                        name="paper ledger alerts", text=list(led["message"]),
                        hovertemplate="%{x}<br>%{text}<extra></extra>",
                        marker={"size": 10, "color": "#b3261e", "symbol": "x"})
    if n_risk:
        t = pd.to_datetime(risk["bar_time"].astype("Int64").fillna(0).to_numpy(dtype=np.int64), unit="ns", utc=True)
        fig.add_scatter(x=t, y=place(t, [f"risk: {s}" for s in risk["state"]]), mode="markers", name="risk events",
                        text=[f"{k}: {r}" for k, r in zip(risk["kind"], risk["reason"], strict=True)],
                        hovertemplate="%{x}<br>%{text}<extra></extra>",
                        marker={"size": 10, "color": "#ff7f0e", "symbol": "triangle-up"})
    if eq is not None:
        fig.update_layout(height=360, legend={"orientation": "h"}, yaxis_title="paper equity")
    else:
        lanes = len({y for trace in fig.data for y in trace.y})
        fig.update_layout(height=max(220, 40 * lanes + 100), showlegend=False)
    fig.update_layout(template="plotly_white", margin={"l": 160 if eq is None else 50, "r": 20, "t": 20, "b": 30})
    tables = []
    if mon:
        rows = [(a.to_dict()["time_utc"], a.monitor, a.metric, a.severity, a.value, a.threshold,
                 "reminder" if a.reminder else "") for a in mon[-MAX_ALERT_ROWS:][::-1]]
        tables.append(f"<h3>Monitor alerts ({len(mon)})</h3>" + table_html(
            rows, ("bar time (UTC)", "monitor", "metric", "severity", "value", "threshold", "")))
    if n_led:
        rows = [(_bar_time(r.bar_time), r.kind, r.message) for r in led.tail(MAX_ALERT_ROWS).iloc[::-1].itertuples()]
        tables.append(f"<h3>Paper ledger alerts ({n_led})</h3>" + table_html(rows, ("bar time", "kind", "message")))
    if n_risk:
        rows = [(_bar_time(r.bar_time), r.kind, r.state, r.reason) for r in
                risk.tail(MAX_ALERT_ROWS).iloc[::-1].itertuples()]
        tables.append(f"<h3>Risk events ({n_risk})</h3>" + table_html(rows, ("bar time", "kind", "state", "reason")))
    page.add("alerts", f"Alerts ({len(mon)} monitor, {n_led} paper ledger, {n_risk} risk events)", figure=fig,
             html_fragment="".join(tables),
             note=f"Newest first; at most {MAX_ALERT_ROWS} rows per table. Monitor alerts from "
                  f"<home>/paper/{data.name}.alerts.jsonl, the others from the paper ledger.")


def _bar_time(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return pd.Timestamp(int(v), unit="ns", tz="UTC")


def _regime_panel(page: Page, data: DeploymentData) -> None:
    from harness.report._backtest import regime_panel

    if data.close is None:
        page.add("regimes", "Volatility regimes", html_fragment=_p(data.regime_note or "No bars to label."))
        return
    eq = data.paper_equity
    since = eq.index[0] if eq is not None and len(eq) else None
    where = "over the paper-traded bars" if since is not None else "over the deployment's bars"
    regime_panel(page, data.close, data.detector, symbol=data.regime_symbol, shown_from=since,
                 note=f"{data.regime_note} Shown {where}.")


def _lineage_panel(page: Page, data: DeploymentData) -> None:
    from harness.report._backtest import lineage_panel

    champ = data.champion
    keys = ("deployment", "champion", "snapshot_id", "data_digest", "code_version", "seed", "run_id", "strategy",
            "params", "symbols", "frequency", "config", "artifact_sha256", "spec_hash", "spec_version",
            "ledger", "ledger_digest")
    lin: dict[str, Any] = {"deployment": data.name, "spec_hash": data.info.spec_hash,
                           "spec_version": data.info.spec_version, "ledger": data.ledger_path,
                           "ledger_digest": data.ledger_digest}
    if champ is not None:
        full = champ.lineage()
        lin.update({k: full.get(k) for k in keys if k in full})
        lin["champion"] = f"v{champ.version}"
        lin["run_id"] = champ.run_id or "none (registered without an MLflow run)"
        note = (f"The champion's lineage (harness registry show {data.name} {champ.version}); its MLflow run "
                "reruns with harness reproduce RUN_ID.")
    else:
        lin["champion"] = f"none yet: the baseline ({data.info.baseline or 'cash'}) is champion"
        note = "No version has been promoted yet, so there is no champion lineage to show."
    lin = {k: (json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v)
           for k, v in lin.items()}
    lineage_panel(page, lin, keys=keys, note=note)
