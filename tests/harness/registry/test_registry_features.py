"""Feature lineage of registered versions: recorded at registration, checked at load (issue 23)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness.engine import BacktestConfig
from harness.errors import InputError

# the module's fixtures (imported names are fixtures here too); this module runs on the SQLite store only
from .test_registry import REPO, SMA, _deploy, _register, fitted, reg, snapshot  # noqa: F401


@pytest.mark.slow  # two fresh processes import the harness
def test_a_version_records_its_feature_definitions_and_refuses_to_load_after_they_change(
        reg, snapshot, stored_bars, fitted, tmp_path):  # noqa: F811 - the imported fixtures
    """The feature set and definition hashes are recorded at registration. A process running the same code
    with an unrelated edit loads both versions; with the mlp feature kernel edited it refuses both (the rule
    strategy's common inputs come from that kernel), naming the version and the changed features."""
    import os
    import shutil

    from strategies.features import feature_lineage

    model, folder, params = fitted
    _deploy(reg, "mlp-dep")
    _deploy(reg)
    rule = _register(reg, snapshot, stored_bars)
    assert rule.features["feature_set"] == "sma_crossover"
    assert rule.features["definitions"] == feature_lineage("sma_crossover", SMA)["definitions"]
    usage = {"stored": 3, "computed": 0}
    v = reg.register("mlp-dep", strategy="mlp", params=params.to_dict(), config=BacktestConfig(),
                     symbols=["AAA", "BBB"], frequency="1d", snapshot_id=snapshot, data_digest=stored_bars.digest(),
                     seed=3, artifact_path=folder, features={"from_store": usage})
    again = reg.get("mlp-dep", v.version)
    assert again.features == {"from_store": usage, **feature_lineage("mlp")} == v.lineage()["features"]
    reg.load("mlp-dep", v.version)  # unchanged code: loads
    with pytest.raises(InputError, match="features must be a dict"):
        reg.register("mlp-dep", strategy="mlp", params=params.to_dict(), config=BacktestConfig(), symbols=["AAA"],
                     frequency="1d", snapshot_id=snapshot, data_digest="d", features=["x"])

    # the same code in another process on this home: first with an unrelated edit (both versions load), then
    # with one line of the mlp feature kernel changed, which the rule strategy's common inputs also use
    code = tmp_path / "code"
    for pkg in ("harness", "market_data", "strategies"):
        shutil.copytree(REPO / pkg, code / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    probe = textwrap.dedent(f"""
        from harness.registry import Registry
        from market_data.errors import FeatureDefinitionChangedError
        reg = Registry.open()
        for name, version in (("spx-sma", {rule.version}), ("mlp-dep", {v.version})):
            try:
                reg.load(name, version)
                print("LOADED", name)
            except FeatureDefinitionChangedError as exc:
                print("REFUSED", exc)
    """)
    env = {**os.environ, "PYTHONPATH": str(code), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def probe_run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()

    other = code / "strategies" / "donchian.py"
    other.write_text(other.read_text() + "\n\ndef unrelated_helper():\n    return 1\n")
    assert probe_run() == ["LOADED spx-sma", "LOADED mlp-dep"]
    nb = code / "strategies" / "ml" / "nb.py"
    text = nb.read_text()
    assert "def features_nb(" in text
    nb.write_text(text.replace("def features_nb(", "def features_nb(  # edited\n        ", 1))
    refused = probe_run()
    assert refused[0].startswith(f"REFUSED refusing to load spx-sma v{rule.version}: feature set 'sma_crossover'")
    assert refused[1].startswith(f"REFUSED refusing to load mlp-dep v{v.version}: feature set 'mlp'"), refused
    assert all("changed since this version was trained" in r and "retrain it" in r for r in refused)
