"""Reading a written report page back in the tests: its panels, one panel's HTML, table cells."""

from __future__ import annotations

import re


def panels(html: str) -> list[str]:
    """The ``data-panel`` keys of the page, in order."""
    return re.findall(r'data-panel="([a-z_]+)"', html)


def panel(html: str, key: str) -> str:
    """The HTML of panel ``key`` (its ``<section>``)."""
    start = html.index(f'data-panel="{key}"')
    return html[start:html.index("</section>", start)]


def cells(fragment: str) -> list[list[str]]:
    """The body rows' cells of the tables in ``fragment`` (header rows, with no ``<td>``, left out)."""
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", fragment)]
    return [r for r in rows if r]


def fmt(v) -> str:
    """A number as the page prints it."""
    from harness.report._page import _fmt

    return _fmt(v.item() if hasattr(v, "item") else v)


def figure(html: str, key: str) -> dict:
    """The plotly figure (data, layout) drawn in panel ``key`` of a written page."""
    import json

    div = re.search(r'<div class="plot" id="(plot-\d+)"', panel(html, key)).group(1)
    call = f'Plotly.newPlot("{div}",s.data,s.layout,{{responsive:true,displaylogo:false}});}})('
    start = html.index(call) + len(call)
    payload, _ = json.JSONDecoder().raw_decode(html[start:].replace("<\\/", "</"))
    return payload


def plot_values(v):
    """A trace's values as a float64 array, decoding plotly's typed-array form (``bdata``/``dtype``)."""
    import base64

    import numpy as np

    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(np.float64)
    return np.asarray(v, dtype=np.float64)
