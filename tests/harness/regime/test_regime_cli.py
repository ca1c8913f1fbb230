"""``harness regimes``: the timeline table, the plot, one-line errors."""

from __future__ import annotations


def test_regimes_prints_the_timeline_and_writes_the_plot(run_cli, tmp_path):
    out = tmp_path / "regimes.html"
    proc = run_cli("regimes", "--symbols", "SPX", "--detector", "cusum", "--start", "2006-01-01",
                   "--end", "2012-12-31", "--plot", str(out), check=True)
    text = proc.stdout
    for word in ("start", "end", "regime", "vol (ann.)", "high", "2008-", "detected changes"):
        assert word in text, text
    assert out.exists() and "plotly" in out.read_text()[:200_000].lower()


def test_unknown_detector_is_one_line_error(run_cli):
    proc = run_cli("regimes", "--symbols", "SPX", "--detector", "bocpdd")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "did you mean 'bocpd'" in proc.stderr


def test_regimes_reads_a_symbol_from_the_home_store(run_cli, harness_home):
    from harness.config import paths
    from market_data.store import BarStore
    from market_data.synthetic import Regime, regime_switching

    bars, truth = regime_switching(1500, regimes=(Regime(vol=0.01), Regime(vol=0.03)),
                                   schedule=[(0, 0), (1000, 1)], seed=2, symbols=["SYNTH"])
    BarStore.open(paths().data, create=True).write(bars, message="synthetic")
    proc = run_cli("regimes", "--symbols", "SYNTH", "--param", "threshold=9.0", check=True)
    assert "not in the home store" not in proc.stdout
    assert "high" in proc.stdout and "threshold=9.0" in proc.stdout
    change_date = str(bars.index()[truth.change_points[0]].date())[:7]  # the month of the shift
    assert change_date in proc.stdout
