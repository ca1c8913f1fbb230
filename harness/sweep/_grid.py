"""Parameter grids: a dict of value lists (cartesian product) or a list of param dicts.

The command line writes one axis per ``--grid`` option::

    fast=5:50:5         inclusive range 5, 10, ..., 50 (ints when start/stop/step are ints)
    n_std=1.5:3:0.5     1.5, 2.0, 2.5, 3.0
    slow=60:240         step 1
    long_short=true,false   a list of values (ints, floats, true/false, none or text)
    window=20           one value
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from market_data.config import parse_value
from strategies.params import ParamError

__all__ = ["GridError", "parse_grid_item", "parse_grid", "expand_grid", "MAX_COMBINATIONS"]

#: Refuse grids larger than this (the parameter matrix alone would be hundreds of MB).
MAX_COMBINATIONS = 10_000_000

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class GridError(ParamError):
    """A parameter grid is malformed: a bad axis, range or value, or an unknown parameter."""


def _scalar(text: str) -> Any:
    v = parse_value(text)
    if isinstance(v, float) and not math.isfinite(v):
        raise GridError(f"grid value {text.strip()!r} must be finite")
    return v


def _range(name: str, spec: str) -> list[Any]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise GridError(f"--grid {name}={spec}: a range is START:STOP or START:STOP:STEP, e.g. {name}=5:50:5")
    vals = [_scalar(p) for p in parts]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        raise GridError(f"--grid {name}={spec}: range bounds and step must be numbers")
    start, stop = vals[0], vals[1]
    step = vals[2] if len(vals) == 3 else 1
    if not step > 0:
        raise GridError(f"--grid {name}={spec}: step must be > 0, got {step}")
    if stop < start:
        raise GridError(f"--grid {name}={spec}: stop ({stop}) is below start ({start})")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    if n > MAX_COMBINATIONS:
        raise GridError(f"--grid {name}={spec}: {n:,} values, more than the limit of {MAX_COMBINATIONS:,}")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return list(range(start, start + n * step, step))
    return [round(start + i * step, 12) for i in range(n)]


def parse_grid_item(text: str) -> tuple[str, list[Any]]:
    """``"fast=5:50:5"`` -> ``("fast", [5, 10, ..., 50])`` (see the module docstring)."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not spec or not _NAME.match(name):
        raise GridError(f"--grid {text!r} must be NAME=VALUES, e.g. fast=5:50:5, long_short=true,false or slow=60")
    if ":" in spec:
        return name, _range(name, spec)
    values = [_scalar(v) for v in spec.split(",")]
    if any(v == "" for v in values):
        raise GridError(f"--grid {text!r}: empty value in the list")
    return name, values


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """Several ``NAME=VALUES`` items into a grid dict; a name given twice is an error."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, values = parse_grid_item(item)
        if name in grid:
            raise GridError(f"--grid {name} is given twice")
        grid[name] = values
    return grid


def expand_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
                fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The parameter combinations of ``grid``, in order (the last key varies fastest).

    ``grid`` is a dict ``{name: [values...]}`` (a scalar counts as one value) or a list
    of param dicts, returned as is. With ``fields``, an unknown name raises
    :class:`GridError` with a "did you mean" hint.
    """
    if isinstance(grid, Mapping):
        names = list(grid)
        axes = []
        for k in names:
            v = grid[k]
            vals = list(v) if isinstance(v, (list, tuple, range)) or (hasattr(v, "ndim") and v.ndim == 1) else [v]
            if not vals:
                raise GridError(f"grid axis {k!r} has no values")
            axes.append([x.item() if hasattr(x, "item") else x for x in vals])
        total = math.prod(len(a) for a in axes)
        if total > MAX_COMBINATIONS:
            raise GridError(f"the grid has {total:,} combinations, more than the limit of {MAX_COMBINATIONS:,}")
        combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*axes)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        combos = []
        for i, c in enumerate(grid):
            if not isinstance(c, Mapping):
                raise GridError(f"grid entry {i} must be a dict of parameters, got {type(c).__name__}")
            combos.append(dict(c))
        if len(combos) > MAX_COMBINATIONS:
            raise GridError(f"the grid has {len(combos):,} combinations, more than the limit of {MAX_COMBINATIONS:,}")
        names = list(dict.fromkeys(k for c in combos for k in c))
    else:
        raise GridError(f"grid must be a dict of value lists or a list of param dicts, got {type(grid).__name__}")
    if not combos:
        raise GridError("the grid is empty")
    if fields is not None:
        for k in names:
            if k not in fields:
                close = difflib.get_close_matches(str(k), list(fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise GridError(f"grid parameter {k!r} is not a parameter of the strategy{hint} "
                                f"(parameters: {', '.join(fields)})")
    return combos
