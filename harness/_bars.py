"""Load bars from the home bar store (``<HARNESS_HOME>/data``): what CLI commands call.

Usage::

    from harness._bars import load_bars
    bars = load_bars(["SPX"], start="2010-01-01", frequency="1d")
    bars.snapshot_id    # the lineage id to record with any result
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from market_data.errors import InputError, StoreError

if TYPE_CHECKING:
    from market_data.bars import Bars
    from market_data.store import BarStore

__all__ = ["load_bars", "home_store", "NoDataError"]

_HINT = "run `harness data samples` (real sample data) or `harness data ingest FILE` first"


class NoDataError(InputError):
    """The home store, a frequency or a symbol is missing; the message says how to get data in."""


def home_store(*, create: bool = False) -> BarStore:
    """The bar store of the home folder (``harness.config.paths().data``)."""
    from harness.config import paths
    from market_data.store import BarStore

    path = paths().data
    if not create and not path.exists():
        raise NoDataError(f"there is no bar store at {path}; {_HINT}")
    try:
        return BarStore.open(path, create=create)
    except StoreError as exc:
        raise NoDataError(f"{exc}; {_HINT}") from None


def home_store_if_any() -> BarStore | None:
    """The home bar store, or None when there is none yet (for readers that fall back, e.g. to computing
    features instead of reading them)."""
    try:
        return home_store()
    except NoDataError:
        return None


def load_bars(symbols: str | Iterable[str] | None = None, *, start: Any = None, end: Any = None,
              frequency: str = "1d", snapshot: str | None = None) -> Bars:
    """Read bars from the home store (all symbols when ``symbols`` is None).

    ``snapshot`` is a snapshot id or tag (None: the latest). The returned
    ``Bars.snapshot_id`` is the snapshot read. Missing store, frequency or symbol raise
    :class:`NoDataError` telling the user to run ``harness data samples``.
    """
    store = home_store()
    try:
        available = store.symbols(frequency, snapshot=snapshot)
    except InputError as exc:
        if type(exc).__name__ == "SnapshotNotFoundError":
            raise
        raise NoDataError(f"{exc}") from None
    if symbols is not None:
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        missing = [s for s in wanted if s not in available]
        if missing:
            from market_data.bars import _did_you_mean

            raise NoDataError(f"symbol {missing[0]!r} is not in the home store at frequency {frequency!r}"
                              f"{_did_you_mean(missing[0], available)} (it has {len(available)} symbol(s)); "
                              f"{_HINT}")
    elif not available:
        raise NoDataError(f"the home store has no {frequency!r} symbols; {_HINT}")
    return store.read(symbols, start=start, end=end, frequency=frequency, snapshot=snapshot)


def demo_step(ctx: dict) -> str:
    """``harness demo``: the sample data into the home store (skipped when already there)."""
    from market_data import samples

    store = home_store(create=True)
    wrote = [s for g in samples.write_samples(store) if g["status"] == "written" for s in g["symbols"]]
    snap = store.resolve()
    ctx["data_snapshot"] = snap
    symbols = store.symbols("1d")
    what = f"wrote {', '.join(wrote)}" if wrote else "already there"
    return f"bar store {store.path}: {len(symbols)} daily symbols ({what}); snapshot {snap}"
