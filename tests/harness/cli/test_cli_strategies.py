"""``harness strategies ls`` and ``harness strategies show NAME``."""

from __future__ import annotations

import json


def test_ls_lists_every_registered_strategy_as_json(run_cli):
    import strategies

    proc = run_cli("strategies", "ls", "--json", check=True)
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == strategies.available()
    by_name = {r["name"]: r for r in rows}
    assert by_name["sma_crossover"]["warmup"] == 49 and by_name["sma_crossover"]["kind"] == "rule"
    assert by_name["xs_momentum"]["summary"].startswith("Cross-sectional momentum")


def test_ls_table_and_show_print_params_bounds_and_docs(run_cli):
    table = run_cli("strategies", "ls", check=True).stdout
    assert "vol_target_momentum" in table and "donchian_breakout" in table
    out = run_cli("strategies", "show", "vol_target_momentum", check=True).stdout
    for text in ("Moskowitz", "target_vol", "0.15", "annualised volatility target", "warmup with the defaults: 252"):
        assert text in out


def test_show_json_has_bounds_and_search_flags(run_cli):
    info = json.loads(run_cli("strategies", "show", "bollinger_reversion", "--json", check=True).stdout)
    fields = {f["name"]: f for f in info["params"]}
    assert fields["window"]["low"] == 2 and fields["window"]["high"] == 500 and fields["window"]["searched"]
    assert info["warmup"] == 19 and info["fusable_kernel"] is True


def test_show_unknown_strategy_is_one_line_error(run_cli):
    proc = run_cli("strategies", "show", "sma_crosover")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown strategy 'sma_crosover'" in proc.stderr and "sma_crossover" in proc.stderr
    assert "Traceback" not in proc.stderr
