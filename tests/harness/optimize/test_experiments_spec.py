"""Experiment TOML specs: strict parsing with file/table/key in errors, idempotent runs, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.experiments import load_experiment, run_experiment
from harness.validation import CombinatorialPurgedCV, WalkForward

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "experiments").glob("*.toml"))

SPEC = """
description = "small test experiment"
[data]
symbols = ["SYN0"]
[strategy]
name = "sma_crossover"
params = { long_short = false }
search_space = { fast = [2, 20], slow = [25, 80] }
[cv]
scheme = "walk-forward"
train = 200
test = 100
[optimize]
trials = 4
seed = 1
[costs]
fee_rate = 0.001
"""


@pytest.fixture
def synthetic_store():
    """Synthetic daily bars written to the test's home store (no sample download)."""
    from harness._bars import home_store
    from market_data.synthetic import regime_switching

    bars = regime_switching(700, 1, seed=2, symbols=["SYN0"])[0]
    home_store(create=True).write(bars, message="synthetic")
    return bars


def test_shipped_examples_parse(tmp_path):
    assert len(EXAMPLES) >= 2
    for path in EXAMPLES:
        exp = load_experiment(path)
        assert exp.strategy.name and exp.optimize.trials > 0
    cvs = {type(load_experiment(p).cv.splitter()) for p in EXAMPLES}
    assert {WalkForward, CombinatorialPurgedCV} <= cvs


@pytest.mark.parametrize(("edit", "match"), [
    (("[data]", "[data]\nsymbol = 'X'"), r"\[data\] DataSpec has no field 'symbol'; did you mean 'symbols'"),
    (("[costs]", "[costs]\nfee = 1"), r"\[costs\] BacktestConfig has no field 'fee'"),
    (("[optimize]", "[optimize]\ntrails = 3"), r"\[optimize\] OptimizeSpec has no field 'trails'"),
    (("scheme = \"walk-forward\"", "scheme = \"walk-forward\"\nn_groups = 3"), r"\[cv\] .*no option 'n_groups'"),
    (("description", "descripton"), r"has no field 'descripton'"),
])
def test_unknown_keys_are_refused_naming_file_table_and_key(tmp_path, edit, match):
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.replace(*edit, 1))
    with pytest.raises(ConfigError, match=match) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_run_writes_results_and_lineage_and_a_rerun_adds_no_trial(tmp_path, synthetic_store, harness_home):
    path = tmp_path / "small.toml"
    path.write_text(SPEC)
    run = run_experiment(path, progress=False)
    assert run.folder == harness_home / "results" / "experiments" / "small"
    summary = json.loads((run.folder / "summary.json").read_text())
    lin = summary["lineage"]
    assert lin["data_digest"] == synthetic_store.digest() and lin["snapshot_id"]
    assert lin["strategy"] == "sma_crossover" and lin["cv"] == "walk-forward:train=200,test=100"
    assert lin["seed"] == 1 and lin["config"]["fee_rate"] == 0.001 and lin["code_version"]
    assert summary["experiment"]["sha256"] == run.experiment.spec_hash
    assert summary["best_params"]["long_short"] is False
    assert (run.folder / "trials.csv").exists() and (run.folder / "oos_returns.npz").exists()
    again = run_experiment(path, progress=False)
    assert len(again.result.trials) == 4
    assert again.result.best_params == run.result.best_params


@pytest.mark.slow
def test_cli_run_and_optimize_print_best_params_dsr_and_pbo(tmp_path, synthetic_store, run_cli):
    path = tmp_path / "small.toml"
    path.write_text(SPEC)
    out = run_cli("run", str(path), check=True)
    assert "best trial" in out.stdout and "deflated Sharpe" in out.stdout and "PBO" in out.stdout
    out = run_cli("optimize", "--strategy", "sma_crossover", "--trials", "3", "--symbols", "SYN0",
                  "--cv", "walk-forward:train=250,test=150", "--space", "fast=2:20", "--space", "slow=30:90",
                  "--seed", "3", "--study", "cli-study", check=True)
    assert "best trial" in out.stdout and "fast" in out.stdout


def test_cli_optimize_reports_a_bad_objective_in_one_line(synthetic_store, run_cli):
    bad = run_cli("optimize", "--strategy", "sma_crossover", "--symbols", "SYN0", "--objective", "sharp")
    assert bad.returncode == 2 and "did you mean 'sharpe'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_shipped_example_runs_on_the_sample_data(path, run_cli):
    run_cli("data", "samples", check=True)
    run = run_experiment(path, progress=False)
    assert run.result.best_trial is not None
    assert (run.folder / "summary.json").exists()
