"""``harness data ...`` and ``harness._bars.load_bars`` against the test's home folder."""

from __future__ import annotations

import pandas as pd
import pytest

from harness._bars import NoDataError, home_store, load_bars
from market_data import BarStore
from market_data.synthetic import regime_switching


def test_load_bars_without_a_store_tells_the_user_to_run_samples():
    with pytest.raises(NoDataError, match="harness data samples"):
        load_bars("SPX")


def test_load_bars_reads_the_home_store_with_its_snapshot_id(harness_home):
    bars, _ = regime_switching(50, 2, seed=0, symbols=["AAA", "BBB"])
    store = home_store(create=True)
    sid = store.write(bars, message="x")
    got = load_bars("BBB", start=int(bars.timestamps[10]))
    assert got.snapshot_id == sid and got.equals(bars.select("BBB")[10:])
    assert load_bars().equals(bars)
    assert (harness_home / "data").is_dir()
    with pytest.raises(NoDataError, match="symbol 'AAB'.*did you mean 'AAA'.*harness data samples"):
        load_bars(["AAB"])
    with pytest.raises(NoDataError, match="no '1h' bars"):
        load_bars(frequency="1h")


@pytest.mark.slow
def test_data_commands_end_to_end(run_cli, harness_home, tmp_path):
    r = run_cli("data", "ls")
    assert r.returncode == 2 and "harness data samples" in r.stderr and "Traceback" not in r.stderr

    bars, _ = regime_switching(30, 2, seed=1, symbols=["AAA", "BBB"])
    df = bars.to_pandas("long").rename(columns={"symbol": "Ticker", "close": "Last"})
    df["timestamp"] = df["timestamp"].dt.tz_localize(None)
    df.to_csv(tmp_path / "bars.csv", index=False)
    r = run_cli("data", "ingest", str(tmp_path / "bars.csv"), "--symbol-column", "Ticker", "--map", "Last=close",
                "--tz", "UTC", "--frequency", "1d", check=True)
    assert "ingested 60 bars of 2 symbol(s)" in r.stdout
    assert BarStore.open(harness_home / "data").read().equals(bars)

    r = run_cli("data", "ingest", str(tmp_path / "bars.csv"), "--symbol-column", "Ticker", "--map", "Last=close",
                "--tz", "UTC")
    assert r.returncode == 1 and "already has this bar" in r.stderr and "--replace" in r.stderr

    r = run_cli("data", "synth", "--bars", "40", "--symbols", "2", "--seed", "3", check=True)
    assert "SYN0..SYN1" in r.stdout

    r = run_cli("data", "ls", check=True)
    assert "AAA" in r.stdout and "SYN1" in r.stdout

    r = run_cli("data", "info", "AAA", check=True)
    assert "30 bars" in r.stdout and "2000-01-03" in r.stdout and "float64" in r.stdout  # unrounded: off-grid

    r = run_cli("data", "tag", "first-ingest", check=True)
    sid = BarStore.open(harness_home / "data").history()[0].id
    assert sid in r.stdout

    r = run_cli("data", "history", check=True)
    assert "first-ingest" in r.stdout and sid in r.stdout and "synth" in r.stdout

    r = run_cli("data", "info", "NOPE")
    assert r.returncode == 2 and "NOPE" in r.stderr


def test_data_ingest_rejects_a_bad_file_in_one_line(run_cli, tmp_path):
    pd.DataFrame({"timestamp": ["2024-01-02", "2024-01-03"], "symbol": "X", "open": [1.0, 1.0],
                  "high": [2.0, 0.5], "low": [0.5, 0.4], "close": [1.5, 0.45], "volume": [10, 10]}
                 ).to_csv(tmp_path / "bad.csv", index=False)
    r = run_cli("data", "ingest", str(tmp_path / "bad.csv"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "'X'" in r.stderr and "2024-01-03" in r.stderr and "high_below_open_close" in r.stderr


@pytest.mark.slow
def test_data_samples_ingests_the_shipped_sample_data_once(run_cli, harness_home):
    from market_data import samples

    r = run_cli("data", "samples", check=True)
    assert "SPX" in r.stdout
    store = BarStore.open(harness_home / "data")
    assert set(samples.available()) <= set(store.symbols("1d"))
    assert store.read("SPX").equals(samples.load("SPX").with_snapshot(None))
    r = run_cli("data", "samples", check=True)
    assert "already in the store" in r.stdout
    assert load_bars("SPX").n_bars == samples.load("SPX").n_bars


def test_demo_step_fills_the_home_store_once():
    from harness._bars import demo_step

    ctx: dict = {}
    first = demo_step(ctx)
    assert "wrote SPX, NASDAQ" in first and ctx["data_snapshot"] in first
    assert "already there" in demo_step(ctx)
    assert load_bars("SPX").snapshot_id == ctx["data_snapshot"]


def test_data_samples_names_the_samples_extra_when_the_stock_samples_are_missing(run_declared):
    """Under the declared dependencies alone, bokeh_sampledata (the ``samples`` extra) is absent: the
    hint must name the extra (rich once swallowed ``[samples]`` as a markup tag)."""
    import re

    proc = run_declared("data", "samples")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "stocks: not installed" in out
    assert re.search(r"pip install (-e '\S+\[samples\]'|'regime-harness\[samples\]') for them", out), out


def test_the_install_hint_names_the_extra_in_both_forms(monkeypatch):
    import json
    from importlib import metadata

    from market_data import samples

    class Dist:
        def __init__(self, direct):
            self.direct = direct

        def read_text(self, name):
            return self.direct

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(json.dumps(
        {"url": "file:///src/my%20checkout", "dir_info": {"editable": True}})))
    assert samples.install_hint() == "pip install -e '/src/my checkout[samples]'"
    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(None))
    assert samples.install_hint() == "pip install 'regime-harness[samples]'"
