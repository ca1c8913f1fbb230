"""Environment checks behind ``harness doctor``."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness import config

_PROJECT = "regime-harness"


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


def declared_requirements() -> tuple[list[str], str]:
    """The project's core requirements (PEP 508 strings) and where they were read from.

    From ``pyproject.toml`` when the package runs from a checkout (the source of truth
    there: an editable install's metadata is as old as its install), else from the
    installed distribution's metadata.
    """
    import tomllib
    from importlib.metadata import PackageNotFoundError, requires

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as fh:
            project = tomllib.load(fh).get("project", {})
        if project.get("name") == _PROJECT:
            return list(project.get("dependencies", [])), str(pyproject)
    try:
        reqs = requires(_PROJECT) or []
    except PackageNotFoundError:
        return [], "nowhere (regime-harness is neither installed nor run from its checkout)"
    return list(reqs), f"the installed {_PROJECT} metadata"


def check_requirement(requirement: str) -> Check:
    """One declared requirement against what is installed: missing or out of range is a FAIL."""
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return Check(name=req.name, status="ok", detail=f"not needed here ({req.marker})")
    spec = str(req.specifier) or "any version"
    try:
        have = version(req.name)
    except PackageNotFoundError:
        return Check(name=req.name, status="FAIL",
                     detail=f"not installed (needs {spec}; run: make demo, or pip install -e .)")
    try:
        ok = req.specifier.contains(Version(have), prereleases=True)
    except InvalidVersion:
        return Check(name=req.name, status="warn", detail=f"{have}: not a version I can compare with {spec}")
    if not ok:
        return Check(name=req.name, status="FAIL", detail=f"{have} installed, but {spec} is required")
    return Check(name=req.name, status="ok", detail=f"{have} ({spec})")


def run_checks() -> list[Check]:
    checks: list[Check] = []
    reqs, source = declared_requirements()
    if not reqs:
        checks.append(Check(name="requirements", status="FAIL", detail=f"no declared requirements found: {source}"))
    checks.extend(c for c in map(check_requirement, reqs) if not c.detail.startswith("not needed here"))
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
