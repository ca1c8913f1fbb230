"""Versions carry their feature attributions: ``attributions.json`` beside the lineage, the dict in the
lineage, ``ModelVersion.attributions``; versions registered without them still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.engine import BacktestConfig
from harness.errors import InputError
from harness.explain import Attributions, attributions
from harness.registry import Registry
from harness.registry._registry import _download

SMA = {"fast": 5, "slow": 20}


@pytest.fixture
def reg(stored_bars):
    reg = Registry.open()
    reg.create_deployment("dep", mode="auto", baseline="cash", spec="[deployment]\nname = 'dep'\n", spec_hash="h",
                          by="alice")
    return reg


def _register(reg, bars, **kw):
    from harness._bars import home_store

    return reg.register("dep", strategy="sma_crossover", params=SMA, config=BacktestConfig(),
                        symbols=list(bars.symbols), frequency="1d", snapshot_id=home_store().resolve(),
                        data_digest=bars.digest(), seed=3, **kw)


@pytest.fixture
def explained(stored_bars) -> Attributions:
    return attributions("sma_crossover", SMA, stored_bars, folds=[np.arange(300, 350), np.arange(350, 400)],
                        config=BacktestConfig(), seed=3, n_repeats=2)


def test_a_version_stores_its_attributions_in_the_lineage_and_as_attributions_json(reg, stored_bars, explained):
    v = _register(reg, stored_bars, attributions=explained)
    assert v == reg.get("dep", v.version)  # what register returns is what the store holds
    assert isinstance(v.attributions, Attributions)
    assert v.attributions.to_dict() == explained.to_dict()
    assert v.lineage()["attributions"] == explained.to_dict()
    again = reg.versions("dep")[-1]  # listed, not only fetched
    assert again.attributions.to_dict() == explained.to_dict()
    stored = json.loads((_download(v.source) / "attributions.json").read_text())
    assert stored == explained.to_dict()
    assert json.loads((_download(v.source) / "lineage.json").read_text())["attributions"] == explained.to_dict()


def test_the_dict_form_is_accepted_and_checked(reg, stored_bars, explained):
    v = _register(reg, stored_bars, attributions=explained.to_dict())
    assert v.attributions.permutation.as_mapping() == explained.permutation.as_mapping()
    with pytest.raises(InputError, match="register dep: attributions: format"):
        _register(reg, stored_bars, attributions={"close": 1.0})
    with pytest.raises(InputError, match="must be a harness.explain.Attributions"):
        _register(reg, stored_bars, attributions=[1.0])
    assert [x.version for x in reg.versions("dep")] == [v.version]  # nothing half-registered


def test_versions_registered_without_attributions_load_with_none(reg, stored_bars):
    v = _register(reg, stored_bars)
    assert v.attributions is None and v.lineage()["attributions"] is None
    assert "attributions" not in json.loads(reg._client.get_model_version("dep", str(v.version)).tags["harness.lineage"])
    assert not (_download(v.source) / "attributions.json").exists()
    assert reg.load("dep", v.version).version.attributions is None


def test_the_demo_line_names_a_versions_most_important_inputs(reg, stored_bars, explained):
    from harness.registry._demo import attributions_line

    v = _register(reg, stored_bars, attributions=explained)
    line = attributions_line(v)
    perm = explained.permutation.as_mapping()
    assert perm["close"] != 0.0  # sma_crossover reads the closes, and nothing else
    assert line == f"v{v.version} attributions: close {perm['close']:+.3g}; 0 for open, high, low, volume " \
                   "(permutation, d sharpe)"
    assert attributions_line(_register(reg, stored_bars)) is None
