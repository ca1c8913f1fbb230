"""``backtest(...)`` gives, bit for bit, the stats, equity, orders and trades it gave when the
engine's speed work began (``data/pinned_results.json``; see ``_pinned_cases.py``).

Any change of a single bit in any stat fails: speed work must not move results.
"""

from __future__ import annotations

import json

import pytest

from ._pinned_cases import BACKTESTS, PINNED, run_backtest

_WANT = json.loads(PINNED.read_text())["backtests"]


def test_every_case_is_pinned():
    assert sorted(_WANT) == sorted(c[0] for c in BACKTESTS)


@pytest.mark.parametrize("case", BACKTESTS, ids=[c[0] for c in BACKTESTS])
def test_backtest_results_are_bit_identical_to_the_pinned_ones(case):
    got, want = run_backtest(case), _WANT[case[0]]
    assert list(got["stats"]) == list(want["stats"]), "stats fields or their order changed"
    diff = {k: (got["stats"][k], v) for k, v in want["stats"].items() if got["stats"][k] != v}
    assert not diff, f"{case[0]}: stats changed (got, pinned): {diff}"
    for part in ("equity", "orders", "trades"):
        assert got[part] == want[part], f"{case[0]}: {part} records changed"
