"""Feature definitions: the strategies' inputs as definitions (bit for bit), prefix test, lookback, identity."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies.features as F
from market_data import Bars
from market_data.errors import FeatureDefinitionChangedError, InputError
from strategies.inputs import compute_inputs
from strategies.testing import LookAheadError, contract_bars

SMALL = {"sma_crossover": {"fast": 5, "slow": 20, "long_short": True}, "sma_reversal": {"fast": 5, "slow": 20},
         "bollinger_reversion": {"window": 15, "n_std": 1.0}, "donchian_breakout": {"entry": 15, "exit": 7},
         "vol_target_momentum": {"lookback": 30, "vol_window": 20}, "xs_momentum": {"lookback": 40, "skip": 5,
                                                                                    "top_k": 1}}


@pytest.fixture(scope="module")
def bars():
    return contract_bars(300, 3, seed=5)


def _all_sets():
    sets = [F.feature_set(n) for n in F.feature_sets()]
    sets += [F.strategy_set(s, p, name=f"{s}_small") for s, p in SMALL.items()]
    return sets


@pytest.mark.parametrize("fs", _all_sets(), ids=lambda fs: fs.name)
def test_feature_sets_are_the_strategies_inputs_bit_for_bit(fs, bars):
    if fs.name == "base":
        from strategies.inputs import base_inputs

        want = base_inputs(bars)
    elif fs.name == "mlp":
        want = compute_inputs("mlp", bars)
    else:
        strategy = fs.definitions[0].params["strategy"]
        params = {k: v for k, v in fs.definitions[0].params.items() if k != "strategy"}
        want = compute_inputs(strategy, bars, params)
    assert fs.names == want.names
    got = np.stack(F.compute(fs.definitions, bars), axis=2)
    np.testing.assert_array_equal(got, want.values)


def test_mlp_set_is_compute_features(bars):
    from strategies.ml import compute_features

    np.testing.assert_array_equal(np.stack(F.compute(F.feature_set("mlp").definitions, bars), 2),
                                  compute_features(bars))


@pytest.mark.parametrize("fs", _all_sets(), ids=lambda fs: fs.name)
def test_every_definition_passes_the_prefix_test(fs, bars):
    for d in fs.definitions:
        report = F.check_definition_no_lookahead(d, bars, cuts=[1, 30, 61, 62, 150, 299])
        assert report.n_cuts == 6


def test_the_prefix_test_catches_a_feature_that_looks_ahead(bars):
    d = F.Definition("peek", _peek, lookback=2)
    with pytest.raises(LookAheadError, match="look-ahead in feature 'peek': value at bar"):
        F.check_definition_no_lookahead(d, bars, cuts=[100])


def _peek(bars):
    out = np.full(bars.shape, np.nan)
    out[:-1] = bars.close[1:]
    return out


@pytest.mark.parametrize("fs", _all_sets(), ids=lambda fs: fs.name)
def test_declared_lookback_reproduces_the_full_computation(fs, bars):
    for d in fs.definitions:
        assert d.lookback is not None
        F.check_lookback(d, bars, [61, 62, 100, 137, 200, 299])


@pytest.mark.parametrize("fs", _all_sets(), ids=lambda fs: fs.name)
def test_the_built_in_sets_are_per_symbol_as_declared(fs):
    """Every built-in definition is declared per-symbol, and is: its values on any subset of the
    symbols (any order) are those columns of its values on all of them."""
    wide = contract_bars(160, 7, seed=9)
    rng = np.random.default_rng(3)
    subsets = [[3], [6, 0], list(rng.permutation(7)[:4]), list(range(7))[::-1]]
    for d in fs.definitions:
        assert d.per_symbol, f"{fs.name}.{d.name} is not declared per-symbol"
        F.check_per_symbol(d, wide, subsets)


def _demeaned(bars):
    c = np.log(bars.close)
    return c - np.nanmean(c, axis=1, keepdims=True)


def test_a_cross_sectional_feature_fails_the_per_symbol_check(bars):
    d = F.Definition("demeaned", _demeaned, lookback=1, per_symbol=True)
    with pytest.raises(AssertionError, match="'demeaned'.*not per-symbol"):
        F.check_per_symbol(d, bars, [[0, 1]])
    with pytest.raises(InputError, match="per_symbol must be True or False"):
        F.Definition("demeaned", _demeaned, per_symbol=1)
    assert not F.Definition("demeaned", _demeaned).per_symbol, "a kernel of a user's is not assumed per-symbol"


def test_releasing_the_gil_keeps_the_identity_value_flags_do_not(tmp_path):
    body = "from numba import njit\n\n\n@njit({flags})\ndef kern_nb(x):\n    return x * 2.0\n\n\n" \
           "def kern(bars):\n    return kern_nb(bars.close)\n"
    flags = ["cache=True", "cache=True, nogil=True", "nogil=True, cache=True", "cache=True, fastmath=True"]
    h = [F.Definition("f", _module(tmp_path, f"m{i}", body.format(flags=f)).kern, lookback=1).hash
         for i, f in enumerate(flags)]
    bare = [F.Definition("f", _module(tmp_path, f"b{i}", body.replace("@njit({flags})", d)).kern,
                         lookback=1).hash for i, d in enumerate(["@njit", "@njit(nogil=True)"])]
    sys.modules.pop("strategies._probe", None)
    assert h[0] == h[1] == h[2], "nogil changes how a kernel runs, not what it returns"
    assert h[3] != h[0], "fastmath can change values: it is part of the identity"
    assert bare[0] == bare[1]


def test_an_understated_lookback_is_caught(bars):
    base = F.strategy_set("sma_crossover", SMALL["sma_crossover"])["sma_slow_gap"]
    short = F.Definition("sma_slow_gap", base.kernel, params=base.params, output=base.output, lookback=5)
    with pytest.raises(AssertionError, match="lookback 5"):
        F.check_lookback(short, bars, [150])


def test_identity_is_name_params_and_kernel_source(bars):
    a = F.strategy_set("sma_crossover", {"fast": 5, "slow": 20})
    b = F.strategy_set("sma_crossover", {"fast": 5, "slow": 20})
    c = F.strategy_set("sma_crossover", {"fast": 6, "slow": 20})
    assert a.hashes == b.hashes
    assert a["sma_spread"].hash != c["sma_spread"].hash
    assert a["sma_spread"].hash != a["sma_fast_gap"].hash
    src = F.feature_set("mlp")["ret_1"].sources
    assert "strategies.ml.nb.features_nb" in src and "strategies.ml.nb._std_1d_nb" in src
    sma = a["sma_spread"].sources
    assert "strategies.sma_crossover.inputs" in sma and "strategies.indicators.nb.rolling_mean_nb" in sma
    assert "strategies.bollinger.inputs" not in sma, "an unrelated strategy is not part of the identity"


def _module(tmp_path, name, body):
    """``body`` as module ``strategies._probe`` (each version from its own file, one module name)."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    spec = importlib.util.spec_from_file_location("strategies._probe", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_a_kernel_edit_changes_the_hash_an_unrelated_function_does_not(tmp_path, bars):
    helper = "def helper(x):\n    return x * 2.0\n"
    one = _module(tmp_path, "one", helper + "def kern(bars):\n    return helper(bars.close)\n"
                  "def unrelated():\n    return 1\n")
    two = _module(tmp_path, "two", helper + "def kern(bars):\n    return helper(bars.close)\n"
                  "def unrelated():\n    return 2\n")
    three = _module(tmp_path, "three", "def helper(x):\n    return x * 3.0\n"
                    "def kern(bars):\n    return helper(bars.close)\n")
    h = [F.Definition("f", m.kern, lookback=1).hash for m in (one, two, three)]
    sys.modules.pop("strategies._probe", None)
    assert h[0] == h[1], "a function the kernel never calls is not part of its identity"
    assert h[0] != h[2], "an edit of a function the kernel calls changes the identity"


