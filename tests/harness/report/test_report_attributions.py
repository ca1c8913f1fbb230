"""The deployment report's attributions panel: each version's recorded feature attributions
(permutation importance as bars with their spread, one table per version), and what it says
when no version carries them."""

from __future__ import annotations

import numpy as np
from conftest import deployment_spec
from html_parts import cells
from html_parts import figure as _figure
from html_parts import fmt as _fmt
from html_parts import panel as _section
from html_parts import panels as _panels
from html_parts import plot_values as _values

from harness.engine import BacktestConfig
from harness.report import PANELS, deployment_report


def _deployment(stored_bars):
    from harness._bars import home_store
    from harness.explain import attributions
    from harness.registry import Registry

    reg = Registry.open()
    reg.create_deployment("dep", mode="auto", baseline="cash", spec=deployment_spec("dep"), spec_hash="h", by="alice")
    kw = dict(config=BacktestConfig(), symbols=list(stored_bars.symbols), frequency="1d",
              snapshot_id=home_store().resolve(), data_digest=stored_bars.digest(), seed=1)
    reg.register("dep", strategy="sma_crossover", params={"fast": 5, "slow": 20}, **kw)  # v1: none recorded
    folds = [np.arange(300, 350), np.arange(350, 400)]
    atts = {}
    for v, params in ((2, {"fast": 3, "slow": 15}), (3, {"entry": 15, "exit": 7})):
        strategy = "sma_crossover" if v == 2 else "donchian_breakout"
        atts[v] = attributions(strategy, params, stored_bars, folds=folds, config=BacktestConfig(), seed=v,
                               n_repeats=2)
        reg.register("dep", strategy=strategy, params=params, attributions=atts[v], **kw)
    return atts


def test_the_deployment_report_shows_each_versions_attributions(stored_bars, tmp_path):
    atts = _deployment(stored_bars)
    html = deployment_report("dep", tmp_path / "dep.html").read_text(encoding="utf-8")
    assert _panels(html) == list(PANELS["deployment"]) and "attributions" in PANELS["deployment"]
    panel = _section(html, "attributions")
    assert "Feature attributions (2 versions)" in panel and "Versions without attributions" in panel
    assert "v1." in panel  # named as lacking them
    fig = _figure(html, "attributions")
    for v, att in atts.items():
        trace = next(t for t in fig["data"] if t["name"] == f"v{v}")
        assert trace["y"] == list(att.features)
        np.testing.assert_array_equal(_values(trace["x"]), att.permutation.importance)
        np.testing.assert_array_equal(_values(trace["error_x"]["array"]), att.permutation.std)
        table = panel[panel.index(f'data-version="{v}"'):]
        table = table[:table.index("</details>")]
        rows = cells(table)
        assert [r[0] for r in rows] == att.permutation.ranking()
        for r, want in zip(rows, att.rows(), strict=True):
            assert r[1] == _fmt(want["permutation"]) and r[2] == _fmt(want["permutation_std"])
    # sma_crossover reads only the closes, donchian only highs, lows (and closes): the rest are exactly 0
    sma = dict(zip(fig["data"][0]["y"], _values(fig["data"][0]["x"]), strict=True))
    assert sma["open"] == sma["volume"] == 0.0


def test_a_deployment_without_attributions_says_so(stored_bars, tmp_path):
    from conftest import SMA, register

    from harness.registry import Registry

    reg = Registry.open()
    reg.create_deployment("old", mode="auto", baseline="cash", spec=deployment_spec("old"), spec_hash="h", by="alice")
    html = deployment_report("old", tmp_path / "a.html").read_text(encoding="utf-8")
    assert "No attributions yet: no version is registered yet." in _section(html, "attributions")
    register(reg, stored_bars, "old", SMA)
    html = deployment_report("old", tmp_path / "b.html").read_text(encoding="utf-8")
    panel = _section(html, "attributions")
    assert "no version carries attributions" in panel and "v1." in panel
