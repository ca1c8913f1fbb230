"""Parameter sweeps: a grid of strategy parameters through one fused, parallel Numba kernel.

Public: :func:`sweep`, :data:`METRICS`, :class:`SweepInterrupted`, and the grid helpers
:func:`expand_grid`, :func:`parse_grid`, :func:`parse_grid_item`, :class:`GridError`.
Kernels in :mod:`harness.sweep.nb`.
"""

import sys as _sys
import types as _types

from harness.sweep._grid import GridError, expand_grid, parse_grid, parse_grid_item
from harness.sweep._sweep import METRICS, SweepInterrupted, sweep

__all__ = ["sweep", "METRICS", "SweepInterrupted", "expand_grid", "parse_grid", "parse_grid_item", "GridError"]


class _CallableModule(_types.ModuleType):
    """``harness.sweep`` is both this package and (``harness._LAZY``) the function: importing
    the package rebinds the attribute ``harness.sweep`` to the module, so the module itself
    forwards calls to :func:`sweep` and ``harness.sweep(bars, ...)`` works either way."""

    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
