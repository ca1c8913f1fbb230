"""Cross-validation splitters for time series: walk-forward, purged k-fold, CPCV.

Every splitter has one method that matters, ``split(x)``, where ``x`` is a bar count,
an int64-ns timestamp array or a :class:`~market_data.Bars`; it yields
``(train_idx, test_idx)`` pairs of sorted int64 row positions.

Purging and embargo (López de Prado, *Advances in Financial Machine Learning*, ch. 7):
the label of sample ``i`` spans rows ``i .. i + label_horizon``; a training sample whose
label window overlaps any test label window is dropped (purged), and so are the
``embargo`` rows that follow each test block (their features saw the test period).
``embargo`` is a row count or, below 1, a fraction of all rows (rounded up).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import InputError
from market_data.config import parse_value

__all__ = ["Splitter", "WalkForward", "PurgedKFold", "CombinatorialPurgedCV", "parse_cv", "resolve_duration"]

_DURATION = re.compile(r"^\s*(\d+)\s*(y|m|mo|w|d|h|min|s)\s*$", re.IGNORECASE)


def _positions(x: Any) -> tuple[int, np.ndarray | None]:
    """``(n, timestamps or None)`` from a bar count, a timestamp array or a Bars."""
    ts = getattr(x, "timestamps", None)
    if ts is not None:
        ts = np.asarray(ts, dtype=np.int64)
        return int(ts.size), ts
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        if x < 0:
            raise InputError(f"number of bars must be >= 0, got {x}")
        return int(x), None
    arr = np.asarray(x)
    if arr.ndim == 1 and arr.dtype.kind in "iuM":
        if arr.dtype.kind == "M":
            arr = arr.astype("datetime64[ns]").view(np.int64)
        return int(arr.size), arr.astype(np.int64)
    raise InputError(f"split() takes a bar count, an int64-ns timestamp array or Bars, got {type(x).__name__}")


def resolve_duration(value: int | str, name: str) -> int | tuple[int, str]:
    """A size in bars (``int``) or a parsed duration ``(count, unit)``.

    Units: ``y`` years, ``m``/``mo`` months, ``w`` weeks, ``d`` days, ``h`` hours,
    ``min`` minutes, ``s`` seconds (calendar time, resolved against timestamps).
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value <= 0:
            raise InputError(f"{name} must be a positive number of bars or a duration like '2y', got {value}")
        return int(value)
    if isinstance(value, str):
        if value.strip().isdigit():
            return resolve_duration(int(value), name)
        m = _DURATION.match(value)
        if m and int(m.group(1)) > 0:
            unit = m.group(2).lower()
            return int(m.group(1)), "m" if unit == "mo" else unit
    raise InputError(f"{name} must be a positive number of bars or a duration like '2y', '6m', '30d', got {value!r}")


def _offset(d: tuple[int, str]):
    import pandas as pd

    count, unit = d
    kw = {"y": "years", "m": "months", "w": "weeks", "d": "days", "h": "hours", "min": "minutes",
          "s": "seconds"}[unit]
    return pd.DateOffset(**{kw: count})


def _embargo_rows(embargo: float, n: int) -> int:
    return int(math.ceil(embargo * n)) if 0 < embargo < 1 else int(embargo)


def _check_nonneg_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{name} must be a non-negative integer (bars), got {value!r}")
    return int(value)


