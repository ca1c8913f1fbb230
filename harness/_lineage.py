"""Where a result's code and environment came from: code version, uncommitted changes, environment digest.

Every lineage record the harness writes (``BacktestResult.lineage``, a sweep's
``df.attrs["lineage"]``, ``OptimizationResult.lineage``, the ``lineage.json`` files under
``results/``) carries these three, and MLflow runs tag them (``harness.code_version``,
``harness.dirty``, ``harness.env_digest``):

- :func:`code_version`: ``harness.__version__`` plus ``+g<commit>`` when the source tree
  is a git checkout (the package version alone otherwise);
- :func:`source_dirty`: True when the source tree (``harness/``, ``market_data/``,
  ``strategies/``, ``pyproject.toml``) has uncommitted or untracked changes, None when
  it is not a git checkout (an installed wheel);
- :func:`environment`: the installed distributions and their versions (numba, optuna
  and torch versions change results), one ``name==version`` line each, sorted, and
  the SHA-256 of that text (:func:`env_digest`, 16 hex digits shown in tags).

Each is computed once per process (git and ``importlib.metadata`` take tens of ms).
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["code_version", "source_dirty", "environment", "env_digest", "source_lineage", "SOURCE_PATHS"]

_ROOT = Path(__file__).resolve().parent.parent
#: the parts of the checkout whose changes change results
SOURCE_PATHS = ("harness", "market_data", "strategies", "pyproject.toml")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``harness.__version__``, plus ``+g<commit>`` when the source is a git checkout (cached)."""
    import harness

    version = harness.__version__
    out = _git("rev-parse", "HEAD")
    if out and out.strip():
        version += "+g" + out.strip()
    return version


@functools.lru_cache(maxsize=1)
def source_dirty() -> bool | None:
    """True when the source tree has uncommitted (or untracked) changes; None without git."""
    if _git("rev-parse", "--is-inside-work-tree") is None:
        return None
    out = _git("status", "--porcelain", "--", *SOURCE_PATHS)
    return None if out is None else bool(out.strip())


@functools.lru_cache(maxsize=1)
def environment() -> tuple[str, str]:
    """``(digest, listing)``: the sorted ``name==version`` lines of every installed
    distribution, and the SHA-256 hex digest of that listing (UTF-8, newline-joined)."""
    from importlib.metadata import distributions

    seen: dict[str, str] = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").strip()
        if name:
            seen.setdefault(name.lower().replace("_", "-"), f"{name.lower().replace('_', '-')}=={dist.version}")
    listing = "\n".join(seen[k] for k in sorted(seen)) + "\n"
    return hashlib.sha256(listing.encode()).hexdigest(), listing


def env_digest() -> str:
    """The SHA-256 of :func:`environment`'s listing."""
    return environment()[0]


def source_lineage() -> dict[str, Any]:
    """``{"code_version", "dirty", "env_digest"}`` for a lineage record."""
    return {"code_version": code_version(), "dirty": source_dirty(), "env_digest": env_digest()}
