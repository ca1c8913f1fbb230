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
