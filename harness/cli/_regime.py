"""``harness regimes``: the volatility regime timeline of a symbol, optionally plotted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._options import parse_params


def register(app: typer.Typer) -> None:
    app.command("regimes")(regimes)


def _load(symbol: str, start: str | None, end: str | None):
    from harness._bars import NoDataError, load_bars
    from market_data import samples

    try:
        return load_bars([symbol], start=start, end=end), None
    except NoDataError:
        if symbol.upper() not in samples.available():
            raise
        bars = samples.load(symbol)
        if start or end:
            bars = bars.between(start, end)
        return bars, f"{symbol} is not in the home store; using the built-in sample"


def regimes(
    symbols: Annotated[str, typer.Option("--symbols", help="Symbol to analyse (one; e.g. SPX).")],
    detector: Annotated[str | None, typer.Option("--detector", help="Detector name (default: the home "
                                                 "config's [regime] detector, else the built-in default).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="Detector parameter NAME=VALUE "
                                                    "(repeatable).")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First date, e.g. 2005-01-01.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write an HTML chart of price with regime "
                                              "bands.")] = None,
    min_bars: Annotated[int, typer.Option("--min-bars", help="Hide periods shorter than this many bars "
                                          "from the table (they still count).")] = 1,
) -> None:
    """Print the regime timeline of a symbol: periods with start, end, label and volatility."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from harness import regime
    from harness.config import settings
    from market_data.frequency import periods_per_year

    names = [s.strip() for s in symbols.split(",") if s.strip()]
    if len(names) != 1:
        raise regime.RegimeError(f"--symbols takes one symbol for now, got {symbols!r}")
    symbol = names[0]
    cfg = dict(settings("regime"))
    if detector is not None and detector != cfg.get("detector", regime.DEFAULT_DETECTOR):
        cfg = {"detector": detector}  # home params belong to the home detector
    cfg.update(parse_params(param))
    det = regime.from_config(cfg)
    bars, note = _load(symbol, start, end)
    r = regime.returns_from_bars(bars, symbol if symbol in bars.symbols else None)
    result = det.run(r)
    ann = periods_per_year(bars.frequency) ** 0.5
    ts = bars.index()
    console = Console(soft_wrap=True)
    if note:
        console.print(f"[yellow]note:[/] {note}")
    table = Table(title=f"{symbol}: {det!r}", show_header=True, header_style="bold")
    for col in ("start", "end", "bars", "regime", "vol (ann.)", "realised (ann.)"):
        table.add_column(col, justify="right" if col not in ("start", "end", "regime") else "left")
    style = {0: "green", 1: "white", 2: "red"}
    periods = result.periods()
    for p in periods:
        n = p.end - p.start + 1
        if n < min_bars:
            continue
        seg = r[p.start:p.end + 1]
        seg = seg[np.isfinite(seg)]
        realised = float(np.sqrt(np.mean(seg**2))) * ann if seg.size else float("nan")
        table.add_row(str(ts[p.start].date()), str(ts[p.end].date()), str(n),
                      f"[{style[p.label]}]{p.label_name}[/]", f"{p.volatility * ann:.1%}", f"{realised:.1%}")
    console.print(table)
    console.print(f"{len(periods)} periods, {result.change_points.size} detected changes "
                  f"({', '.join(str(ts[i].date()) for i in result.change_points[:8])}"
                  f"{', ...' if result.change_points.size > 8 else ''})")
    if plot is not None:
        _plot(plot, symbol, bars, result, periods)
        console.print(f"wrote {plot}")


def _plot(path: Path, symbol: str, bars, result, periods) -> None:
    import plotly.graph_objects as go

    from harness.regime import LABEL_NAMES

    ts = bars.index()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ts, y=bars.close[:, 0], name=f"{symbol} close", line={"width": 1.2}))
    colours = {0: "rgba(0,160,0,0.15)", 1: "rgba(0,0,0,0)", 2: "rgba(220,0,0,0.18)"}
    for p in periods:
        if p.label == 1:
            continue
        fig.add_vrect(x0=ts[p.start], x1=ts[p.end], fillcolor=colours[p.label], line_width=0, layer="below",
                      annotation_text=LABEL_NAMES[p.label] if p.end - p.start > 40 else None,
                      annotation_position="top left")
    fig.add_trace(go.Scatter(x=ts[result.change_points], y=bars.close[result.change_points, 0], mode="markers",
                             name="detected change", marker={"symbol": "x", "size": 7, "color": "black"}))
    fig.update_layout(title=f"{symbol}: volatility regimes ({result.detector}); red = high, green = low",
                      yaxis_type="log", template="plotly_white")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True)
