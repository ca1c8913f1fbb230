"""``harness registry show``: the latest version's attributions table, every version's with
``--all-attributions``, all of them in ``--json``; versions without attributions say so."""

from __future__ import annotations

import json

import numpy as np

from harness.engine import BacktestConfig


def _setup(stored_bars):
    from harness._bars import home_store
    from harness.explain import attributions
    from harness.registry import Registry

    snap = home_store().resolve()
    reg = Registry.open()
    reg.create_deployment("spx-sma", mode="auto", baseline="cash", spec="x = 1\n", spec_hash="h", by="alice")
    reg.register("spx-sma", strategy="sma_crossover", params={"fast": 5, "slow": 20}, config=BacktestConfig(),
                 symbols=["AAA", "BBB"], frequency="1d", snapshot_id=snap, data_digest=stored_bars.digest())
    att = attributions("sma_crossover", {"fast": 7, "slow": 20}, stored_bars, config=BacktestConfig(), seed=2,
                       folds=[np.arange(300, 350), np.arange(350, 400)], n_repeats=2)
    reg.register("spx-sma", strategy="sma_crossover", params={"fast": 7, "slow": 20}, config=BacktestConfig(),
                 symbols=["AAA", "BBB"], frequency="1d", snapshot_id=snap, data_digest=stored_bars.digest(),
                 attributions=att)
    return att


def test_registry_show_prints_the_latest_versions_attributions_and_json_holds_every_versions(run_cli, stored_bars):
    att = _setup(stored_bars)
    out = run_cli("registry", "show", "spx-sma", check=True).stdout
    assert "v2 attributions: 2 out-of-sample blocks (100 bars), 2 permutations each, seed 2" in out
    assert "permutation (drop in sharpe)" in out and "mean |IG|" not in out  # no torch model: no gradients
    body = out[out.index("v2 attributions"):]
    lines = [ln for ln in body.splitlines() if any(f" {f} " in ln for f in att.features)]
    assert [next(f for f in att.features if f" {f} " in ln) for ln in lines] == att.permutation.ranking()
    assert "v1: no attributions" not in out
    every = run_cli("registry", "show", "spx-sma", "--all-attributions", check=True).stdout
    assert "v1: no attributions recorded" in every and "v2 attributions" in every
    show = json.loads(run_cli("registry", "show", "spx-sma", "--json", check=True).stdout)
    assert show["versions"][0]["attributions"] is None
    assert show["versions"][1]["attributions"] == att.to_dict()
