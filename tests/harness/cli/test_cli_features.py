"""``harness features ls / materialise / show`` against the test's home store."""

from __future__ import annotations

import json

import numpy as np


def test_features_ls_materialise_show_round_trip(run_cli, stored_bars):
    ls = run_cli("features", "ls", "--json", check=True)
    rows = {r["set"]: r for r in json.loads(ls.stdout)}
    assert {"mlp", "base", "sma_crossover"} <= set(rows) and rows["mlp"]["materialised_from"] is None
    out = run_cli("features", "materialise", "--set", "mlp", "--json", check=True)
    m = json.loads(out.stdout)
    assert m["rows"] == 400 and m["symbols"] == 2 and m["computed_rows"] == 400 and not m["incremental"]
    from harness._bars import home_store
    from strategies.ml import FEATURE_NAMES, compute_features

    store = home_store()
    assert store.history()[0].id == m["snapshot_id"] and m["source_snapshot"] == store.history()[1].id
    again = json.loads(run_cli("features", "materialise", "--set", "mlp", "--json", check=True).stdout)
    assert again["snapshot_id"] == m["snapshot_id"], "nothing new to materialise: no new commit"
    rows = {r["set"]: r for r in json.loads(run_cli("features", "ls", "--json", check=True).stdout)}
    assert rows["mlp"]["materialised_from"] == m["source_snapshot"] and rows["mlp"]["definitions_current"] is True
    show = json.loads(run_cli("features", "show", "mlp", "--symbol", "BBB", "--last", "3", "--json",
                              check=True).stdout)
    assert [d["name"] for d in show["definitions"]] == list(FEATURE_NAMES)
    assert all(d["stored_hash"] == d["hash"] for d in show["definitions"])
    want = compute_features(stored_bars.select("BBB"))[-3:, 0, :]
    np.testing.assert_array_equal(np.array(show["values"]["rows"]), want)
    text = run_cli("features", "show", "mlp", check=True).stdout
    assert "vol_ratio" in text and "same" in text


def test_features_cli_errors_are_one_line(run_cli, stored_bars):
    bad = run_cli("features", "materialise", "--set", "mpl")
    assert bad.returncode != 0 and "unknown feature set 'mpl'" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_cli("features", "show", "base", "--as-of", "nosuchsnap")
    assert missing.returncode != 0 and "nosuchsnap" in missing.stderr and "Traceback" not in missing.stderr
    not_yet = run_cli("features", "show", "base", check=True)
    assert "not materialised" in not_yet.stdout
