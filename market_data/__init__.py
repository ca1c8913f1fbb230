"""Market data: the ``Bars`` container, the versioned bar store, ingest, synthetic and sample data.

This is the lowest layer of the harness: it imports nothing of ``strategies`` or ``harness``.
"""

from market_data._numba import ensure_cache_dir as _ensure_cache_dir

_ensure_cache_dir()

from market_data.bars import FIELDS, Bars  # noqa: E402
from market_data.errors import (  # noqa: E402
    ConflictError,
    HarnessError,
    InputError,
    SnapshotNotFoundError,
    StoreError,
    ValidationError,
)
from market_data.frequency import periods_per_year  # noqa: E402

__all__ = [
    "Bars",
    "FIELDS",
    "periods_per_year",
    "HarnessError",
    "InputError",
    "ValidationError",
    "StoreError",
    "ConflictError",
    "SnapshotNotFoundError",
    "BarStore",
]


def __getattr__(name: str):
    # BarStore imports zarr/icechunk: load it on first use so `import market_data` stays light
    if name == "BarStore":
        from market_data.store import BarStore

        globals()["BarStore"] = BarStore
        return BarStore
    raise AttributeError(f"module 'market_data' has no attribute {name!r}")
