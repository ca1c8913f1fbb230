"""Deployment specs: strict parsing (file, table and key in every error), the shipped specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.deploy import RetrainConfig, WindowSpec, load_deployment, loads_deployment, resolve
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPO / "experiments" / "deployments").glob("*.toml"))

SPEC = """
[deployment]
name = "t-sma"
mode = "auto"
baseline = "cash"
[data]
symbols = ["AAA"]
[strategy]
name = "sma_crossover"
search_space = { fast = [2, 20], slow = [25, 80] }
[cv]
scheme = "walk-forward"
train = 100
test = 50
[optimize]
trials = 4
seed = 1
[regime]
detector = "cusum"
[regime.trigger]
min_duration = 3
[retrain]
window = "trailing:300"
holdout = 60
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dep.toml"
    path.write_text(text)
    return path


def test_shipped_deployments_parse_and_name_their_parts():
    names = {p.name for p in SHIPPED}
    assert {"spx_sma.toml", "indices_mlp.toml"} <= names
    sma = load_deployment(REPO / "experiments/deployments/spx_sma.toml")
    assert (sma.name, sma.mode, sma.strategy.name, sma.symbols) == ("spx-sma", "auto", "sma_crossover", ["SPX"])
    mlp = load_deployment(REPO / "experiments/deployments/indices_mlp.toml")
    assert mlp.strategy.name == "mlp" and mlp.symbols == ["SPX", "NASDAQ"] and mlp.regime_symbol == "SPX"
    assert mlp.retrain.window_spec == WindowSpec("regime")


def test_a_spec_loads_with_its_text_and_hash(tmp_path):
    spec = load_deployment(_write(tmp_path, SPEC))
    assert spec.text == SPEC and len(spec.hash) == 64
    assert spec.retrain.window_spec == WindowSpec("trailing", 300) and spec.retrain.holdout == 60
    assert spec.trigger_policy().min_duration == 3 and spec.detector().name == "cusum"
    again = loads_deployment(SPEC, source="registry")
    assert again.hash == spec.hash and again.path is None
    assert resolve(str(tmp_path / "dep.toml")).hash == spec.hash


@pytest.mark.parametrize(("edit", "match"), [
    (("[optimize]", "[optimise]"), r"unknown table or key 'optimise'; did you mean \[optimize\]"),
    (("[retrain]", "[retrain]\nwindw = 3"), r"\[retrain\] RetrainConfig has no field 'windw'; did you mean 'window'"),
    (('window = "trailing:300"', 'window = "sliding:300"'), r"\[retrain\] RetrainConfig.window must be 'trailing:"),
    (('window = "trailing:300"', 'window = "trailing:0"'), r"\[retrain\] RetrainConfig.window .*positive"),
    (("holdout = 60", "holdout = 1.5"), r"\[retrain\] RetrainConfig.holdout as a fraction .*\(0, 1\)"),
    (("holdout = 60", 'holdout = "1 year"'), r"\[retrain\] RetrainConfig.holdout must be a positive number"),
    (("holdout = 60", 'timeout = "soon"'), r"\[retrain\] RetrainConfig.timeout must be seconds"),
    (("holdout = 60", "top_k = 0"), r"\[retrain\] RetrainConfig.top_k must be >= 1"),
    (("holdout = 60", "retrain_on = 'drift'"), r"\[retrain\] RetrainConfig.retrain_on must be a list"),
    (("holdout = 60", "retrain_on = ['drfit']"), r"\[retrain\] RetrainConfig.retrain_on names unknown alert kind 'drfit'"),
    (('window = "trailing:300"', 'window = "regime"\nfallback = "expanding"'),
     r"\[retrain\] RetrainConfig.fallback must be a trailing window"),
    (('mode = "auto"', 'mode = "yolo"'), r"\[deployment\] DeploymentTable.mode must be 'auto' or 'governed'"),
    (('mode = "auto"\n', ""), r"\[deployment\] DeploymentTable.mode must be 'auto' or 'governed'"),
    (('baseline = "cash"', 'baseline = "spy"'), r"\[deployment\] DeploymentTable.baseline must be one of"),
    (('name = "t-sma"', 'name = "../evil"'), r"\[deployment\] DeploymentTable.name must match"),
    (('detector = "cusum"', 'detector = "cusumm"'), r"\[regime\] unknown regime detector 'cusumm'"),
    (('detector = "cusum"', 'detector = "cusum"\nthreshhold = 3'), r"\[regime\] .*has no field 'threshhold'"),
    (("min_duration = 3", "min_duraton = 3"), r"\[regime.trigger\] TriggerPolicy has no field 'min_duraton'"),
    (('detector = "cusum"', 'detector = "cusum"\nsymbol = "ZZZ"'), r"\[regime\] symbol 'ZZZ' is not one of"),
    (('name = "sma_crossover"', 'name = "sma_crossovr"'), r"\[strategy\] .*sma_crossovr"),
    (("fast = [2, 20]", "fst = [2, 20]"), r"\[strategy\] strategy 'sma_crossover' has no parameter 'fst'"),
    (('symbols = ["AAA"]\n', ""), r"\[data\] symbols is required"),
    (("[cv]", "[cv]\nn_groups = 3"), r"\[cv\] .*no option 'n_groups'"),
])
def test_spec_errors_name_the_file_the_table_and_the_key(tmp_path, edit, match):
    assert edit[0] in SPEC
    path = _write(tmp_path, SPEC.replace(*edit, 1))
    with pytest.raises(ConfigError, match=match) as info:
        load_deployment(path)
    assert str(path) in str(info.value)


