"""The public API of the three packages, pinned: a change here is a deliberate API change."""

from __future__ import annotations

import harness
import market_data
import strategies

HARNESS = {"__version__", "errors", "config", "regime", "backtest", "BacktestConfig", "BacktestResult",
           "optimize", "OptimizationResult", "validation", "WalkForward", "sweep"}
MARKET_DATA = {"Bars", "FIELDS", "periods_per_year", "HarnessError", "InputError", "ValidationError",
               "StoreError", "ConflictError", "SnapshotNotFoundError", "BarStore"}
STRATEGIES = {"Strategy", "get", "available", "register", "unregister", "Params", "Config", "param",
              "ParamError", "run_kernel", "coerce_params"}


def test_public_names_are_pinned():
    assert set(harness.__all__) == HARNESS
    assert set(market_data.__all__) == MARKET_DATA
    assert set(strategies.__all__) == STRATEGIES


def test_every_public_name_resolves():
    for module in (harness, market_data, strategies):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_built_in_strategies_are_registered():
    assert {"sma_crossover", "bollinger_reversion", "donchian_breakout", "vol_target_momentum",
            "xs_momentum", "sma_reversal", "mlp"} <= set(strategies.available())


def test_errors_share_one_root():
    from harness.errors import ConfigError, HarnessError, InputError, ParamError

    for exc in (market_data.ValidationError, market_data.ConflictError, ParamError, ConfigError):
        assert issubclass(exc, HarnessError)
    assert issubclass(InputError, ValueError) and issubclass(ParamError, ValueError)
