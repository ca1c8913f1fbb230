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


@pytest.fixture(params=["local", "s3"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Where to put a store, on each backend: a local folder, and a bucket on the moto S3 server."""
    if request.param == "local":
        return lambda name="store": str(tmp_path / name)
    bucket = request.getfixturevalue("s3_bucket")
    return lambda name="store": f"s3://{bucket}/{name}"
