"""Evidence: validated on construction, saved and loaded bit for bit, digested."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import EvidenceError
from harness.gate import Evidence, Shadow


def _ev(**kw):
    base = dict(challenger_returns=np.linspace(-0.01, 0.01, 50), champion_returns=np.zeros(50))
    base.update(kw)
    return Evidence(**base)


@pytest.mark.parametrize("kw, words", [
    (dict(champion_returns=np.zeros(49)), ["champion_returns", "49", "50"]),
    (dict(challenger_returns=np.r_[np.zeros(10), np.nan, np.zeros(39)]), ["challenger_returns", "row 10"]),
    (dict(challenger_returns=np.zeros((50, 2))), ["challenger_returns", "1-D"]),
    (dict(n_trials=0), ["n_trials", ">= 1"]),
    (dict(n_trials=2.5), ["n_trials"]),
    (dict(trial_returns=np.zeros((50, 3)), n_trials=2), ["trial_returns", "3", "n_trials=2"]),
    (dict(trial_returns=np.c_[np.zeros(50), np.r_[np.zeros(7), np.inf, np.zeros(42)]], n_trials=2),
     ["trial_returns", "row 7", "trial 1"]),
    (dict(trial_benchmark_returns=np.zeros(50)), ["trial_benchmark_returns", "without trial_returns"]),
    (dict(max_drawdown=25.0), ["max_drawdown", "0.25 = 25 %"]),
    (dict(trades=-1), ["trades"]),
    (dict(fold_ids=np.zeros(10)), ["fold_ids", "10"]),
    (dict(frequency="1 parsec"), ["frequency"]),
    (dict(meta={"x": object()}), ["meta", "JSON"]),
    (dict(timestamps=np.r_[np.arange(25), np.arange(25)]), ["timestamps", "row 25"]),
])
def test_bad_evidence_is_refused_naming_the_field(kw, words):
    with pytest.raises(EvidenceError) as exc:
        _ev(**kw)
    for w in words:
        assert w in str(exc.value)


def test_arrays_are_copied_and_read_only():
    r = np.linspace(-0.01, 0.01, 50)
    ev = _ev(challenger_returns=r)
    r[0] = 99.0
    assert ev.challenger_returns[0] != 99.0
    with pytest.raises(ValueError):
        ev.challenger_returns[0] = 1.0


def test_trial_benchmark_defaults_to_champion_when_trials_share_the_bars():
    ev = _ev(trial_returns=np.random.default_rng(0).normal(size=(50, 3)), n_trials=3)
    assert ev.benchmark_for_trials() is ev.champion_returns
    other = _ev(trial_returns=np.random.default_rng(0).normal(size=(80, 3)), n_trials=3)
    assert other.benchmark_for_trials() is None


def test_save_load_round_trip_keeps_every_field_and_the_digest(tmp_path, full_evidence):
    folder = full_evidence.save(tmp_path / "ev")
    assert sorted(p.name for p in folder.iterdir()) == ["evidence.json", "evidence.npz"]
    back = Evidence.load(folder)
    assert back.digest() == full_evidence.digest()
    for name in ("challenger_returns", "champion_returns", "trial_returns", "fold_ids"):
        np.testing.assert_array_equal(getattr(back, name), getattr(full_evidence, name))
    assert back.bars.equals(full_evidence.bars) and back.strategy == "sma_crossover"
    np.testing.assert_array_equal(back.shadow.returns, full_evidence.shadow.returns)
    assert (back.trades, back.max_drawdown, back.turnover, back.exposure, back.params, back.meta) == \
        (40, 0.08, 6.0, 1.0, {"fast": 5, "slow": 20}, {"run_id": "r1"})


def test_digest_changes_with_any_input():
    ev = _ev()
    assert ev.digest() == _ev().digest()
    assert ev.digest() != _ev(n_trials=2).digest()
    assert ev.digest() != _ev(challenger_returns=np.linspace(-0.01, 0.0100001, 50)).digest()
    assert ev.digest() != _ev(trades=3).digest()
    assert len(ev.digest()) == 64


def test_tampered_evidence_is_refused(tmp_path, full_evidence):
    folder = full_evidence.save(tmp_path / "ev")
    doc = json.loads((folder / "evidence.json").read_text())
    doc["trades"] = 400
    (folder / "evidence.json").write_text(json.dumps(doc))
    with pytest.raises(EvidenceError, match="digest"):
        Evidence.load(folder)


def test_load_of_a_missing_folder_names_the_file(tmp_path):
    with pytest.raises(EvidenceError, match="evidence.json"):
        Evidence.load(tmp_path / "nope")


def test_shadow_lengths_must_match():
    with pytest.raises(EvidenceError, match="shadow.expected_returns"):
        Shadow(returns=np.zeros(5), expected_returns=np.zeros(4))
