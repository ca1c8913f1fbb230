"""Deterministic training: bit-identical refits, restored torch state, split and embargo, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strategies.ml import MLPParams, NotEnoughDataError, fit
from strategies.ml._nets import build_network
from strategies.ml.fitted import expected_shapes
from strategies.ml.params import min_fit_bars
from strategies.ml.train import build_dataset


@pytest.mark.parametrize(("kind", "threads"), [("mlp", 1), ("conv", 1), ("conv", 2)])
def test_two_fits_with_the_same_seed_give_bit_identical_weights(walk_bars, tiny_params, kind, threads):
    p = tiny_params.replace(model_kind=kind, layers=2, dropout=0.2, threads=threads)
    a = fit(walk_bars, p, seed=5)
    b = fit(walk_bars, p, seed=5)
    assert a.same_weights(b)
    for k in a.state:
        assert a.state[k].tobytes() == b.state[k].tobytes()
    assert np.array_equal(a.target_weights(walk_bars), b.target_weights(walk_bars))
    c = fit(walk_bars, p, seed=6)
    assert not a.same_weights(c)


def test_fit_leaves_torch_global_state_as_it_found_it(walk_bars, tiny_params):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    fit(walk_bars, tiny_params.replace(threads=2), seed=1)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's RNG stream is untouched
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


def test_training_and_validation_sets_are_chronological_with_an_embargo_gap(walk_bars, tiny_params):
    p = tiny_params.replace(embargo=7, train_fraction=0.7)
    ds = build_dataset(walk_bars, p)
    (tr0, tr1), (va0, va1) = ds.train_rows, ds.val_rows
    assert tr0 == 60 + p.lookback - 1  # first bar with a full feature window
    assert va0 - tr1 - 1 == 7
    assert va1 == walk_bars.n_bars - 2  # the last bar with a next-bar label
    assert ds.x_train.shape == ((tr1 - tr0 + 1) * 2, p.lookback, 9)
    # labels are the next close-to-close log return of each sample
    close = walk_bars.close
    r_next = np.log(close[tr0 + 1] / close[tr0])
    assert np.allclose(ds.r_train[:2], r_next)
    # standardisation uses training statistics only
    assert np.allclose(ds.x_train[:, -1, :].mean(axis=0), 0.0, atol=1e-9)


def test_early_stopping_keeps_the_best_validation_epoch(walk_bars, tiny_params):
    m = fit(walk_bars, tiny_params.replace(epochs=40, patience=2, learning_rate=0.03), seed=0)
    assert 1 <= m.metrics["best_epoch"] <= m.metrics["epochs_run"] <= 40
    assert m.metrics["epochs_run"] - m.metrics["best_epoch"] <= 2
    assert m.metrics["n_train"] > 0 and m.metrics["n_val"] > 0


def test_fit_on_too_few_bars_names_how_many_it_needs(walk_bars, tiny_params):
    need = min_fit_bars(tiny_params)
    with pytest.raises(NotEnoughDataError, match=f"at least {need} bars"):
        fit(walk_bars[: need - 1], tiny_params, seed=0)


def test_params_reject_a_fit_window_too_short_for_the_lookback_and_embargo():
    with pytest.raises(Exception, match="train_bars"):
        MLPParams(lookback=20, embargo=20, train_bars=199)


@pytest.mark.parametrize(("kind", "objective", "lookback", "layers"),
                         [("mlp", "sign", 4, 2), ("conv", "sign", 4, 2), ("mlp", "size", 1, 3),
                          ("conv", "size", 1, 1), ("conv", "sign", 12, 3)])
def test_numba_inference_matches_the_torch_network_it_was_trained_as(walk_bars, tiny_params, kind, objective,
                                                                      lookback, layers):
    p = tiny_params.replace(model_kind=kind, objective=objective, lookback=lookback, layers=layers)
    m = fit(walk_bars, p, seed=2)
    net = build_network(kind, n_features=9, lookback=p.lookback, hidden=p.hidden, layers=p.layers,
                        dropout=0.0).double()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected_shapes(p)
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in m.state.items()})
    net.eval()
    ds = build_dataset(walk_bars, p)
    with torch.no_grad():
        ref = net(torch.from_numpy(ds.x_val)).numpy()
    raw = m.raw_outputs(walk_bars)
    va0, va1 = ds.val_rows
    got = raw[va0:va1 + 1].reshape(-1)  # time-major, like the dataset
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("layers", "field"), [(1, 3), (2, 7), (3, 15)])
def test_dilated_conv_sees_exactly_its_receptive_field_of_the_window(layers, field):
    torch.manual_seed(0)
    net = build_network("conv", n_features=9, lookback=20, hidden=8, layers=layers, dropout=0.0).double().eval()
    x = torch.randn(1, 20, 9, dtype=torch.float64)
    with torch.no_grad():
        base = net(x)
        inside, outside = x.clone(), x.clone()
        inside[0, 20 - field] += 5.0
        outside[0, 20 - field - 1] += 5.0
        assert not torch.equal(net(inside), base)
        assert torch.equal(net(outside), base)
