"""The worked examples in the docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "strategies.sma_crossover", "strategies.bollinger", "strategies.donchian", "strategies.vol_target",
    "strategies.xs_momentum", "strategies.sma_reversal", "strategies.indicators", "strategies.testing",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module} has no worked example"
    assert result.failed == 0


@pytest.mark.parametrize("module", MODULES[:6])
def test_strategy_module_documents_idea_reference_and_example(module):
    doc = importlib.import_module(module).__doc__
    for section in ("Idea", "Reference", "Example"):
        assert f"\n{section}\n" in doc, f"{module} docstring lacks a {section!r} section"
