"""One self-contained HTML page: panels of plotly figures and tables, plotly.js embedded once."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Page", "Panel"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1e0;font-size:13px}
main{padding:18px 28px;display:flex;flex-direction:column;gap:18px}
section.panel{background:#fff;border:1px solid #e1e5ec;border-radius:6px;padding:12px 16px}
section.panel h2{font-size:16px;margin:0 0 8px}
section.panel p.note{font-size:12px;color:#5b6475;margin:4px 0 0}
table.data{border-collapse:collapse;font-size:13px}
table.data th,table.data td{border-bottom:1px solid #eef0f4;padding:3px 10px;text-align:right}
table.data th:first-child,table.data td:first-child{text-align:left}
td.pass{color:#137333;font-weight:600} td.fail{color:#b3261e;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:18px}
code{font-size:12px}
"""


@dataclass
class Panel:
    """One section of the page: a plotly figure and/or an HTML fragment (already escaped)."""

    key: str
    title: str
    figure: Any = None
    html: str = ""
    note: str = ""


@dataclass
class Page:
    title: str
    subtitle: str = ""
    panels: list[Panel] = field(default_factory=list)

    def add(self, key: str, title: str, *, figure: Any = None, html_fragment: str = "", note: str = "") -> None:
        self.panels.append(Panel(key=key, title=title, figure=figure, html=html_fragment, note=note))

    def render(self) -> str:
        """The whole page as one string (plotly.js inlined once, figures as JSON)."""
        from plotly.io import to_json
        from plotly.offline import get_plotlyjs

        body: list[str] = []
        scripts: list[str] = []
        for i, p in enumerate(self.panels):
            parts = [f'<section class="panel" id="panel-{html.escape(p.key)}" data-panel="{html.escape(p.key)}">',
                     f"<h2>{html.escape(p.title)}</h2>"]
            if p.html:
                parts.append(p.html)
            if p.figure is not None:
                div = f"plot-{i}"
                height = int(p.figure.layout.height or 450)
                parts.append(f'<div class="plot" id="{div}" style="width:100%;height:{height}px"></div>')
                payload = to_json(p.figure, validate=False, pretty=False).replace("</", "<\\/")
                scripts.append(f'(function(s){{Plotly.newPlot("{div}",s.data,s.layout,'
                               f'{{responsive:true,displaylogo:false}});}})({payload});')
            if p.note:
                parts.append(f'<p class="note">{html.escape(p.note)}</p>')
            parts.append("</section>")
            body.append("".join(parts))
        return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>"
                f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
                f"<header><h1>{html.escape(self.title)}</h1><p>{html.escape(self.subtitle)}</p></header>"
                f"<main>{''.join(body)}</main>"
                f"<script type=\"text/javascript\">{''.join(scripts)}</script></body></html>")

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        tmp.replace(path)
        return path


def table_html(rows: list[tuple[Any, ...]], header: tuple[str, ...], *, classes: list[str | None] | None = None) -> str:
    """A small HTML table; ``classes`` optionally styles the last cell of each row (pass/fail)."""
    out = ['<table class="data"><thead><tr>', *(f"<th>{html.escape(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = [html.escape(_fmt(v)) for v in row]
        cls = classes[i] if classes else None
        out.append("<tr>" + "".join(
            f'<td class="{cls}">{c}</td>' if (cls and j == len(cells) - 1) else f"<td>{c}</td>"
            for j, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def paragraph(text: str) -> str:
    """``text`` as an escaped HTML paragraph (a panel's note where its data does not exist)."""
    return f"<p>{html.escape(text)}</p>"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:,.4f}" if abs(v) < 1e6 else f"{v:,.0f}"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)
