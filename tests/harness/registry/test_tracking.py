"""MLflow runs of backtests, sweeps, optimisations, experiments and fits (issue 14, tracking)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness._bars import load_bars
from harness._lineage import env_digest, environment
from harness.engine import backtest
from harness.optimize import optimize
from harness.registry import _mlflow, get_run, log_run, metric_key
from harness.registry._tracking import TAGS
from harness.sweep import sweep

PARAMS = {"fast": 5, "slow": 20}


@pytest.fixture(autouse=True)
def _fresh_clients():
    """Each test has its own home, so its own MLflow store: forget the cached clients."""
    _mlflow._CLIENTS.clear()
    yield
    _mlflow._CLIENTS.clear()


def _artifacts(run) -> Path:
    return Path(run.info.artifact_uri.removeprefix("file://"))


def test_metric_keys_are_mlflow_safe_and_documented():
    assert metric_key("Total Return [%]") == "total_return_pct"
    assert metric_key("Sharpe Ratio") == "sharpe_ratio"
    assert metric_key("Max Drawdown Duration [bars]") == "max_drawdown_duration_bars"
    assert metric_key("Turnover [x]") == "turnover_x"
    assert metric_key("Win Rate [%]") == "win_rate_pct"


def test_a_tracked_backtest_logs_one_run_with_its_lineage(stored_bars, harness_home):
    bars = load_bars(["AAA", "BBB"])
    res = backtest(bars, "sma_crossover", PARAMS, track=True)
    assert res.run_id
    run = get_run(res.run_id)
    tags = run.data.tags
    assert set(TAGS) <= set(tags)
    assert tags["harness.kind"] == "backtest" and tags["harness.strategy"] == "sma_crossover"
    assert tags["harness.snapshot_id"] == bars.snapshot_id
    assert tags["harness.data_digest"] == bars.digest()
    assert tags["harness.env_digest"] == env_digest() == res.lineage["env_digest"]
    assert tags["harness.code_version"] == res.lineage["code_version"]
    assert tags["harness.dirty"] in ("true", "false", "none")
    # every numeric statistic, under its documented key
    stats = res.stats
    assert run.data.metrics["sharpe_ratio"] == pytest.approx(stats["Sharpe Ratio"], abs=0, rel=0)
    assert run.data.metrics["total_return_pct"] == stats["Total Return [%]"]
    assert run.data.metrics["number_of_trades"] == stats["Number of Trades"]
    assert run.data.params["fast"] == "5" and run.data.params["config.fee_rate"] == "0.0"
    # the bars as a dataset input: digest and store + snapshot as source
    (ds_input,) = run.inputs.dataset_inputs
    ds = ds_input.dataset
    assert ds.digest == bars.digest()
    source = json.loads(ds.source)
    assert source["snapshot_id"] == bars.snapshot_id and source["uri"] == (harness_home / "data").as_uri()
    # artifacts: lineage (with what reproduce needs), the environment list, equity and trades
    art = _artifacts(run)
    assert art.is_relative_to(harness_home / "artifacts" / "harness-backtest")
    lin = json.loads((art / "lineage.json").read_text())
    assert lin["reproduce"]["kind"] == "backtest" and lin["reproduce"]["params"]["fast"] == 5
    assert lin["run_id"] == res.run_id
    assert (art / "environment.txt").read_text() == environment()[1]
    assert "numba==" in environment()[1]
    assert {"equity.csv", "trades.csv"} <= {p.name for p in art.iterdir()}
    assert (harness_home / "mlflow.db").exists()


def test_python_functions_do_not_track_by_default(stored_bars, harness_home):
    res = backtest(load_bars(["AAA"]), "sma_crossover", PARAMS)
    assert res.run_id is None
    assert not (harness_home / "mlflow.db").exists()


def test_a_tracking_failure_keeps_the_result_and_warns_once(stored_bars, monkeypatch):
    monkeypatch.setenv("HARNESS_MLFLOW_URI", "nosuchscheme://nowhere")
    with pytest.warns(RuntimeWarning, match="tracking failed") as caught:
        res = backtest(load_bars(["AAA"]), "sma_crossover", PARAMS, track=True)
    assert len(caught) == 1
    assert res.run_id is None and res.stats["Bars"] == 400


def test_sweep_and_optimize_log_a_run_each(stored_bars):
    bars = load_bars(["AAA", "BBB"])
    df = sweep(bars, "sma_crossover", {"fast": [5, 10], "slow": [20, 40]}, track=True, progress=False)
    run = get_run(df.attrs["run_id"])
    assert run.data.tags["harness.kind"] == "sweep"
    best = df.sort_values("sharpe", ascending=False).iloc[0]
    assert run.data.metrics["best_sharpe"] == best["sharpe"] and run.data.metrics["n_rows"] == 4
    assert json.loads(run.data.params["grid.fast"]) == [5, 10]
    assert "results.csv" in {p.name for p in _artifacts(run).iterdir()}

    res = optimize(bars, "sma_crossover", n_trials=3, cv="walk-forward:train=150,test=50", seed=3,
                   storage=":memory:", progress=False, track=True)
    run = get_run(res.lineage["run_id"])
    assert run.data.tags["harness.kind"] == "optimize" and run.data.tags["harness.seed"] == "3"
    assert run.data.metrics["best_value"] == res.best_value and run.data.metrics["n_trials"] == 3
    oos = res.oos_metrics()
    for k, v in oos.items():
        got = run.data.metrics[f"oos_{k}"]
        assert got == v or (math.isnan(got) and math.isnan(v)), k
    assert {"summary.json", "trials.csv", "lineage.json"} <= {p.name for p in _artifacts(run).iterdir()}


def test_a_tracked_fit_logs_the_weights_with_their_manifest(stored_bars):
    from harness.registry import fit
    from strategies.ml import MLPParams, load

    bars = load_bars(["AAA"])
    model = fit(bars, "mlp", MLPParams(hidden=4, epochs=2, lookback=3, train_bars=250), seed=1, track=True)
    run = get_run(model.run_id)
    assert run.data.tags["harness.kind"] == "fit" and run.data.tags["harness.seed"] == "1"
    assert run.data.metrics["val_loss"] == model.metrics["val_loss"]
    assert "fit_seconds" not in run.data.metrics  # wall time is not a result
    folder = _artifacts(run) / "model"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["weights_sha256"] == run.data.tags["harness.weights_sha256"]
    again = load(folder, expected_bars_digest=bars.digest())
    assert again.state.keys() == model.state.keys()


def test_log_run_is_the_api_for_other_kinds(stored_bars):
    bars = load_bars(["AAA"])
    lin = {"snapshot_id": bars.snapshot_id, "data_digest": bars.digest(), "symbols": ["AAA"], "frequency": "1d"}
    rid = log_run(kind="retrain", lineage=lin, metrics={"dsr": 0.97}, params={"window": "2y"}, strategy="mlp",
                  seed=4, tags={"harness.deployment": "spx-mlp"})
    run = get_run(rid)
    assert run.data.tags["harness.kind"] == "retrain" and run.data.tags["harness.deployment"] == "spx-mlp"
    assert run.data.tags["harness.seed"] == "4" and run.data.metrics["dsr"] == 0.97
    from harness.errors import InputError, UnknownRunError

    with pytest.raises(InputError, match="run kind 'train'"):
        log_run(kind="train", lineage=lin)
    with pytest.raises(UnknownRunError, match="no run"):
        get_run("0" * 32)


def test_two_runs_logging_the_same_dataset_at_once_both_keep_it(stored_bars, monkeypatch):
    # the race of four processes on one SQLite store, made deterministic: another run stores the same
    # dataset between this run's lookup and its insert, so MLflow's insert breaks the unique key
    import sqlite3

    from mlflow.exceptions import MlflowException

    from harness.registry import _tracking

    bars = load_bars(["AAA"])
    lin = {"snapshot_id": bars.snapshot_id, "data_digest": bars.digest(), "symbols": ["AAA"], "frequency": "1d"}
    first = log_run(kind="retrain", lineage=lin, strategy="sma_crossover")
    real = _mlflow.client()
    calls = []

    class Racing:
        def __getattr__(self, name):
            return getattr(real, name)

        def log_inputs(self, run_id, datasets):
            calls.append(run_id)
            if len(calls) == 1:
                try:
                    raise sqlite3.IntegrityError("UNIQUE constraint failed: datasets.experiment_id, datasets.name")
                except sqlite3.IntegrityError as e:
                    raise MlflowException(str(e)) from e
            return real.log_inputs(run_id, datasets=datasets)

    with monkeypatch.context() as mp:
        mp.setattr(_mlflow, "client", lambda uri=None: Racing())
        second = log_run(kind="retrain", lineage=lin, strategy="sma_crossover")
    assert calls == [second, second]
    a, b = get_run(first), get_run(second)
    assert b.info.status == "FINISHED"
    assert [d.dataset.digest for d in a.inputs.dataset_inputs] == [d.dataset.digest for d in b.inputs.dataset_inputs]
    assert len(b.inputs.dataset_inputs) == 1
    # any other failure is not retried: the run is marked FAILED and the error names it
    from harness.errors import TrackingError

    class Broken(Racing):
        def log_inputs(self, run_id, datasets):
            calls.append(run_id)
            raise MlflowException("the store is read-only")

    calls.clear()
    with monkeypatch.context() as mp, pytest.raises(TrackingError, match="read-only"):
        mp.setattr(_mlflow, "client", lambda uri=None: Broken())
        log_run(kind="retrain", lineage=lin, strategy="sma_crossover")
    assert len(calls) == 1 and get_run(calls[0]).info.status == "FAILED"
    assert not _tracking._is_integrity_error(MlflowException("boom"))


def test_cli_backtest_prints_the_run_id_and_json_carries_it(stored_bars, run_cli, harness_home):
    proc = run_cli("backtest", "-s", "sma_crossover", "--symbols", "AAA", "-p", "fast=5", "-p", "slow=20",
                   "--json", check=True)
    out = json.loads(proc.stdout)
    assert out["run_id"] and f"MLflow run {out['run_id']}" in proc.stderr
    lin = json.loads((Path(out["folder"]) / "lineage.json").read_text())
    assert lin["run_id"] == out["run_id"] and lin["env_digest"] and "dirty" in lin
    assert get_run(out["run_id"]).data.tags["harness.kind"] == "backtest"


def test_cli_no_track_and_tracking_failure(stored_bars, run_cli, harness_home):
    proc = run_cli("backtest", "-s", "sma_crossover", "--symbols", "AAA", "--no-track", check=True)
    assert "MLflow run" not in proc.stdout and not (harness_home / "mlflow.db").exists()
    proc = run_cli("backtest", "-s", "sma_crossover", "--symbols", "AAA", env={"HARNESS_MLFLOW_URI": "bogus://x"})
    assert proc.returncode == 0, proc.stderr
    fails = [ln for ln in proc.stdout.splitlines() if "tracking failed" in ln]
    assert len(fails) == 1
    folders = list((harness_home / "results").glob("backtest-*"))
    assert len(folders) == 2 and all((f / "equity.csv").exists() for f in folders)


def test_importing_the_registry_does_not_import_mlflow():
    code = "import sys, harness.registry, harness.registry._tracking, harness.cli._track\nprint('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_WORKER = """