def test_bad_definitions_are_rejected():
    with pytest.raises(InputError, match="feature name"):
        F.Definition("1bad", _peek)
    with pytest.raises(InputError, match="lookback"):
        F.Definition("ok", _peek, lookback=0)
    with pytest.raises(InputError, match="parameter 'w'"):
        F.Definition("ok", _peek, params={"w": [1, 2]})
    with pytest.raises(InputError, match="unknown feature set 'mpl'.*'mlp'"):
        F.feature_set("mpl")
    with pytest.raises(InputError, match="duplicate"):
        F.FeatureSet("x", (F.Definition("a", _peek), F.Definition("a", _peek)))


def test_materialised_features_read_back_and_refuse_a_changed_definition(tmp_path, bars):
    from market_data.store import BarStore

    store = BarStore.open(tmp_path / "s", create=True)
    s1 = store.write(bars[:200], message="a")
    F.materialise(store, "sma_crossover", snapshot=s1)
    got = F.read(store, "sma_crossover", as_of=s1)
    np.testing.assert_array_equal(got.values, compute_inputs("sma_crossover", store.read(snapshot=s1)).values)
    s2 = store.write(bars[200:], message="b")
    F.materialise(store, "sma_crossover", snapshot=s2)
    assert store.history()[0].metadata["incremental"] is True
    full = store.read(snapshot=s2)
    np.testing.assert_array_equal(F.read(store, "sma_crossover").values, compute_inputs("sma_crossover", full).values)
    inp = F.inputs_from_store(store, "sma_crossover", full)
    np.testing.assert_array_equal(inp.values, compute_inputs("sma_crossover", full).values)
    assert F.inputs_from_store(store, "mlp", full) is None, "not materialised: compute instead"
    changed = F.strategy_set("sma_crossover", {"fast": 11}, name="sma_crossover")
    with pytest.raises(FeatureDefinitionChangedError, match="changed since it was materialised"):
        F.read(store, changed)


