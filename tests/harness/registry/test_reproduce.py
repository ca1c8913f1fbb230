"""``harness reproduce RUN_ID`` and ``harness ui`` (issue 14, reproduction)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from harness._bars import load_bars
from harness.engine import BacktestConfig, backtest
from harness.errors import NotReproducibleError, UnknownRunError
from harness.optimize import optimize
from harness.registry import _mlflow, reproduce
from harness.registry._tracking import fit
from harness.sweep import sweep

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _fresh_clients():
    _mlflow._CLIENTS.clear()
    yield
    _mlflow._CLIENTS.clear()


def _identical(run_id: str, kind: str) -> None:
    out = reproduce(run_id)
    assert out.kind == kind
    assert out.identical, out.differences
    assert len(out.rows) >= 3 and not out.differences


def _tamper(run_id: str, key: str, value: float) -> None:
    c = _mlflow.client()
    c.log_metric(run_id, key, value)


def test_a_backtest_reproduces_exactly_and_a_tampered_metric_is_a_difference(stored_bars):
    bars = load_bars(["AAA", "BBB"])
    res = backtest(bars, "sma_crossover", {"fast": 5, "slow": 20}, config=BacktestConfig(fee_rate=0.001),
                   track=True)
    _identical(res.run_id, "backtest")
    _tamper(res.run_id, "sharpe_ratio", float(res.stats["Sharpe Ratio"]) + 1e-9)
    out = reproduce(res.run_id)
    assert not out.identical
    assert [d["metric"] for d in out.differences] == ["sharpe_ratio"]
    assert out.differences[0]["reproduced"] == res.stats["Sharpe Ratio"]


def test_a_sweep_reproduces_exactly(stored_bars):
    df = sweep(load_bars(["AAA"]), "sma_crossover", {"fast": [4, 8], "slow": [16, 32]}, progress=False, track=True)
    _identical(df.attrs["run_id"], "sweep")


def test_an_optimisation_reproduces_exactly(stored_bars):
    res = optimize(load_bars(["AAA", "BBB"]), "sma_crossover", n_trials=6, cv="walk-forward:train=150,test=50",
                   seed=11, search_space={"fast": [3, 15], "slow": [20, 60]}, progress=False, track=True)
    _identical(res.lineage["run_id"], "optimize")


def test_a_fit_reproduces_its_metrics_and_weights(stored_bars):
    from strategies.ml import MLPParams

    model = fit(load_bars(["AAA"]), "mlp", MLPParams(hidden=4, epochs=2, lookback=3, train_bars=250), seed=2,
                track=True)
    out = reproduce(model.run_id)
    assert out.identical, out.differences
    assert "harness.state_digest" in {r["metric"] for r in out.rows}


def test_an_experiment_run_reproduces_exactly(stored_bars, tmp_path):
    from harness.experiments import run_experiment

    spec = tmp_path / "exp.toml"
    spec.write_text('[data]\nsymbols = ["AAA"]\n[strategy]\nname = "sma_crossover"\n'
                    'search_space = { fast = [3, 12], slow = [20, 50] }\n'
                    '[cv]\nscheme = "walk-forward"\ntrain = 150\ntest = 50\n'
                    '[optimize]\ntrials = 4\nseed = 5\n')
    run = run_experiment(spec, progress=False, track=True)
    assert json.loads((run.folder / "summary.json").read_text())["run_id"] == run.run_id
    _identical(run.run_id, "run")


def test_bars_not_from_the_store_cannot_be_reproduced(stored_bars):
    bars = load_bars(["AAA"]).with_snapshot(None)
    res = backtest(bars, "sma_crossover", track=True)
    with pytest.raises(NotReproducibleError, match="no data snapshot id"):
        reproduce(res.run_id)
    res = backtest(load_bars(["AAA"]), weights=np.full((400, 1), 0.5), track=True)
    with pytest.raises(NotReproducibleError, match="explicit weights"):
        reproduce(res.run_id)
    with pytest.raises(UnknownRunError, match="no run"):
        reproduce("f" * 32)


def test_cli_reproduce_exit_codes_and_diff_table(stored_bars, run_cli):
    proc = run_cli("backtest", "-s", "sma_crossover", "--symbols", "AAA", "--json", check=True)
    run_id = json.loads(proc.stdout)["run_id"]
    proc = run_cli("reproduce", run_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical" in proc.stdout
    _tamper(run_id, "total_return_pct", 123.0)
    _tamper(run_id, "bars", 7.0)
    proc = run_cli("reproduce", run_id)
    assert proc.returncode == 1
    assert "2 of" in proc.stdout and "total_return_pct" in proc.stdout and "123.0" in proc.stdout
    proc = run_cli("reproduce", run_id, "--json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and {d["metric"] for d in out["differences"]} == {"total_return_pct", "bars"}
    proc = run_cli("reproduce", "nope")
    assert proc.returncode == 2 and proc.stderr.startswith("error: run id 'nope'")


def test_reproduce_warns_when_the_environment_differs(stored_bars, monkeypatch):
    res = backtest(load_bars(["AAA"]), "sma_crossover", track=True)
    from harness import _lineage

    monkeypatch.setattr(_lineage, "environment", lambda: ("0" * 64, "numba==0.0\n"))
    monkeypatch.setattr(_lineage, "code_version", lambda: "9.9.9")
    out = reproduce(res.run_id)
    assert out.identical
    assert any("environment digest differs" in w for w in out.warnings)
    assert any("code version differs" in w for w in out.warnings)


def test_ui_without_the_full_mlflow_prints_the_install_command(run_cli, harness_home):
    from harness.cli._tracking import UI_REQUIREMENT, full_mlflow_installed

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert UI_REQUIREMENT in extras["ui"]
    proc = run_cli("ui", "--dry-run")
    if full_mlflow_installed():
        assert proc.returncode == 0 and f"sqlite:///{harness_home}/mlflow.db" in proc.stdout
    else:
        assert proc.returncode == 1
        assert f"pip install '{UI_REQUIREMENT}'" in proc.stderr
        assert f"mlflow ui --backend-store-uri sqlite:///{harness_home}/mlflow.db" in proc.stderr


def test_ui_with_the_full_mlflow_starts_it_on_the_home_store(monkeypatch, harness_home, capsys):
    from harness.cli import _tracking, main

    monkeypatch.setattr(_tracking, "full_mlflow_installed", lambda: True)
    assert main(["ui", "--dry-run", "--port", "5123"]) == 0
    cmd = capsys.readouterr().out
    assert "-m mlflow ui --backend-store-uri" in cmd and f"sqlite:///{harness_home}/mlflow.db" in cmd
    assert f"--default-artifact-root {harness_home / 'artifacts'}" in cmd and "--port 5123" in cmd
