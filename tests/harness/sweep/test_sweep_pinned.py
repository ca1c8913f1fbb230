"""``sweep(...)`` gives, to 1e-9, the metrics it gave when the speed work began
(``tests/harness/engine/data/pinned_results.json``; cases in ``tests/harness/engine/_pinned_cases.py``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest


def _cases():
    path = Path(__file__).parents[1] / "engine" / "_pinned_cases.py"
    name = "_harness_pinned_cases"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


_C = _cases()
_WANT = json.loads(_C.PINNED.read_text())["sweeps"]


def test_every_sweep_case_is_pinned():
    assert sorted(_WANT) == sorted(c[0] for c in _C.SWEEPS)


@pytest.mark.parametrize("case", _C.SWEEPS, ids=[c[0] for c in _C.SWEEPS])
def test_sweep_metrics_equal_the_pinned_ones_to_1e_9(case, sweep_on):
    """In process and on Dask (``sweep_on``): the same pinned metrics."""
    got, want = _C.run_sweep(case, **sweep_on), _WANT[case[0]]
    for metric in _C.SWEEP_METRICS:
        assert len(got[metric]) == len(want[metric])
        bad = [(i, g, w) for i, (g, w) in enumerate(zip(got[metric], want[metric], strict=True))
               if not _C.same(g, w)]
        assert not bad, f"{case[0]} {metric}: (row, got, pinned) {bad[:5]}"
