"""Strategy definitions: parameters, search spaces and signal kernels (see ``strategies._base``).

``import strategies`` is light: built-in strategies are imported on first ``get(name)``.
"""

from market_data._numba import ensure_cache_dir as _ensure_cache_dir

_ensure_cache_dir()

from strategies._base import Strategy  # noqa: E402
from strategies._registry import _builtin, available, get, register, unregister  # noqa: E402
from strategies.params import Config, Params, ParamError, param  # noqa: E402

# Built-in strategies, by registry name -> module (imported lazily).
# (each strategy module adds its line here)
_builtin("mlp", "strategies.ml.strategy")

__all__ = ["Strategy", "get", "available", "register", "unregister", "Params", "Config", "param", "ParamError"]