import sys, warnings
warnings.filterwarnings("error", message="tracking failed")  # a lost run fails the worker
from harness import backtest
from harness._bars import load_bars
from harness.registry import log_run
k, n = int(sys.argv[1]), int(sys.argv[2])
bars = load_bars(["AAA", "BBB"])
ids = []
for i in range(n):
    res = backtest(bars, "sma_crossover", {"fast": 3 + i, "slow": 20 + k}, track=True)
    ids.append(res.run_id)
    ids.append(log_run(kind="retrain", lineage=res.lineage, metrics={"worker": k, "i": i}, strategy="sma_crossover"))
print(" ".join(ids))
"""


@pytest.mark.slow
def test_four_processes_log_runs_concurrently_without_losing_one(stored_bars, harness_home):
    import os

    from harness.audit import AuditTrail

    n = 3
    env = {**os.environ, "HARNESS_HOME": str(harness_home), "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(k), str(n)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(4)]
    outs = [p.communicate(timeout=900) for p in procs]
    ids = []
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "database is locked" not in err.lower() and "tracking failed" not in err
        ids += out.split()
    assert len(ids) == len(set(ids)) == 4 * 2 * n
    runs = [get_run(i) for i in ids]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert sorted((r.data.metrics["worker"], r.data.metrics["i"]) for r in runs
                  if r.data.tags["harness.kind"] == "retrain") == sorted((k, i) for k in range(4) for i in range(n))
    trail = AuditTrail()
    report = trail.verify()
    assert report.ok, report
    assert sorted(r["payload"]["run_id"] for r in trail.records(kind="run_logged")) == sorted(ids)
