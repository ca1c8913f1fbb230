"""Make sure Numba's on-disk cache (``cache=True``) has a writable home.

Numba caches compiled kernels beside their source (``__pycache__``) or in a user cache
folder; when neither is writable it raises at decoration time, and a
``NUMBA_CACHE_DIR`` that points at a read-only folder fails the same way. We check
once, before any kernel is compiled, and fall back to a private temporary folder.
Each of our packages calls :func:`ensure_cache_dir` at import.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_checked: list[str] = []


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".numba-probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


def ensure_cache_dir() -> str | None:
    """Return the cache dir in force (None = Numba's default beside the sources)."""
    if _checked:
        return _checked[0] or None
    chosen = ""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        if not _writable(Path(env)):
            chosen = _fallback()
    elif not _writable(Path(__file__).resolve().parent.parent / "market_data" / "__pycache__"):
        chosen = _fallback()
    if chosen:
        os.environ["NUMBA_CACHE_DIR"] = chosen
        if "numba" in sys.modules:  # already imported: update its live config too
            import numba.core.config as nb_config

            nb_config.CACHE_DIR = chosen
    _checked.append(chosen or env or "")
    return _checked[0] or None


def _fallback() -> str:
    for base in (Path.home() / ".cache" / "harness-numba", Path(tempfile.gettempdir()) / f"harness-numba-{os.getuid()}"):
        if _writable(base):
            return str(base)
    return tempfile.mkdtemp(prefix="harness-numba-")
