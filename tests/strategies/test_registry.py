from __future__ import annotations

import numpy as np
import pytest

import strategies
from strategies import ParamError, Params, param


class _Mine:
    name = "my_test_strategy"

    class Params(Params):
        k: int = param(3, low=1, high=10)

    @staticmethod
    def search_space():
        return _Mine.Params.search_space()

    @staticmethod
    def warmup(params):
        return params.k

    @staticmethod
    def target_weights(bars, params):
        return np.zeros(bars.shape)


def test_user_strategy_registers_and_is_listed():
    try:
        strategies.register(_Mine)
        assert strategies.get("my_test_strategy") is _Mine
        assert "my_test_strategy" in strategies.available()
        with pytest.raises(ParamError, match="already registered"):
            strategies.register(type("Other", (), dict(vars(_Mine))))
    finally:
        strategies.unregister("my_test_strategy")
    assert "my_test_strategy" not in strategies.available()


def test_registering_an_object_without_the_protocol_fails_clearly():
    with pytest.raises(ParamError, match="missing .*target_weights"):
        strategies.register(type("Half", (), {"name": "half", "Params": Params, "search_space": None,
                                              "warmup": None}))


def test_bad_names_and_unknown_strategies_are_rejected():
    with pytest.raises(ParamError, match="must match"):
        strategies.register(_Mine, name="../evil")
    with pytest.raises(ParamError, match="unknown strategy 'nope'"):
        strategies.get("nope")