@pytest.mark.parametrize("strategy", ["mlp", "sma_crossover"])
def test_compute_inputs_reads_materialised_features_with_identical_values(strategy, tmp_path, bars, monkeypatch):
    from market_data.features import FeatureStore
    from market_data.store import BarStore

    store = BarStore.open(tmp_path / "s", create=True)
    s1 = store.write(bars, message="a")
    reads = []
    real = FeatureStore.read

    def spy(self, *a, **k):
        out = real(self, *a, **k)
        reads.append(out.snapshot_id)
        return out

    monkeypatch.setattr(FeatureStore, "read", spy)
    loaded = store.read(snapshot=s1)
    on_the_fly = compute_inputs(strategy, loaded)
    assert compute_inputs(strategy, loaded, store=store).names == on_the_fly.names and not reads, \
        "nothing materialised: computed"
    F.materialise(store, F.strategy_set(strategy), snapshot=s1)
    latest = store.read()  # the tip is the feature commit: same bars
    got = compute_inputs(strategy, latest, store=store)
    assert len(reads) == 1, "read from the feature store"
    np.testing.assert_array_equal(got.values, on_the_fly.values)
    assert got.names == on_the_fly.names and got.symbols == on_the_fly.symbols
    window = store.read(start=int(bars.timestamps[100]))  # starts later: its warm-up differs, so computed
    np.testing.assert_array_equal(compute_inputs(strategy, window, store=store).values,
                                  compute_inputs(strategy, window).values)
    other = compute_inputs(strategy, latest, {"fast": 3, "slow": 9} if strategy != "mlp" else None, store=store)
    if strategy != "mlp":  # other params: other definitions, so computed on the fly
        np.testing.assert_array_equal(other.values, compute_inputs(strategy, latest, {"fast": 3, "slow": 9}).values)


def test_a_version_trained_on_other_feature_definitions_is_refused():
    rec = F.feature_lineage("mlp")
    assert rec["feature_set"] == "mlp" and set(rec["definitions"]) == set(F.feature_set("mlp").names)
    F.check_feature_lineage(rec, "mlp")
    F.check_feature_lineage(F.feature_lineage("sma_crossover", {"fast": 5, "slow": 20}), "sma_crossover",
                            {"fast": 5, "slow": 20})
    stale = {"feature_set": "mlp", "definitions": {**rec["definitions"], "vol_20": "0" * 32}}
    with pytest.raises(FeatureDefinitionChangedError, match="vol_20 changed since this version was trained"):
        F.check_feature_lineage(stale, "mlp")
    with pytest.raises(FeatureDefinitionChangedError, match="sma_"):
        F.check_feature_lineage(F.feature_lineage("sma_crossover", {"fast": 5, "slow": 20}), "sma_crossover",
                                {"fast": 6, "slow": 20})


