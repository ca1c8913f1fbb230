"""Each retrain candidate carries its feature attributions on the holdout's blocks: on the
candidate, in the evidence folder, on the registered version, and in the retrain's MLflow run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.explain import BAR_FIELDS, Attributions
from harness.retrain import retrain

from ._helpers import make_spec, store, synthetic


@pytest.fixture
def stored():
    bars, _ = synthetic()
    store(bars)
    return bars


def _run(spec, **kw):
    kw.setdefault("storage", ":memory:")
    return retrain(spec, reason="manual", registry=None, register=False, audit=False, **kw)


def test_every_candidate_has_attributions_on_the_holdout_blocks_deterministically(stored):
    from harness.retrain._retrain import _holdout_blocks

    spec = make_spec(trials=4)
    a, b = _run(spec), _run(spec)
    h, hs = a.window.holdout, a.window.holdout_start
    blocks = _holdout_blocks(h, a.stats["n_folds"])
    for c, d in zip(a.candidates, b.candidates, strict=True):
        att = c.attributions
        assert isinstance(att, Attributions) and att.features == BAR_FIELDS
        assert att.seed == spec.optimize.seed and att.strategy == "sma_crossover"
        assert att.fold_sizes == tuple(np.bincount(blocks).tolist()) and sum(att.fold_sizes) == h
        ts = a.window.bars.timestamps
        assert att.fold_times[0][0] == ts[hs] and att.fold_times[-1][1] == ts[-1]
        perm = att.permutation.as_mapping()
        assert all(perm[f] == 0.0 for f in ("open", "high", "low", "volume"))  # sma_crossover reads closes only
        assert json.dumps(att.to_dict()) == json.dumps(d.attributions.to_dict())  # same seed, same attributions
        stored_json = json.loads((a.evidence_path / "attributions" / f"candidate-{c.rank}.json").read_text())
        assert stored_json == att.to_dict()
        assert a.summary()["candidates"][c.rank]["attributions"]["permutation"] == perm
    assert a.stats["attribution_seconds"] >= 0.0 and "attribution_errors" not in a.stats


def test_registered_versions_carry_their_candidates_attributions_and_the_run_logs_the_challengers(stored):
    from harness.registry import Registry
    from harness.registry import _mlflow as m

    spec = make_spec(trials=4)
    reg = Registry.open()
    reg.create_deployment(spec.name, mode=spec.mode, baseline=spec.baseline, spec=spec.text, spec_hash=spec.hash,
                          by="alice")
    res = retrain(spec, reason="manual", registry=reg, audit=False, storage=":memory:")
    assert res.outcome == "candidates"
    for c in res.candidates:
        v = reg.get(spec.name, c.version.version)
        assert v.attributions.to_dict() == c.attributions.to_dict()
    run = m.client().get_run(res.run_id)
    best = res.challenger.attributions.permutation.as_mapping()
    for feature, value in best.items():
        assert run.data.metrics[f"attribution.permutation.{feature}"] == value
    local = m.client().download_artifacts(res.run_id, "attributions/candidate-0.json")
    assert json.loads(open(local).read()) == res.challenger.attributions.to_dict()
