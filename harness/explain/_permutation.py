"""The permutations behind permutation importance: pure functions over NumPy arrays.

Both keep everything outside the fold's rows as it was, and both reorder *rows* only, so
every symbol's values at a row move together (one permutation per fold, shared by the
symbols: cross-sectional structure within a bar is kept, the time order is broken):

- :func:`permute_log_changes` for a bar field (a price level or the volume): the
  field's log changes on the fold's rows are reordered and the path rebuilt from the
  level just before each run of rows, so the level stays continuous into the fold and,
  for a contiguous fold, ends where the true path ends (the changes sum to the same);
- :func:`permute_rows` for one column of a ``(T, N, F)`` features array.
"""

from __future__ import annotations

import numpy as np

__all__ = ["permute_log_changes", "prepare_log_changes", "apply_log_changes", "permute_rows", "permutation_order"]


def permutation_order(seed: int, feature: int, repeat: int, fold: int, n: int) -> np.ndarray:
    """The permutation of ``n`` rows used for (``feature``, ``repeat``, ``fold``): a NumPy
    ``Generator`` seeded by ``SeedSequence([seed, feature, repeat, fold])``, so each
    feature, repeat and fold gets its own stream and the same seed the same permutations."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(feature), int(repeat), int(fold)]))
    return rng.permutation(int(n))


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    from harness.optimize._folds import contiguous_runs

    return contiguous_runs(rows)


def _fill(level: np.ndarray) -> np.ndarray:
    """Forward-fill NaN down each column, then back-fill the leading NaN (all-NaN columns stay NaN)."""
    T = level.shape[0]
    idx = np.where(np.isfinite(level), np.arange(T)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = np.take_along_axis(level, idx, axis=0)
    first = np.argmax(np.isfinite(out), axis=0)  # leading NaN: the column's first finite value
    lead = np.arange(T)[:, None] < first[None, :]
    return np.where(lead, out[first, np.arange(level.shape[1])][None, :], out)


def permute_log_changes(values: np.ndarray, rows: np.ndarray, order: np.ndarray, *, log1p: bool = False
                        ) -> np.ndarray:
    """A copy of the ``(T, N)`` field ``values`` whose log changes on ``rows`` (sorted, unique
    row positions) are reordered by ``order``: row ``rows[i]`` gets the change of row
    ``rows[order[i]]``, and each run of consecutive rows is rebuilt from the true level just
    before it (``level[a - 1]``; for ``a = 0`` the first level), so no level jumps at the
    fold's edge.

    ``log1p``: changes of ``log(1 + x)`` (the volume, which may be 0); otherwise of
    ``log(x)`` (prices). Missing values (NaN) and values the logarithm does not take stay
    where and what they were; the level is carried over them.
    """
    return apply_log_changes(prepare_log_changes(values, log1p=log1p), rows, order)


def prepare_log_changes(values: np.ndarray, *, log1p: bool = False) -> tuple[np.ndarray, ...]:
    """What :func:`permute_log_changes` derives from the field alone (its values, where the
    logarithm takes them, the carried log level and its changes), computed once for the
    many permutations of one field."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(x) & ((x >= 0.0) if log1p else (x > 0.0))
        level = np.where(ok, np.log1p(np.where(ok, x, 0.0)) if log1p else np.log(np.where(ok, x, 1.0)), np.nan)
    level = _fill(level)
    change = np.zeros_like(level)
    change[1:] = np.nan_to_num(np.diff(level, axis=0), nan=0.0)
    return x, ok, level, change, np.array(bool(log1p))


def apply_log_changes(prepared: tuple[np.ndarray, ...], rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """:func:`permute_log_changes` of a field prepared by :func:`prepare_log_changes`."""
    x, ok, level, change, log1p = prepared
    rows = np.asarray(rows, dtype=np.int64)
    order = np.asarray(order, dtype=np.int64)
    out = level.copy()
    moved = change[rows[order]]  # the changes the fold's rows get, in row order
    pos = 0
    for a, b in _runs(rows):
        base = level[a] - change[a]  # the level before row a (row 0: itself)
        out[a:b] = base + np.cumsum(moved[pos:pos + (b - a)], axis=0)
        pos += b - a
    with np.errstate(over="ignore", invalid="ignore"):
        rebuilt = np.expm1(out[rows]) if bool(log1p) else np.exp(out[rows])
    result = x.copy()  # outside the fold's rows: the true values, bit for bit
    result[rows] = np.where(ok[rows], rebuilt, x[rows])
    return result


def permute_rows(features: np.ndarray, rows: np.ndarray, order: np.ndarray, column: int) -> np.ndarray:
    """A copy of the ``(T, N, F)`` ``features`` whose column ``column`` on ``rows`` is reordered:
    row ``rows[i]`` gets the values (every symbol's) of row ``rows[order[i]]``."""
    out = np.array(features, dtype=np.float64, copy=True)
    rows = np.asarray(rows, dtype=np.int64)
    out[rows, :, column] = features[rows[np.asarray(order, dtype=np.int64)], :, column]
    return out
