"""The frozen, keyword-only, validated Config/Params machinery."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.params import Config, ParamError, Params, param


class DemoParams(Params):
    fast: int = param(10, low=2, high=200, doc="fast window")
    slow: int = param(50, low=3, high=1000, doc="slow window")
    band: float = param(2.0, low=0.1, high=5.0, log=True)
    mode: str = param("long", choices=("long", "long_short"))
    short: bool = param(False)
    stop: float | None = param(None, low=0.0, high=1.0, search=False)

    def check(self) -> None:
        if self.fast >= self.slow:
            self.fail("fast", f"must be below slow ({self.slow}), got {self.fast}")


def test_params_are_frozen_and_keyword_only():
    p = DemoParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.fast = 3  # type: ignore[misc]
    with pytest.raises(ParamError, match="keyword arguments only"):
        DemoParams(5)  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fsat": 3}, "DemoParams has no field 'fsat'; did you mean 'fast'"),
    ({"fast": 1}, "DemoParams.fast must be >= 2, got 1"),
    ({"fast": 2.5}, "DemoParams.fast must be an integer, got 2.5"),
    ({"fast": True}, "DemoParams.fast must be an integer"),
    ({"band": float("nan")}, "DemoParams.band must be finite"),
    ({"mode": "both"}, "DemoParams.mode must be one of 'long', 'long_short'"),
    ({"short": 1}, "DemoParams.short must be true or false"),
    ({"fast": 60}, "DemoParams.fast must be below slow"),
])
def test_bad_values_raise_param_error_naming_the_field(kwargs, message):
    with pytest.raises(ParamError, match=message):
        DemoParams(**kwargs)


def test_param_error_is_a_value_error():
    assert issubclass(ParamError, ValueError)


def test_integral_floats_are_coerced_to_int():
    assert DemoParams(fast=5.0).fast == 5 and isinstance(DemoParams(fast=5.0).fast, int)


@given(fast=st.integers(2, 100), gap=st.integers(1, 100), band=st.floats(0.1, 5.0),
       mode=st.sampled_from(["long", "long_short"]), short=st.booleans(),
       stop=st.none() | st.floats(0.0, 1.0))
def test_toml_and_dict_round_trips_are_exact(fast, gap, band, mode, short, stop):
    p = DemoParams(fast=fast, slow=fast + gap, band=band, mode=mode, short=short, stop=stop)
    assert DemoParams.from_toml(p.to_toml()) == p
    assert DemoParams.from_dict(p.to_dict()) == p


def test_search_space_follows_bounds_and_skips_unsearchable_fields():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = DemoParams.search_space()
    assert space["fast"] == IntDistribution(2, 200)
    assert space["band"] == FloatDistribution(0.1, 5.0, log=True)
    assert isinstance(space["mode"], CategoricalDistribution) and isinstance(space["short"], CategoricalDistribution)
    assert "stop" not in space


def test_to_array_encodes_choices_by_index_and_none_as_nan():
    arr = DemoParams(mode="long_short").to_array()
    assert arr[:4].tolist() == [10.0, 50.0, 2.0, 1.0] and arr[4] == 0.0
    import math

    assert math.isnan(arr[5])


def test_config_subclasses_reject_invalid_toml():
    class C(Config):
        x: int = param(1, low=0)

    with pytest.raises(ParamError, match="invalid TOML"):
        C.from_toml("x = = 1")
    with pytest.raises(ParamError, match="C has no field 'y'"):
        C.from_toml("y = 2")
