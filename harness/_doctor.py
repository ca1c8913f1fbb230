"""Environment checks behind ``harness doctor``."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness import config

# (distribution, minimum major.minor or None): a missing core package is a real problem
_REQUIRED = ("numpy", "pandas", "numba", "zarr", "icechunk", "optuna", "torch", "arch", "typer", "rich")


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "FAIL"
    detail: str


def _writable_dir(path: Path) -> tuple[bool, str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
        return True, str(path)
    except OSError as exc:
        return False, f"{path} is not writable ({exc.strerror or exc})"


def run_checks() -> list[Check]:
    checks: list[Check] = []
    for dist in _REQUIRED:
        try:
            checks.append(Check(name=dist, status="ok", detail=version(dist)))
        except PackageNotFoundError:
            checks.append(Check(name=dist, status="FAIL", detail="not installed (run: make demo, or pip install -e .)"))
    home = config.home()
    if home.exists() and not home.is_dir():
        checks.append(Check(name="HARNESS_HOME", status="FAIL", detail=f"{home} exists but is not a folder"))
    else:
        ok, detail = _writable_dir(home)
        checks.append(Check(name="HARNESS_HOME", status="ok" if ok else "FAIL", detail=detail))
    from market_data._numba import ensure_cache_dir

    cache = ensure_cache_dir()
    if cache is None:
        import market_data

        cache_path = Path(market_data.__file__).parent / "__pycache__"
    else:
        cache_path = Path(cache)
    ok, detail = _writable_dir(cache_path)
    fallback = " (fallback: configured dir was not writable)" if os.environ.get("NUMBA_CACHE_DIR") == cache and cache else ""
    checks.append(Check(name="numba cache", status="ok" if ok else "FAIL", detail=detail + fallback))
    checks.append(_store_check(config.paths().data))
    return checks


def _store_check(data: Path) -> Check:
    if not data.exists():
        return Check(name="data store", status="warn", detail=f"none yet at {data} (run: harness data samples)")
    try:
        from market_data.store import BarStore
    except ImportError:
        return Check(name="data store", status="warn", detail=f"{data} exists; store support not installed")
    try:
        store = BarStore.open(data)
        freqs = store.frequencies()
        n = sum(len(store.symbols(f)) for f in freqs)
        return Check(name="data store", status="ok", detail=f"{data}: {n} series in {', '.join(freqs) or 'no'} frequencies")
    except Exception as exc:  # a broken store is a real problem
        return Check(name="data store", status="FAIL", detail=f"{data} cannot be opened: {exc}")