def test_the_mlp_trains_and_decides_from_materialised_features_with_identical_results(tmp_path, monkeypatch):
    from market_data.features import FeatureStore
    from market_data.store import BarStore
    from strategies.ml import MLPParams, compute_features
    from strategies.ml.train import fit

    bars = contract_bars(420, 2, seed=3)
    store = BarStore.open(tmp_path / "s", create=True)
    snap = store.write(bars, message="a")
    F.materialise(store, "mlp", snapshot=snap)
    loaded = store.read()
    reads = []
    real = FeatureStore.read
    monkeypatch.setattr(FeatureStore, "read", lambda self, *a, **k: reads.append(1) or real(self, *a, **k))
    p = MLPParams(hidden=8, epochs=3, lookback=4, train_bars=250)
    plain = fit(loaded, p, seed=0)
    assert not reads
    with F.use_store(store):
        np.testing.assert_array_equal(compute_features(loaded), compute_features(bars))
        assert reads, "read from the feature store"
        stored = fit(loaded, p, seed=0)
        w = stored.target_weights(loaded)
    np.testing.assert_array_equal(w, plain.target_weights(loaded))
    np.testing.assert_array_equal(stored.x_mean, plain.x_mean)
    assert compute_features(loaded).flags.writeable


@pytest.fixture(scope="module")
def stored_windows(tmp_path_factory):
    """A store with the mlp and sma_crossover sets materialised, its bars, and windows of them."""
    from market_data.store import BarStore

    bars = contract_bars(400, 3, seed=11)
    store = BarStore.open(tmp_path_factory.mktemp("fw") / "s", create=True)
    snap = store.write(bars, message="a")
    F.materialise(store, "mlp", snapshot=snap)
    F.materialise(store, "sma_crossover", snapshot=snap)
    return store, store.read()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=st.integers(0, 399), length=st.integers(1, 400), strategy=st.sampled_from(["mlp", "sma_crossover"]),
       one=st.booleans())
def test_any_window_of_stored_rows_reads_the_store_with_the_on_the_fly_values(stored_windows, s, length, strategy,
                                                                                one):
    """Property: a run of stored rows starting anywhere gets exactly the on-the-fly values; it is served by
    the store whenever the start is a multiple of every definition's alignment (mlp: 1; sma_crossover
    10/50: 50), its warm-up rows computed on the fly."""
    store, full = stored_windows
    window = full[s:s + length]
    if one:
        window = window.select(full.symbols[1])
    with F.use_store(store) as usage:
        got = compute_inputs(strategy, window, store=store)
    want = compute_inputs(strategy, window)
    np.testing.assert_array_equal(got.values, want.values)
    assert got.names == want.names and got.symbols == want.symbols
    align = 1 if strategy == "mlp" else 50
    if s % align == 0:
        assert (usage.stored, usage.computed) == (1, 0), usage.to_dict()
        assert list(usage.definitions) == [strategy] and len(usage.feature_snapshots) == 1
        # both sets declare a lookback of 61 rows: a later start recomputes its first 60 rows
        assert usage.head_rows == (0 if s == 0 else min(window.n_bars, 60))
    else:  # the strategy's set is computed; its common inputs still come from the stored mlp set
        assert usage.computed == 1 and "sma_crossover" not in usage.definitions, usage.to_dict()
        assert usage.reasons == {"a window start the definitions' lookback or alignment does not cover": 1}
        assert list(usage.definitions) == ["mlp"] and usage.stored == 1


def test_windows_that_are_not_stored_rows_are_computed_and_say_why(stored_windows, tmp_path):
    from market_data.store import BarStore

    store, full = stored_windows
    other = BarStore.open(tmp_path / "o", create=True)
    other_snap = other.write(contract_bars(50, 1, seed=2), message="x")
    with F.use_store(store) as usage:
        idx = [0, 1, 2, 5, 6]
        gapped = Bars(timestamps=full.timestamps[idx], symbols=full.symbols, frequency=full.frequency,
                      snapshot_id=full.snapshot_id, **{k: getattr(full, k)[idx] for k in
                                                       ("open", "high", "low", "close", "volume")})
        assert F.inputs_from_store(store, "mlp", gapped) is None
        assert F.inputs_from_store(store, "mlp", other.read(snapshot=other_snap)) is None
        assert F.inputs_from_store(store, "base", full) is None  # never materialised
        assert F.inputs_from_store(store, "base", full) is None  # remembered within the block
    assert usage.stored == 0 and usage.computed == 4
    assert usage.reasons == {"the bars are not consecutive stored rows": 1,
                             "not materialised from the snapshot": 3}, usage.reasons
