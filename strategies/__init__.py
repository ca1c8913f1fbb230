"""Strategy definitions: parameters, search spaces and signal kernels (see ``strategies._base``).

``import strategies`` is light: built-in strategies are imported on first ``get(name)``.
"""

from market_data._numba import ensure_cache_dir as _ensure_cache_dir

_ensure_cache_dir()

from strategies._base import Strategy, coerce_params, run_kernel  # noqa: E402
from strategies._registry import _builtin, available, get, register, unregister  # noqa: E402
from strategies.params import Config, ParamError, Params, param  # noqa: E402

# Built-in strategies, by registry name -> module (imported lazily).
# (each strategy module adds its line here)
_builtin("sma_crossover", "strategies.sma_crossover")
_builtin("bollinger_reversion", "strategies.bollinger")
_builtin("donchian_breakout", "strategies.donchian")
_builtin("vol_target_momentum", "strategies.vol_target")
_builtin("xs_momentum", "strategies.xs_momentum")
_builtin("sma_reversal", "strategies.sma_reversal")
_builtin("mlp", "strategies.ml.strategy")

__all__ = ["Strategy", "get", "available", "register", "unregister", "Params", "Config", "param", "ParamError",
           "run_kernel", "coerce_params"]
