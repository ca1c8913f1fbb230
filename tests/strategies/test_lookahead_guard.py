"""The look-ahead guard catches leaky strategies and names the first offending bar."""

from __future__ import annotations

import types

import numpy as np
import pytest

import strategies
from strategies import Params, param
from strategies import testing as st
from strategies.testing import LookAheadError, check_no_lookahead, make_bars


class _P(Params):
    window: int = param(5, low=1, high=50, doc="window")


def _strategy(name: str, weights_fn) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        name=name, Params=_P, search_space=_P.search_space, warmup=lambda p: p.window,
        target_weights=lambda bars, params=None: weights_fn(bars.close, (params or _P()).window),
    )


def _causal(close, w):
    out = np.zeros_like(close)
    for t in range(w, close.shape[0]):
        out[t] = np.sign(close[t] - close[t - w]) * 0.5
    return np.nan_to_num(out)


def _peeks_one_bar(close, w):
    out = _causal(close, w)
    out[w:-1] = np.sign(close[w + 1:] - close[w:-1]) * 0.5  # tomorrow's return: look-ahead
    return out


def _centered_mean(close, w):
    import pandas as pd

    m = pd.DataFrame(close).rolling(w, center=True).mean().to_numpy()  # the classic leak
    out = np.where(close > m, 0.5, 0.0)
    out[:w] = 0.0
    return out


def _normalised_by_full_max(close, w):
    out = close / np.nanmax(close, axis=0) * 0.5  # scaled by the whole history's maximum
    out[:w] = 0.0
    return np.nan_to_num(out)


@pytest.fixture
def bars():
    rng = np.random.default_rng(3)
    return make_bars(100 * np.exp(np.cumsum(rng.normal(0, 0.02, size=(120, 2)), axis=0)))


def test_causal_strategy_passes_and_reports_the_cuts(bars):
    report = check_no_lookahead(_strategy("causal", _causal), bars)
    assert report.n_bars == 120 and report.n_cuts >= 10 and 5 in report.cuts


def test_one_bar_peek_is_caught_at_the_last_bar_of_the_prefix(bars):
    with pytest.raises(LookAheadError) as info:
        check_no_lookahead(_strategy("peek", _peeks_one_bar), bars, cuts=[40, 80])
    err = info.value
    assert (err.cut, err.bar, err.kind) == (40, 39, "prefix")
    assert "bar 39" in str(err) and err.timestamp in str(err) and "'peek'" in str(err)


def test_centered_rolling_window_is_caught(bars):
    with pytest.raises(LookAheadError, match="look-ahead in strategy 'centered'") as info:
        check_no_lookahead(_strategy("centered", _centered_mean), bars)
    assert info.value.bar < info.value.cut


def test_full_sample_normalisation_is_caught_as_first_bar_after_warmup(bars):
    with pytest.raises(LookAheadError) as info:
        check_no_lookahead(_strategy("fullmax", _normalised_by_full_max), bars, cuts=[60])
    assert info.value.bar == 5  # first non-zero row


def test_leak_only_visible_by_perturbing_the_future_is_caught():
    rising = make_bars(np.linspace(100.0, 219.0, 120))  # every prefix ends higher than it starts

    def last_vs_first(close, w):  # reads the last bar it is given: invisible on rising prefixes
        out = np.where(close[-1] > close[0], 0.5, 0.0) * np.ones_like(close)
        out[:w] = 0.0
        return out

    leak = _strategy("last_vs_first", last_vs_first)
    check_no_lookahead(leak, rising, cuts=[30, 60, 90], perturb=False)  # the prefix test alone misses it
    with pytest.raises(LookAheadError) as info:
        check_no_lookahead(leak, rising, cuts=[60])
    assert info.value.kind == "perturbation" and info.value.bar == 5


def test_bad_cuts_are_refused(bars):
    from market_data.errors import InputError

    with pytest.raises(InputError, match="cuts must lie in 1..120"):
        check_no_lookahead("sma_crossover", bars, cuts=[0, 50])


def test_contract_rejects_weights_before_warmup_and_on_missing_bars():
    close = 100 + np.arange(60.0).reshape(30, 2)
    close[:10, 1] = np.nan
    bars = make_bars(close)

    early = _strategy("early", lambda c, w: np.full(c.shape, 0.25))
    with pytest.raises(st.ContractError, match="rows before warmup must be 0"):
        st.check_weights(early, bars)

    def on_missing(c, w):
        out = np.full(c.shape, 0.25)
        out[:w] = 0
        return out

    with pytest.raises(st.ContractError, match="missing bars must get weight 0"):
        st.check_weights(_strategy("missing", on_missing), bars)

    def levered(c, w):
        out = np.nan_to_num(np.where(np.isnan(c), 0.0, 0.75))
        out[:w] = 0
        return out

    with pytest.raises(st.ContractError, match="gross leverage"):
        st.check_weights(_strategy("levered", levered), bars)

    def nan_weights(c, w):
        out = np.where(np.isnan(c), 0.0, 0.1)
        out[:w] = 0
        out[20, 0] = np.nan
        return out

    with pytest.raises(st.ContractError, match="must be finite"):
        st.check_weights(_strategy("nan", nan_weights), bars)


def test_contract_rejects_kernel_that_relies_on_a_zeroed_output_buffer():
    from numba import njit

    import strategies.sma_crossover as sma

    @njit
    def lazy_kernel(o, h, lo, c, v, p, out):
        for t in range(int(p[1]) - 1, c.shape[0]):  # leaves warmup rows untouched
            for j in range(c.shape[1]):
                out[t, j] = 0.0

    lazy = types.SimpleNamespace(name="lazy", Params=sma.Params, search_space=sma.search_space,
                                 warmup=sma.warmup, kernel=lazy_kernel,
                                 target_weights=lambda b, p=None: np.zeros(b.shape))
    with pytest.raises(st.ContractError, match="must write every cell"):
        st.check_kernel(lazy, make_bars(np.arange(1.0, 80.0)))


def test_contract_rejects_param_errors_that_do_not_name_the_field():
    class Loose(Params):
        window: int = param(5, doc="no bounds")

        def check(self) -> None:
            if self.window < 1:
                raise strategies.ParamError("bad value")

    s = types.SimpleNamespace(name="loose", Params=Loose, search_space=Loose.search_space,
                              warmup=lambda p: 0, target_weights=lambda b, p=None: np.zeros(b.shape))
    st.check_param_validation(s)  # no bounds declared: nothing to violate
    assert st.max_leverage(s) == 1.0
