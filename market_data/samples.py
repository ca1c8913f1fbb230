"""Real market data shipped inside installed packages: no network needed.

* ``SPX`` and ``NASDAQ``: S&P 500 and NASDAQ Composite daily OHLCV, 1999-01-04 to
  2018-12-31, from the ``arch`` package's datasets (a core dependency).
* ``AAPL``, ``IBM``, ``MSFT``, ``GOOG``: daily OHLCV 2000-03-01 to 2013-03-01 from the
  ``bokeh_sampledata`` package (Quandl WIKI prices, declared public domain), when it is
  installed (``pip install 'regime-harness[samples]'``; the dev extra includes it).
  Prices are split- and dividend-adjusted with the source's adjusted close (open, high
  and low scaled by the same factor, volume by its inverse), so returns are real returns.

Daily bars are stamped at midnight UTC of their trading date.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

import numpy as np

from market_data.bars import Bars
from market_data.errors import InputError

__all__ = ["available", "install_hint", "load", "load_group", "write_samples", "GROUPS"]

_INDICES = ("SPX", "NASDAQ")
_STOCKS = ("AAPL", "IBM", "MSFT", "GOOG")
#: Sample groups: symbols that share a calendar and load together.
GROUPS = {"indices": _INDICES, "stocks": _STOCKS}


def install_hint() -> str:
    """The command that installs the ``samples`` extra here.

    ``pip install -e '<checkout>[samples]'`` when the project is an editable install from a
    checkout (``make demo``), else ``pip install 'regime-harness[samples]'``.
    """
    import json
    from importlib import metadata

    try:
        direct = metadata.distribution("regime-harness").read_text("direct_url.json")
        info = json.loads(direct) if direct else {}
    except (metadata.PackageNotFoundError, ValueError):
        info = {}
    url = info.get("url", "")
    if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return f"pip install -e '{unquote(urlparse(url).path)}[samples]'"
    return "pip install 'regime-harness[samples]'"


def _has_stocks() -> bool:
    return importlib.util.find_spec("bokeh_sampledata") is not None


def available() -> list[str]:
    """Sample symbols that can be loaded in this environment."""
    return list(_INDICES) + (list(_STOCKS) if _has_stocks() else [])


def load(name: str) -> Bars:
    """One sample symbol as single-symbol daily ``Bars``."""
    key = name.upper()
    if key in _INDICES:
        return _index(key)
    if key in _STOCKS:
        return _stocks().select(key).between(*_listing(key))
    raise InputError(f"unknown sample {name!r}; available: {', '.join(available())}"
                     + ("" if _has_stocks() else f" (for AAPL, IBM, MSFT, GOOG: {install_hint()})"))


def load_group(group: str) -> Bars:
    """All symbols of a group (``"indices"`` or ``"stocks"``) on one calendar; NaN where unlisted."""
    if group == "indices":
        spx, ndq = _index("SPX"), _index("NASDAQ")
        if not np.array_equal(spx.timestamps, ndq.timestamps):  # pragma: no cover - same source calendar
            raise InputError("SPX and NASDAQ samples do not share a calendar")
        return Bars(timestamps=spx.timestamps, symbols=_INDICES, frequency="1d",
                    **{f: np.hstack([getattr(spx, f), getattr(ndq, f)]) for f in ("open", "high", "low", "close", "volume")})
    if group == "stocks":
        return _stocks()
    raise InputError(f"unknown sample group {group!r}; expected one of {', '.join(GROUPS)}")


@cache
def _index(key: str) -> Bars:
    if key == "SPX":
        from arch.data import sp500 as mod
    else:
        from arch.data import nasdaq as mod
    df = mod.load()
    idx = df.index.tz_localize("UTC")
    data = {f: df[f.capitalize()].to_numpy(dtype=np.float64).reshape(-1, 1)
            for f in ("open", "high", "low", "close", "volume")}
    return Bars(timestamps=np.asarray(idx.as_unit("ns").asi8), symbols=(key,), frequency="1d", **data)


@cache
def _stocks() -> Bars:
    if not _has_stocks():
        raise InputError("the AAPL/IBM/MSFT/GOOG samples need the 'bokeh_sampledata' package: "
                         + install_hint())
    import os

    import bokeh_sampledata
    import pandas as pd

    path = os.path.join(os.path.dirname(bokeh_sampledata.__file__), "_data", "stocks.csv.gz")
    df = pd.read_csv(path)
    df = df[df["Ticker"].isin(_STOCKS)]
    factor = df["Adj Close"] / df["Close"]
    long = pd.DataFrame({
        "timestamp": pd.to_datetime(df["Date"]).dt.tz_localize("UTC"),
        "symbol": df["Ticker"],
        "open": df["Open"] * factor, "high": df["High"] * factor, "low": df["Low"] * factor,
        "close": df["Adj Close"], "volume": df["Volume"] / factor,
    })
    bars = Bars.from_pandas(long, frequency="1d")
    return bars.select(_STOCKS)


def _listing(symbol: str) -> tuple[int, int]:
    bars = _stocks().select(symbol)
    have = np.flatnonzero(~np.isnan(bars.close[:, 0]))
    return int(bars.timestamps[have[0]]), int(bars.timestamps[have[-1]])


def write_samples(store: Any) -> list[dict[str, Any]]:
    """Write every available sample group that is missing from ``store`` (a ``BarStore``).

    One commit per group; symbols already stored are left as they are. Returns one dict
    per group: ``group``, ``symbols``, ``status`` (``"written"``, ``"present"`` or
    ``"unavailable"``: the optional package is not installed) and ``snapshot_id``.
    """
    have = set(store.symbols("1d")) if "1d" in store.frequencies() else set()
    avail = set(available())
    report = []
    for group, members in GROUPS.items():
        entry: dict[str, Any] = {"group": group, "symbols": tuple(members), "snapshot_id": None}
        if not set(members) <= avail:
            entry["status"] = "unavailable"
        elif set(members) <= have:
            entry["status"] = "present"
        else:
            bars = load_group(group)
            bars = bars.select([s for s in bars.symbols if s not in have])
            entry["snapshot_id"] = store.write(bars, message=f"samples: {group}",
                                               metadata={"source": f"market_data.samples:{group}"})
            entry["symbols"] = bars.symbols
            entry["status"] = "written"
        report.append(entry)
    return report