def _check_embargo(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0 or (value >= 1 and value != int(value)):
        raise InputError(f"embargo must be a whole number of bars or a fraction in [0, 1), got {value!r}")
    return float(value)


def purged_train(n: int, test_blocks: list[tuple[int, int]], label_horizon: int, embargo_rows: int) -> np.ndarray:
    """Training rows left after removing each test block ``[a, b)``, the samples whose
    label windows overlap it (``[a - h, b + h)``) and the embargo ``[b + h, b + h + e)``."""
    keep = np.ones(n, dtype=bool)
    for a, b in test_blocks:
        keep[max(0, a - label_horizon):min(n, b + label_horizon + embargo_rows)] = False
    return np.flatnonzero(keep).astype(np.int64)


class Splitter:
    """Base of the splitters: ``split(x)`` yields ``(train_idx, test_idx)``."""

    def split(self, x: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_n_splits(self, x: Any) -> int:
        """How many ``(train, test)`` pairs ``split(x)`` yields."""
        return sum(1 for _ in self.split(x))

    def spec(self) -> str:  # pragma: no cover - abstract
        """The compact text form, e.g. ``walk-forward:train=2y,test=6m`` (see :func:`parse_cv`)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.spec()


@dataclass(frozen=True)
class WalkForward(Splitter):
    """Rolling (or anchored) walk-forward: train on a window, test on the next one, move on.

    ``train``/``test``/``step`` are bar counts or durations (``"2y"``, ``"6m"``, ``"30d"``;
    durations need timestamps). ``step`` defaults to ``test`` so test windows tile the
    data after the first training window exactly once; the last test window may be
    shorter. ``anchored=True`` grows the training window from the first bar.
    ``label_horizon`` purges the last training rows whose labels reach into the test.
    """

    train: int | str
    test: int | str
    step: int | str | None = None
    anchored: bool = False
    label_horizon: int = 0

    def __post_init__(self) -> None:
        kinds = [resolve_duration(v, n) for n, v in (("train", self.train), ("test", self.test))]
        if self.step is not None:
            kinds.append(resolve_duration(self.step, "step"))
        if len({isinstance(k, int) for k in kinds}) > 1:
            raise InputError("WalkForward train/test/step must be all bar counts or all durations, "
                             f"got train={self.train!r}, test={self.test!r}, step={self.step!r}")
        if not isinstance(self.anchored, bool):
            raise InputError(f"anchored must be true or false, got {self.anchored!r}")
        _check_nonneg_int(self.label_horizon, "label_horizon")

    def _windows(self, n: int, ts: np.ndarray | None) -> Iterator[tuple[int, int, int]]:
        """``(train_start, test_start, test_end)`` row positions."""
        tr = resolve_duration(self.train, "train")
        te = resolve_duration(self.test, "test")
        st = resolve_duration(self.step, "step") if self.step is not None else te
        if isinstance(tr, int):
            k = 0
            while True:
                test_start = tr + k * st
                if test_start >= n:
                    return
                yield (0 if self.anchored else test_start - tr), test_start, min(n, test_start + te)
                k += 1
        if ts is None:
            raise InputError(f"durations (train={self.train!r}) need timestamps: pass Bars or a timestamp array")
        if n == 0:
            return
        import pandas as pd

        t0 = pd.Timestamp(int(ts[0]), unit="ns", tz="UTC")
        first = t0 + _offset(tr)
        k = 0
        while True:
            start_t = first + k * _offset(st) if k else first
            test_start = int(np.searchsorted(ts, start_t.value, "left"))
            if test_start >= n:
                return
            test_end = int(np.searchsorted(ts, (start_t + _offset(te)).value, "left"))
            train_start = 0 if self.anchored else int(np.searchsorted(ts, (start_t - _offset(tr)).value, "left"))
            if test_end > test_start:
                yield train_start, test_start, test_end
            k += 1

    def split(self, x: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, ts = _positions(x)
        for train_start, test_start, test_end in self._windows(n, ts):
            train_end = test_start - self.label_horizon
            if train_end <= train_start:
                continue
            yield (np.arange(train_start, train_end, dtype=np.int64),
                   np.arange(test_start, test_end, dtype=np.int64))

    def spec(self) -> str:
        parts = [f"train={self.train}", f"test={self.test}"]
        if self.step is not None:
            parts.append(f"step={self.step}")
        if self.anchored:
            parts.append("anchored=true")
        if self.label_horizon:
            parts.append(f"label_horizon={self.label_horizon}")
        return "walk-forward:" + ",".join(parts)


@dataclass(frozen=True)
class PurgedKFold(Splitter):
    """K contiguous folds; each is the test set once, the rest (purged, embargoed) trains.

    Training rows may lie before *and after* the test fold, so ``label_horizon`` and
    ``embargo`` matter here (AFML ch. 7.4).
    """

    n_splits: int = 5
    embargo: float = 0
    label_horizon: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.n_splits, bool) or not isinstance(self.n_splits, (int, np.integer)) or self.n_splits < 2:
            raise InputError(f"n_splits must be an integer >= 2, got {self.n_splits!r}")
        _check_embargo(self.embargo)
        _check_nonneg_int(self.label_horizon, "label_horizon")

    def split(self, x: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, _ = _positions(x)
        if n < self.n_splits:
            raise InputError(f"PurgedKFold(n_splits={self.n_splits}) needs at least {self.n_splits} bars, got {n}")
        emb = _embargo_rows(self.embargo, n)
        bounds = np.linspace(0, n, self.n_splits + 1).astype(np.int64)
        for k in range(self.n_splits):
            a, b = int(bounds[k]), int(bounds[k + 1])
            yield purged_train(n, [(a, b)], self.label_horizon, emb), np.arange(a, b, dtype=np.int64)

    def spec(self) -> str:
        return f"purged-kfold:n_splits={self.n_splits},embargo={_num(self.embargo)},label_horizon={self.label_horizon}"


@dataclass(frozen=True)
class CombinatorialPurgedCV(Splitter):
    """Combinatorial purged cross-validation (AFML ch. 12).

    Rows are cut into ``n_groups`` contiguous groups; each of the ``C(n_groups,
    n_test_groups)`` splits tests on ``n_test_groups`` of them and trains on the rest
    (purged and embargoed around every test group). Each group is tested
    ``C(n_groups - 1, n_test_groups - 1)`` times, which yields that many complete
    backtest paths (:meth:`paths`).
    """

    n_groups: int = 6
    n_test_groups: int = 2
    embargo: float = 0
    label_horizon: int = 0

    def __post_init__(self) -> None:
        for name in ("n_groups", "n_test_groups"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not 1 <= self.n_test_groups < self.n_groups:
            raise InputError(f"n_test_groups must be in [1, n_groups), got {self.n_test_groups} "
                             f"with n_groups={self.n_groups}")
        _check_embargo(self.embargo)
        _check_nonneg_int(self.label_horizon, "label_horizon")

    def combinations(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in split order."""
        return list(itertools.combinations(range(self.n_groups), self.n_test_groups))

    @property
    def n_paths(self) -> int:
        """Number of backtest paths, ``C(n_groups - 1, n_test_groups - 1)``."""
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def group_bounds(self, n: int) -> np.ndarray:
        """Row boundaries of the groups: group ``g`` is ``[b[g], b[g+1])``."""
        return np.linspace(0, n, self.n_groups + 1).astype(np.int64)

    def split(self, x: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, _ = _positions(x)
        if n < self.n_groups:
            raise InputError(f"CombinatorialPurgedCV(n_groups={self.n_groups}) needs at least "
                             f"{self.n_groups} bars, got {n}")
        emb = _embargo_rows(self.embargo, n)
        b = self.group_bounds(n)
        for groups in self.combinations():
            blocks = [(int(b[g]), int(b[g + 1])) for g in groups]
            test = np.concatenate([np.arange(a, c, dtype=np.int64) for a, c in blocks])
            yield purged_train(n, blocks, self.label_horizon, emb), test

    def paths(self) -> np.ndarray:
        """``(n_paths, n_groups)`` split index per path and group.

        Path ``p`` takes group ``g`` from the ``p``-th split (in split order) that tests
        ``g``, so every (split, group) test result is used by exactly one path.
        """
        out = np.empty((self.n_paths, self.n_groups), dtype=np.int64)
        seen = [0] * self.n_groups
        for s, groups in enumerate(self.combinations()):
            for g in groups:
                out[seen[g], g] = s
                seen[g] += 1
        return out

    def assemble_paths(self, n: int, split_values: list[np.ndarray]) -> np.ndarray:
        """Stitch per-split test values into ``(n_paths, n)`` backtest paths.

        ``split_values[s]`` holds one value per row of split ``s``'s ``test_idx`` (in
        order), e.g. out-of-sample returns of a model trained on that split's train set.
        """
        combos = self.combinations()
        if len(split_values) != len(combos):
            raise InputError(f"expected {len(combos)} split results, got {len(split_values)}")
        b = self.group_bounds(n)
        out = np.full((self.n_paths, n), np.nan)
        for p, row in enumerate(self.paths()):
            for g, s in enumerate(row):
                groups = combos[s]
                offset = sum(int(b[h + 1] - b[h]) for h in groups if h < g)
                size = int(b[g + 1] - b[g])
                vals = np.asarray(split_values[s], dtype=np.float64)
                out[p, b[g]:b[g + 1]] = vals[offset:offset + size]
        return out

    def spec(self) -> str:
        return (f"cpcv:n_groups={self.n_groups},n_test_groups={self.n_test_groups},"
                f"embargo={_num(self.embargo)},label_horizon={self.label_horizon}")


def _num(v: float) -> str:
    return str(int(v)) if float(v) == int(v) else repr(float(v))


_SCHEMES = {
    "walk-forward": (WalkForward, {"train", "test", "step", "anchored", "label_horizon"}),
    "purged-kfold": (PurgedKFold, {"n_splits", "embargo", "label_horizon"}),
    "cpcv": (CombinatorialPurgedCV, {"n_groups", "n_test_groups", "embargo", "label_horizon"}),
}
_ALIASES = {"walkforward": "walk-forward", "wf": "walk-forward", "kfold": "purged-kfold",
            "purged_kfold": "purged-kfold", "combinatorial": "cpcv", "walk_forward": "walk-forward"}


def make_splitter(scheme: str, options: dict[str, Any]) -> Splitter:
    """Build a splitter from a scheme name and its keyword options (from TOML or text)."""
    key = _ALIASES.get(scheme.strip().lower(), scheme.strip().lower())
    if key not in _SCHEMES:
        raise InputError(f"unknown cv scheme {scheme!r}; expected one of {', '.join(_SCHEMES)}")
    cls, allowed = _SCHEMES[key]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(f"cv scheme {key!r} has no option {unknown[0]!r}; options: {', '.join(sorted(allowed))}")
    import dataclasses

    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [f for f in required if f not in options]
    if missing:
        raise InputError(f"cv scheme {key!r} needs {' and '.join(missing)} (e.g. train = \"2y\", test = \"6m\")")
    return cls(**options)


def parse_cv(text: str | Splitter) -> Splitter:
    """Parse ``"walk-forward:train=2y,test=6m"``, ``"purged-kfold:n_splits=5,embargo=10"``,
    ``"cpcv:n_groups=6,n_test_groups=2"`` into a splitter (a splitter passes through)."""
    if isinstance(text, Splitter):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"cv must be text like 'walk-forward:train=2y,test=6m', got {text!r}")
    scheme, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        k, eq, v = item.partition("=")
        if not eq:
            raise InputError(f"cv option {item!r} in {text!r} is not of the form key=value")
        options[k.strip()] = parse_value(v)
    return make_splitter(scheme, options)
