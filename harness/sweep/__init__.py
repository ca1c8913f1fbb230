"""Parameter sweeps: a grid of strategy parameters through one fused, parallel Numba kernel.

Public: :func:`sweep`, :data:`METRICS`, :class:`SweepInterrupted`, and the grid helpers
:func:`expand_grid`, :func:`parse_grid`, :func:`parse_grid_item`, :class:`GridError`.
Kernels in :mod:`harness.sweep.nb`.
"""

from harness._callable import make_module_callable as _make_callable
from harness.sweep._grid import GridError, expand_grid, parse_grid, parse_grid_item
from harness.sweep._sweep import METRICS, SweepInterrupted, sweep

__all__ = ["sweep", "METRICS", "SweepInterrupted", "expand_grid", "parse_grid", "parse_grid_item", "GridError"]


_make_callable(__name__, sweep)
