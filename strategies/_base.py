"""The strategy protocol: what every strategy module (or object) provides.

A strategy is a module in ``strategies/`` (or any object a user registers) with:

``name``
    Registry name, lower-case letters, digits and underscores.
``Params``
    A :class:`strategies.params.Params` subclass: frozen, defaults, documented bounds.
``search_space()``
    Optuna distributions for the params (usually ``Params.search_space()``).
``warmup(params) -> int``
    Bars needed before the first valid weight; rows ``< warmup`` are 0.
``kernel``
    A Numba function ``kernel(open, high, low, close, volume, p, out) -> None`` over
    ``(T, N)`` float64 arrays, ``p`` = ``params.to_array()``, writing target weights into
    ``out`` (``(T, N)``). Sweeps call it inside fused ``prange`` loops. ``None`` for
    strategies that cannot be expressed as one kernel (trainable ones).
``target_weights(bars, params) -> np.ndarray``
    The thin wrapper: validates, calls the kernel, returns ``(T, N)`` float64 weights,
    where row ``t`` uses bars up to and including ``t`` only (the engine fills it at the
    open of ``t+1``).

Optional: ``max_leverage(params) -> float``, the bound on the gross leverage
``sum |w[t]|`` (1 when absent; the contract suite checks it).

Trainable strategies add ``trainable = True`` and ``fit(bars, params, seed)``.

The kernel contract in full: write *every* cell of ``out`` (sweeps reuse the buffer),
allocate only per-column 1-D scratch, rows ``< warmup`` and cells whose close is NaN
(no bar) get 0, all weights finite. :func:`run_kernel` and :func:`coerce_params` are
the usual body of ``target_weights``; :mod:`strategies.testing` checks all of this.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from market_data import Bars
from strategies.params import Params

__all__ = ["Strategy", "REQUIRED_ATTRIBUTES", "coerce_params", "run_kernel"]

REQUIRED_ATTRIBUTES = ("name", "Params", "search_space", "warmup", "target_weights")


@runtime_checkable
class Strategy(Protocol):
    name: str
    Params: type[Params]

    def search_space(self) -> dict[str, Any]: ...

    def warmup(self, params: Params) -> int: ...

    def target_weights(self, bars: Bars, params: Params) -> np.ndarray: ...


def coerce_params(params_cls: type[Params], params: Any) -> Params:
    """``params`` as an instance of ``params_cls``: ``None`` gives the defaults, a mapping
    is validated through ``from_dict``; anything else is a :class:`ParamError`."""
    if isinstance(params, params_cls):  # the common case first: no imports on the hot path
        return params
    from collections.abc import Mapping

    from strategies.params import ParamError

    if params is None:
        return params_cls()
    if isinstance(params, Mapping):
        return params_cls.from_dict(params)
    raise ParamError(f"expected {params_cls.__qualname__} (or a dict of its fields), got {type(params).__name__}")


def run_kernel(kernel: Any, bars: Bars, params: Params) -> np.ndarray:
    """Call a strategy kernel on ``bars``: the standard body of ``target_weights``.

    Allocates the ``(T, N)`` float64 output (zeros), calls
    ``kernel(open, high, low, close, volume, params.to_array(), out)`` and returns it.
    """
    if not isinstance(bars, Bars):
        from market_data.errors import InputError

        raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
    out = np.zeros(bars.shape, dtype=np.float64)
    kernel(bars.open, bars.high, bars.low, bars.close, bars.volume, params.to_array(), out)
    return out
