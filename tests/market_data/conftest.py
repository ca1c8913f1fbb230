"""Shared helpers of the market_data tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest


def _tree_digest(path: Path) -> str:
    """SHA-256 over every file below ``path`` (names and bytes): equal digests = byte-for-byte equal trees."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def tree_digest() -> Callable[[Path], str]:
    return _tree_digest
