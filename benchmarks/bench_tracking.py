"""What MLflow tracking adds to a backtest: warm (one process, client open) and on a fresh home.

Usage: ``python benchmarks/bench_tracking.py [--repeat 15]``

* **warm**: the S&P 500 sample (5,031 daily bars) in a temporary home store,
  ``backtest(bars, "sma_crossover", ...)`` side by side with the same call with
  ``track=True`` (one run: tags, params, 25 metrics in one ``log_batch``, the dataset
  input, lineage/environment/equity/trades artifacts, the ``run_logged`` audit record),
  after one untimed tracked call that imports mlflow and opens the store. Median and
  best of ``--repeat``; the goal is at most 50 ms added (median).
* **first run**: fresh Python processes on fresh homes that log one run of a stored
  backtest result, timing the mlflow import and the store creation apart: once with the
  schema template of ``harness.registry._mlflow`` already cached (a new home on a machine
  that has run the harness before) and once with an empty cache folder (the very first
  run on a machine: Alembic migrates a new database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_FIRST_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
import mlflow.tracking, mlflow.entities
t1 = time.perf_counter()
from harness.registry import _mlflow
_mlflow.client()
t2 = time.perf_counter()
from harness.registry import log_run
log_run(kind="backtest", lineage={"snapshot_id": "S", "data_digest": "0" * 32, "symbols": ["X"], "frequency": "1d"},
        metrics={"sharpe_ratio": 1.0}, params={"fast": 10}, strategy="sma_crossover")
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "store": t2 - t1, "first_run": t3 - t2}))
"""


def _warm(repeat: int) -> dict[str, float]:
    from harness import backtest
    from harness._bars import home_store, load_bars
    from market_data import samples

    samples.write_samples(home_store(create=True))
    bars = load_bars(["SPX"])
    params = {"fast": 20, "slow": 100}

    def plain():
        r = backtest(bars, "sma_crossover", params)
        _ = r.stats  # the stats table, as a tracked run logs it
        return r

    def tracked():
        r = backtest(bars, "sma_crossover", params, track=True)
        assert r.run_id, "tracking failed"
        return r

    plain()
    tracked()  # imports mlflow, creates the store and the experiment
    t_plain, t_track, c_plain, c_track = [], [], [], []
    for _ in range(repeat):  # interleaved, so load changes hit both alike
        c0, t0 = time.process_time(), time.perf_counter()
        plain()
        c1, t1 = time.process_time(), time.perf_counter()
        tracked()
        c2, t2 = time.process_time(), time.perf_counter()
        t_plain.append(t1 - t0)
        t_track.append(t2 - t1)
        c_plain.append(c1 - c0)
        c_track.append(c2 - c1)
    med = statistics.median
    return {"plain_med": med(t_plain), "plain_min": min(t_plain), "track_med": med(t_track),
            "track_min": min(t_track), "plain_cpu": med(c_plain), "track_cpu": med(c_track)}


def _first_run(cache: Path) -> dict[str, float]:
    import json

    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        env = {**os.environ, "HARNESS_HOME": home, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _FIRST_RUN], capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - t0
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "process": wall}


def _cli_first_backtest(cache: Path) -> dict[str, float]:
    """Wall time of ``harness backtest`` on a fresh home holding the sample data, without and
    with tracking (the schema template cached in ``cache``; Numba kernels already compiled)."""
    import shutil

    from harness._bars import home_store
    from market_data import samples

    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        seed_home = Path(tmp) / "seed"
        os.environ["HARNESS_HOME"] = str(seed_home)
        samples.write_samples(home_store(create=True))
        for name, extra in (("no_track", ["--no-track"]), ("track", [])):
            home = Path(tmp) / name
            shutil.copytree(seed_home, home)
            env = {**os.environ, "HARNESS_HOME": str(home), "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
            cmd = [sys.executable, "-m", "harness", "backtest", "-s", "sma_crossover", "--symbols", "SPX", *extra]
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            out[name] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as home:
        os.environ["HARNESS_HOME"] = home
        w = _warm(args.repeat)
    added = w["track_med"] - w["plain_med"]
    added_cpu = w["track_cpu"] - w["plain_cpu"]
    print(f"\nwarm, SPX 5,031 bars, median (best) of {args.repeat}; wall clock and CPU time of this process:")
    print("| | wall, median (best) | CPU, median |")
    print(f"| backtest | {w['plain_med'] * 1e3:.1f} ms ({w['plain_min'] * 1e3:.1f}) | {w['plain_cpu'] * 1e3:.1f} ms |")
    print(f"| backtest, track=True | {w['track_med'] * 1e3:.1f} ms ({w['track_min'] * 1e3:.1f}) | "
          f"{w['track_cpu'] * 1e3:.1f} ms |")
    print(f"| added by tracking | {added * 1e3:.1f} ms ({(w['track_min'] - w['plain_min']) * 1e3:.1f}) | "
          f"{added_cpu * 1e3:.1f} ms |")
    print(f"goal <= 50 ms added: wall median {'met' if added <= 0.050 else 'MISSED'}, best "
          f"{'met' if w['track_min'] - w['plain_min'] <= 0.050 else 'MISSED'}, CPU {'met' if added_cpu <= 0.050 else 'MISSED'}")

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        cold = _first_run(Path(cache))  # builds the schema template
        warm_cache = _first_run(Path(cache))
        cli = _cli_first_backtest(Path(cache))
    print("\nfirst tracked run in a fresh process on a fresh home (seconds):")
    print("| cache | import mlflow | open/create store | log the run | whole process |")
    for name, r in (("empty (first run on the machine)", cold), ("schema template cached", warm_cache)):
        print(f"| {name} | {r['import']:.2f} | {r['store']:.2f} | {r['first_run']:.2f} | {r['process']:.2f} |")
    print("\nfirst `harness backtest -s sma_crossover --symbols SPX` on a fresh home with the sample data "
          "(Numba cache and schema template warm), wall seconds:")
    print(f"| --no-track | {cli['no_track']:.2f} |\n| tracked | {cli['track']:.2f} |\n"
          f"| added by tracking | {cli['track'] - cli['no_track']:.2f} |")
    print(f"\nload: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")


if __name__ == "__main__":
    main()