def test_the_deployment_table_is_required_and_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"the \[deployment\] table is required"):
        load_deployment(_write(tmp_path, SPEC.replace("[deployment]", "[x]").split("[data]", 1)[0].replace(
            "[x]\n", "").replace('name = "t-sma"\nmode = "auto"\nbaseline = "cash"\n', "") + "[data]"
            + SPEC.split("[data]", 1)[1]))
    with pytest.raises(ConfigError, match=r"deployment file .*nope.toml does not exist"):
        load_deployment(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_deployment(_write(tmp_path, "[deployment\n"))


def _owner(module: str, attr: str):
    import importlib

    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


@pytest.mark.parametrize(("table", "module", "attr"), [("gate", "harness.gate", "GatePolicy"),
                                                       ("paper", "harness.paper", "PaperConfig"),
                                                       ("monitor", "harness.monitor", "MonitorConfig")])
def test_owner_tables_are_validated_by_their_owner_or_refused_when_it_is_missing(tmp_path, table, module, attr):
    path = _write(tmp_path, SPEC + f"\n[{table}]\nno_such_key_anywhere = 1\n")
    expected = rf"{path}: \[{table}\] .*no_such_key_anywhere" if _owner(module, attr) \
        else rf"\[{table}\] is validated by {module}.{attr}"
    with pytest.raises(ConfigError, match=expected):
        load_deployment(path)


def test_retrain_defaults_and_timeout_units():
    cfg = RetrainConfig()
    assert cfg.window == "expanding" and cfg.holdout == 0.2 and cfg.top_k == 3 and cfg.warm_start_champion
    assert RetrainConfig(timeout="10min").timeout_seconds() == 600.0
    assert RetrainConfig(timeout=90).timeout_seconds() == 90.0 and cfg.timeout_seconds() is None
    assert WindowSpec.parse("trailing:8y") == WindowSpec("trailing", (8, "y"))
    assert WindowSpec.parse("trailing:8y").spec() == "trailing:8y"


def test_experiments_accept_the_regime_table(tmp_path):
    from harness.experiments import load_experiment

    path = tmp_path / "e.toml"
    cv = '[cv]\ntrain = 100\ntest = 50\n'
    path.write_text('[data]\nsymbols=["A"]\n[strategy]\nname="sma_crossover"\n[regime]\ndetector="ewma"\n'
                    "[regime.trigger]\ncooldown = 3\n" + cv)
    assert load_experiment(path).regime["detector"] == "ewma"
    path.write_text('[strategy]\nname="sma_crossover"\n[regime]\ndetector="nope"\n' + cv)
    with pytest.raises(ConfigError, match=r"\[regime\] unknown regime detector"):
        load_experiment(path)
    path.write_text('[strategy]\nname="sma_crossover"\n')
    with pytest.raises(ConfigError, match=r"\[cv\] cv scheme 'walk-forward' needs train and test"):
        load_experiment(path)
