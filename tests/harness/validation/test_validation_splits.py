"""Splitters: walk-forward windows, purging, embargo, CPCV coverage and backtest paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.validation import CombinatorialPurgedCV, PurgedKFold, WalkForward, parse_cv


def _label_overlap(train, test, h):
    """True when a training label window [i, i+h] overlaps a test label window."""
    test_lo = np.asarray(test)
    for i in train:
        if np.any((i <= test_lo + h) & (i + h >= test_lo)):
            return True
    return False


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 300), train=st.integers(1, 80), test=st.integers(1, 40),
       step=st.none() | st.integers(1, 40), anchored=st.booleans(), h=st.integers(0, 5))
def test_walk_forward_trains_strictly_before_test_and_purges_label_overlap(n, train, test, step, anchored, h):
    wf = WalkForward(train, test, step, anchored, label_horizon=h)
    for tr, te in wf.split(n):
        assert tr.size and te.size
        assert tr.max() + h < te.min()
        assert not _label_overlap(tr, te, h)
        assert te.max() < n
        assert tr.size <= (te.min() if anchored else train)
        if anchored:
            assert tr[0] == 0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(10, 400), train=st.integers(1, 100), test=st.integers(1, 50))
def test_walk_forward_with_default_step_tests_every_bar_after_first_window_once(n, train, test):
    tested = np.zeros(n, int)
    for _, te in WalkForward(train, test).split(n):
        tested[te] += 1
    assert (tested[:train] == 0).all()
    assert (tested[train:] == 1).all()


def test_walk_forward_resolves_durations_against_timestamps():
    import pandas as pd

    idx = pd.bdate_range("2010-01-01", "2015-12-31", tz="UTC")
    ts = idx.as_unit("ns").asi8
    folds = list(WalkForward("2y", "6m").split(ts))
    assert len(folds) == 8  # 2012-01 .. 2015-12 in half-years
    tr, te = folds[0]
    assert idx[tr[0]] == pd.Timestamp("2010-01-01", tz="UTC")
    assert idx[tr[-1]] < pd.Timestamp("2012-01-01", tz="UTC") <= idx[te[0]]
    assert idx[te[-1]] < pd.Timestamp("2012-07-01", tz="UTC") <= idx[folds[1][1][0]]
    assert folds[-1][1][-1] == len(ts) - 1


def test_walk_forward_duration_without_timestamps_is_refused():
    with pytest.raises(InputError, match="timestamps"):
        list(WalkForward("2y", "6m").split(1000))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(10, 400), k=st.integers(2, 8), h=st.integers(0, 6),
       emb=st.integers(0, 10) | st.floats(0.0, 0.2))
def test_purged_kfold_has_no_overlap_and_respects_embargo(n, k, h, emb):
    if n < k:
        return
    emb_rows = math.ceil(emb * n) if 0 < emb < 1 else int(emb)
    tested = np.zeros(n, int)
    for tr, te in PurgedKFold(k, emb, h).split(n):
        tested[te] += 1
        assert np.intersect1d(tr, te).size == 0
        assert not _label_overlap(tr, te, h)
        after = tr[tr > te.max()]
        if after.size:
            assert after.min() >= te.max() + 1 + h + emb_rows
        # nothing else was dropped
        kept = set(range(n)) - set(range(max(0, te.min() - h), min(n, te.max() + 1 + h + emb_rows)))
        assert set(tr.tolist()) == kept
    assert (tested == 1).all()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(30, 300), groups=st.integers(3, 8), k=st.integers(1, 4), h=st.integers(0, 4),
       emb=st.integers(0, 5))
def test_cpcv_tests_each_index_the_right_number_of_times_without_leakage(n, groups, k, h, emb):
    if k >= groups:
        return
    cv = CombinatorialPurgedCV(groups, k, emb, h)
    tested = np.zeros(n, int)
    splits = list(cv.split(n))
    assert len(splits) == math.comb(groups, k)
    for tr, te in splits:
        tested[te] += 1
        assert np.intersect1d(tr, te).size == 0
        assert not _label_overlap(tr, te, h)
        # embargo after each test block (block ends are where te jumps or ends)
        ends = np.append(te[np.flatnonzero(np.diff(te) > 1)], te[-1])
        for e in ends:
            assert not np.any((tr > e) & (tr <= e + h + emb))
    assert (tested == math.comb(groups - 1, k - 1)).all()


@pytest.mark.parametrize(("groups", "k"), [(6, 2), (5, 1), (7, 3)])
def test_cpcv_paths_use_every_split_group_once_and_cover_every_group(groups, k):
    cv = CombinatorialPurgedCV(groups, k)
    paths = cv.paths()
    assert paths.shape == (math.comb(groups - 1, k - 1), groups)
    combos = cv.combinations()
    used = {(int(s), g) for row in paths for g, s in enumerate(row)}
    assert used == {(s, g) for s, c in enumerate(combos) for g in c}
    for row in paths:
        for g, s in enumerate(row):
            assert g in combos[s]


def test_cpcv_assemble_paths_puts_each_split_value_at_its_row():
    n = 50
    cv = CombinatorialPurgedCV(5, 2)
    splits = list(cv.split(n))
    values = [te.astype(float) * 1000 + s for s, (_, te) in enumerate(splits)]
    out = cv.assemble_paths(n, values)
    assert out.shape == (cv.n_paths, n)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(np.floor(out / 1000), np.broadcast_to(np.arange(n), out.shape))
    paths = cv.paths()
    b = cv.group_bounds(n)
    for p in range(cv.n_paths):
        for g in range(5):
            assert (out[p, b[g]:b[g + 1]] % 1000 == paths[p, g]).all()


@pytest.mark.parametrize(("text", "expected"), [
    ("walk-forward:train=2y,test=6m", WalkForward("2y", "6m")),
    ("walk-forward:train=500,test=100,step=50,anchored=true", WalkForward(500, 100, 50, True)),
    ("purged-kfold:n_splits=4,embargo=0.01,label_horizon=2", PurgedKFold(4, 0.01, 2)),
    ("cpcv:n_groups=6,n_test_groups=2,embargo=5", CombinatorialPurgedCV(6, 2, 5)),
])
def test_parse_cv_round_trips_through_spec(text, expected):
    cv = parse_cv(text)
    assert cv == expected
    assert parse_cv(cv.spec()) == cv


@pytest.mark.parametrize(("text", "match"), [
    ("walk-forward:train=2x,test=6m", "train"),
    ("walk-forward:train=2y,test=100", "all bar counts or all durations"),
    ("walkies:train=2", "unknown cv scheme"),
    ("cpcv:n_groups=4,n_test_groups=4", "n_test_groups"),
    ("purged-kfold:n_split=4", "no option 'n_split'"),
    ("purged-kfold:embargo=1.5", "embargo"),
])
def test_parse_cv_names_the_bad_option(text, match):
    with pytest.raises(InputError, match=match):
        parse_cv(text)
