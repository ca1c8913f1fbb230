"""Shared evidence for the gate tests."""

from __future__ import annotations

import pytest

from harness.gate import Evidence
from harness.gate.testing import example_evidence


@pytest.fixture
def full_evidence() -> Evidence:
    return example_evidence()
