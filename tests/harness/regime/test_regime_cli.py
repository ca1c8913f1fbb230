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
