"""``attributions()``: what a strategy's decisions rest on, measured on its out-of-sample folds.

Two methods:

- **permutation importance**, for every strategy: the fold's metric on the true data
  minus the metric after one input's values are permuted within the fold (rows permuted
  jointly across symbols; :mod:`harness.explain._permutation`), averaged over
  ``n_repeats`` permutations and the folds. Only the *decision input* is permuted: the
  weights are recomputed from it and the engine trades them on the true bars, so the P&L
  is always the true one. The inputs are

  - for a rule strategy, the bar fields it decides from (:data:`BAR_FIELDS`): the
    field's log changes are permuted and its path rebuilt, the weights recomputed with
    ``strategy.target_weights`` on the fold's bars with that field swapped in. A field
    the strategy never reads gets exactly 0;
  - for a fitted model that maps features to weights (the ``mlp``'s
    :class:`~strategies.ml.fitted.FittedModel`: ``weights_from_features``), its model
    features (``model.feature_names``), one column permuted;
  - for any other fitted model, the bar fields, through ``model.target_weights``.

  Each fold is scored as its own block with the optimiser's conventions
  (:meth:`harness.optimize.FoldEvaluator.returns_of`: it starts flat, its weights are
  decided from the warm-up bars before it, which stay true, with the engine's fill
  kernel). The importance is oriented so that positive means "the strategy does worse
  without this input": ``metric(true) - metric(permuted)`` for metrics that are
  maximised, the opposite for ``ann_volatility``. Where a permutation leaves the fold's
  returns bit-identical, the value is exactly 0 (even where the metric itself is
  undefined, e.g. the Sharpe ratio of a flat fold).
- **integrated gradients**, for torch models (``model.torch_network()``): the network's
  raw output (logit or standardised return) attributed to its standardised input window
  against the baseline 0, which is the training mean of every feature (the "average
  input" the network was centred on; the zero vector of the normalised features), with
  :data:`~harness.explain._gradients.DEFAULT_STEPS` trapezoid steps; a feature's
  attribution is the sum over its lookback positions. On every OOS row and symbol whose
  window is finite, per fold: the mean ``|IG|`` per feature (the importance) and the
  mean signed IG (``signed``), then their means over the folds; ``completeness`` is the
  largest ``|sum IG - (f(x) - f(baseline))|`` over the samples.

Same arguments and seed, same attributions, bit for bit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.explain._gradients import DEFAULT_STEPS
from harness.explain._permutation import (
    apply_log_changes,
    permutation_order,
    permute_rows,
    prepare_log_changes,
)

__all__ = ["Attributions", "FeatureImportance", "attributions", "BAR_FIELDS", "METHODS", "FORMAT"]

#: the decision inputs of a rule strategy: the bar fields (volume changes are of ``log(1 + volume)``)
BAR_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
#: attribution methods, in the order they are shown
METHODS: tuple[str, ...] = ("permutation", "integrated_gradients")
FORMAT = "harness.attributions/1"


def _num(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def _floats(values: Any) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _back(values: Any) -> tuple[float, ...]:
    return tuple(float("nan") if v is None else float(v) for v in values)


# --------------------------------------------------------------------------- records
@dataclass(frozen=True, kw_only=True)
class FeatureImportance:
    """One method's attributions: per feature (``features``), the importance averaged over
    the folds (and repeats), its ``std`` (over folds x repeats for permutation, over folds
    for integrated gradients), ``per_fold`` (folds x features), and for integrated
    gradients the mean ``signed`` attribution and the ``completeness`` gap. NaN where a
    value is undefined (``None`` in :meth:`to_dict`)."""

    method: str
    features: tuple[str, ...]
    importance: tuple[float, ...]
    std: tuple[float, ...]
    per_fold: tuple[tuple[float, ...], ...]
    signed: tuple[float, ...] | None = None
    completeness: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"attribution method must be one of {', '.join(METHODS)}, got {self.method!r}")
        F = len(self.features)
        for name in ("importance", "std") + (("signed",) if self.signed is not None else ()):
            if len(getattr(self, name)) != F:
                raise InputError(f"{self.method} attributions: {name} has {len(getattr(self, name))} values "
                                 f"for {F} features")
        for k, row in enumerate(self.per_fold):
            if len(row) != F:
                raise InputError(f"{self.method} attributions: fold {k} has {len(row)} values for {F} features")

    def as_mapping(self) -> dict[str, float]:
        """Feature -> importance."""
        return dict(zip(self.features, self.importance, strict=True))

    def ranking(self) -> list[str]:
        """The features, most important first (undefined values last, ties in feature order)."""
        key = [(-v if math.isfinite(v) else math.inf, i) for i, v in enumerate(self.importance)]
        return [self.features[i] for _, i in sorted(key)]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "features": list(self.features), "importance": _floats(self.importance),
                "std": _floats(self.std), "per_fold": [_floats(r) for r in self.per_fold],
                "signed": None if self.signed is None else _floats(self.signed),
                "completeness": None if self.completeness is None else _num(self.completeness)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureImportance:
        try:
            return cls(method=d["method"], features=tuple(d["features"]), importance=_back(d["importance"]),
                       std=_back(d["std"]), per_fold=tuple(_back(r) for r in d["per_fold"]),
                       signed=None if d.get("signed") is None else _back(d["signed"]),
                       completeness=None if d.get("completeness") is None else float(d["completeness"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a feature-importance record: {exc!r}") from None


@dataclass(frozen=True, kw_only=True)
class Attributions:
    """The attributions of one strategy (and fitted model) on its out-of-sample folds.

    ``strategy``, ``metric`` (the permutation score), ``seed``, ``n_repeats``, ``steps``
    (integrated-gradient steps; None without them), the folds (``fold_sizes`` rows,
    ``fold_times`` first and last timestamp in ns), ``reference`` (the metric of each fold
    on the true data), ``permutation`` and ``integrated_gradients``
    (:class:`FeatureImportance`; the latter None for strategies without a torch network).
    ``to_dict()`` / ``from_dict()`` give and read its JSON form (``attributions.json``).
    """

    strategy: str
    metric: str
    seed: int
    n_repeats: int
    steps: int | None
    fold_sizes: tuple[int, ...]
    fold_times: tuple[tuple[int, int], ...]
    reference: tuple[float, ...]
    permutation: FeatureImportance
    integrated_gradients: FeatureImportance | None = None

    @property
    def features(self) -> tuple[str, ...]:
        """The permuted inputs' names (bar fields or model features)."""
        return self.permutation.features

    @property
    def methods(self) -> dict[str, FeatureImportance]:
        """Method name -> its attributions (the methods that were computed)."""
        out = {"permutation": self.permutation}
        if self.integrated_gradients is not None:
            out["integrated_gradients"] = self.integrated_gradients
        return out

    @property
    def n_folds(self) -> int:
        return len(self.fold_sizes)

    def rows(self) -> list[dict[str, Any]]:
        """One row per feature, most important (by permutation) first: ``feature``,
        ``permutation``, ``permutation_std`` and, with integrated gradients, ``ig_abs`` and
        ``ig_signed`` (what ``harness registry show`` and the deployment report print)."""
        perm = self.permutation
        ig = self.integrated_gradients
        index = {f: i for i, f in enumerate(perm.features)}
        out = []
        for f in perm.ranking():
            i = index[f]
            row: dict[str, Any] = {"feature": f, "permutation": _num(perm.importance[i]),
                                   "permutation_std": _num(perm.std[i])}
            if ig is not None and f in ig.features:
                j = ig.features.index(f)
                row["ig_abs"] = _num(ig.importance[j])
                row["ig_signed"] = None if ig.signed is None else _num(ig.signed[j])
            out.append(row)
        return out

    def table(self) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """``(header, rows)`` of :meth:`rows` as a table (numbers unformatted, None where undefined): what
        ``harness registry show`` and the deployment report print, each in its own number format."""
        ig = self.integrated_gradients is not None
        header = ("feature", f"permutation (drop in {self.metric})", "std") + (("mean |IG|", "mean IG") if ig else ())
        rows = [(r["feature"], r["permutation"], r["permutation_std"])
                + ((r.get("ig_abs"), r.get("ig_signed")) if ig else ()) for r in self.rows()]
        return header, rows

    def describe(self) -> str:
        """One line: the folds, bars, permutations and seed (and integrated gradients' steps) behind them."""
        ig = self.integrated_gradients is not None
        return (f"{self.n_folds} out-of-sample blocks ({sum(self.fold_sizes)} bars), {self.n_repeats} permutations "
                f"each, seed {self.seed}" + (f", IG {self.steps} steps" if ig else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "strategy": self.strategy, "metric": self.metric, "seed": int(self.seed),
                "n_repeats": int(self.n_repeats), "steps": None if self.steps is None else int(self.steps),
                "features": list(self.features),
                "folds": [{"rows": int(n), "start": int(a), "end": int(b)}
                          for n, (a, b) in zip(self.fold_sizes, self.fold_times, strict=True)],
                "reference": _floats(self.reference),
                "methods": {k: v.to_dict() for k, v in self.methods.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Attributions:
        """Read :meth:`to_dict`'s form; :class:`InputError` naming what is wrong."""
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise InputError(f"attributions: format {got!r} is not {FORMAT!r}")
        try:
            methods = d["methods"]
            ig = methods.get("integrated_gradients")
            return cls(strategy=str(d["strategy"]), metric=str(d["metric"]), seed=int(d["seed"]),
                       n_repeats=int(d["n_repeats"]), steps=None if d.get("steps") is None else int(d["steps"]),
                       fold_sizes=tuple(int(f["rows"]) for f in d["folds"]),
                       fold_times=tuple((int(f["start"]), int(f["end"])) for f in d["folds"]),
                       reference=_back(d["reference"]),
                       permutation=FeatureImportance.from_dict(methods["permutation"]),
                       integrated_gradients=None if ig is None else FeatureImportance.from_dict(ig))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"attributions: not a valid record ({exc!r})") from None


# --------------------------------------------------------------------------- inputs
class _Blocks:
    """The folds as a splitter for :class:`~harness.optimize.FoldEvaluator` (only the test rows are used)."""

    def __init__(self, folds: list[np.ndarray]) -> None:
        self.folds = folds

    def split(self, x: Any):
        for rows in self.folds:
            yield np.arange(1, dtype=np.int64), rows  # no fitting happens here: a placeholder train run

    def spec(self) -> str:
        return f"blocks:{len(self.folds)}"


class _BarFields:
    """A strategy deciding from bars: permute a bar field, recompute the weights on the swapped-in bars."""

    def __init__(self, bars: Any, weights_of: Any, warmup: int) -> None:
        self.bars = bars
        self.names = BAR_FIELDS
        self.warmup = int(warmup)
        self._weights_of = weights_of
        self._prepared: dict[int, tuple[np.ndarray, ...]] = {}

    def true_weights_of(self) -> Any:
        return self._weights_of

    def permuted(self, f: int, rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        """:func:`permute_log_changes` of field ``f``, its log level derived once for all its permutations."""
        prepared = self._prepared.get(f)
        if prepared is None:
            name = self.names[f]
            prepared = self._prepared[f] = prepare_log_changes(getattr(self.bars, name), log1p=name == "volume")
        return apply_log_changes(prepared, rows, order)

    def weights_of(self, f: int, values: np.ndarray) -> Any:
        name = self.names[f]
        ts = self.bars.timestamps

        def weights_of(sub: Any) -> np.ndarray:
            s0 = int(np.searchsorted(ts, sub.timestamps[0]))
            swapped = replace(sub, **{name: values[s0:s0 + sub.n_bars]}, snapshot_id=None, _digest=[])
            return self._weights_of(swapped)

        return weights_of


class _ModelFeatures:
    """A fitted model deciding from a features array: permute a feature column, decide from the array."""

    def __init__(self, bars: Any, model: Any) -> None:
        from strategies.ml.features import compute_features

        self.bars = bars
        self.model = model
        self.names = tuple(model.feature_names)
        self.features = compute_features(bars)  # point-in-time: row t from bars <= t, as on any sub-window
        # the features come from the whole window; a row's input window needs the rows before it
        self.warmup = int(getattr(model, "window", 0))

    def true_weights_of(self) -> Any:
        return self._decide(self.features)

    def permuted(self, f: int, rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        return permute_rows(self.features, rows, order, f)

    def weights_of(self, f: int, values: np.ndarray) -> Any:
        return self._decide(values)

    def _decide(self, values: np.ndarray) -> Any:
        ts = self.bars.timestamps
        freq = self.bars.frequency

        def weights_of(sub: Any) -> np.ndarray:
            s0 = int(np.searchsorted(ts, sub.timestamps[0]))
            return self.model.weights_from_features(values[s0:s0 + sub.n_bars], freq)

        return weights_of


# --------------------------------------------------------------------------- checks
def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < low:
        raise InputError(f"attributions: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_metric(metric: Any) -> tuple[str, float]:
    from harness.optimize._folds import OBJECTIVES

    if metric not in OBJECTIVES:
        import difflib

        close = difflib.get_close_matches(str(metric), list(OBJECTIVES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"attributions: unknown metric {metric!r}{hint} (expected one of {', '.join(OBJECTIVES)})")
    return metric, (1.0 if OBJECTIVES[metric][1] == "maximize" else -1.0)


def _check_folds(folds: Any, n_bars: int) -> list[np.ndarray]:
    if isinstance(folds, np.ndarray) and folds.ndim == 1 and folds.dtype.kind in "iu":
        raise InputError("attributions: folds must be a sequence of row-index arrays (one per fold), "
                         "got one array of rows; wrap it in a list")
    if not isinstance(folds, (Sequence, np.ndarray)) or isinstance(folds, (str, bytes)) or len(folds) == 0:
        raise InputError(f"attributions: folds must be a non-empty sequence of row-index arrays, got {folds!r}")
    out = []
    for k, rows in enumerate(folds):
        arr = np.asarray(rows)
        if arr.ndim != 1 or arr.size == 0:
            raise InputError(f"attributions: fold {k} must be a non-empty 1-D array of row positions, "
                             f"got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise InputError(f"attributions: fold {k} must hold integer row positions, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        bad = arr[(arr < 0) | (arr >= n_bars)]
        if bad.size:
            raise InputError(f"attributions: fold {k} has row {int(bad[0])}, outside the bars' rows 0..{n_bars - 1}")
        uniq = np.unique(arr)
        if uniq.size != arr.size:
            raise InputError(f"attributions: fold {k} repeats a row")
        out.append(uniq)
    return out


def _resolve(strategy: Any, params: Any) -> tuple[Any, Any]:
    import strategies
    from strategies.params import Params

    strat = strategies.get(strategy) if isinstance(strategy, str) else strategy
    if not hasattr(strat, "Params") or not hasattr(strat, "target_weights"):
        raise InputError(f"attributions: strategy must be a strategy name or module, got {strategy!r}")
    if params is None:
        return strat, strat.Params()
    if isinstance(params, Params):
        return strat, params
    if isinstance(params, Mapping):
        return strat, strat.Params.from_dict(dict(params))
    raise InputError(f"attributions: params must be None, a dict or a {strat.Params.__name__}, "
                     f"got {type(params).__name__}")


# --------------------------------------------------------------------------- entry point
def attributions(strategy: Any, params: Any, bars: Any, *, folds: Sequence[np.ndarray], config: Any,
                 model: Any = None, seed: int = 0, n_repeats: int = 5, metric: str = "sharpe",
                 steps: int = DEFAULT_STEPS) -> Attributions:
    """The feature attributions of ``strategy`` with ``params`` on the out-of-sample ``folds``
    of ``bars`` (see the module docstring for both methods).

    ``bars``: the whole window (the rows before each fold are its warm-up history and are
    never permuted); ``folds``: one array of row positions of ``bars`` per fold; ``config``:
    the ``BacktestConfig`` the engine trades with; ``model``: the fitted model of a
    trainable strategy (None: fitted here on the bars before the first fold, with
    ``seed``); ``seed``: the permutations' seed; ``n_repeats``: permutations per feature
    and fold; ``metric``: the score (one of the optimiser's objectives); ``steps``: the
    trapezoid steps of integrated gradients (torch models only).
    """
    from harness.engine import BacktestConfig
    from harness.optimize import FoldEvaluator
    from harness.optimize._folds import metric_of_returns
    from market_data import Bars
    from market_data.frequency import periods_per_year

    strat, p = _resolve(strategy, params)
    if not isinstance(bars, Bars):
        raise InputError(f"attributions: bars must be a market_data.Bars, got {type(bars).__name__}")
    if not isinstance(config, BacktestConfig):
        raise InputError(f"attributions: config must be a BacktestConfig, got {type(config).__name__}")
    seed = _check_int(seed, "seed", 0)
    n_repeats = _check_int(n_repeats, "n_repeats", 1)
    steps = _check_int(steps, "steps", 1)
    metric, sign = _check_metric(metric)
    blocks = _check_folds(folds, bars.n_bars)

    if getattr(strat, "trainable", False) and model is None:
        first = int(min(int(b[0]) for b in blocks))
        model = strat.fit(bars[:first], p, seed)
    if model is not None and hasattr(model, "weights_from_features") and hasattr(model, "feature_names"):
        inputs: Any = _ModelFeatures(bars, model)
    elif model is not None:
        inputs = _BarFields(bars, model.target_weights, int(strat.warmup(p)))
    else:
        inputs = _BarFields(bars, lambda b: strat.target_weights(b, p), int(strat.warmup(p)))

    ev = FoldEvaluator(bars, strat, _Blocks(blocks), config)
    ppy = periods_per_year(bars.frequency)
    true_of = inputs.true_weights_of()
    truth = [ev.returns_of(rows, true_of, inputs.warmup) for rows in blocks]
    reference = tuple(metric_of_returns(r, metric, ppy) for r in truth)
    F, K = len(inputs.names), len(blocks)
    values = np.zeros((K, n_repeats, F))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for f in range(F):
            for r in range(n_repeats):
                for k, rows in enumerate(blocks):
                    order = permutation_order(seed, f, r, k, rows.size)
                    got = ev.returns_of(rows, inputs.weights_of(f, inputs.permuted(f, rows, order)), inputs.warmup)
                    if np.array_equal(got, truth[k]):
                        continue  # the decisions did not change: exactly 0
                    values[k, r, f] = sign * (reference[k] - metric_of_returns(got, metric, ppy))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN folds: NaN, reported as None
        perm = FeatureImportance(method="permutation", features=tuple(inputs.names),
                                 importance=tuple(np.nanmean(values, axis=(0, 1)).tolist()),
                                 std=tuple(np.nanstd(values, axis=(0, 1)).tolist()),
                                 per_fold=tuple(tuple(row) for row in np.nanmean(values, axis=1).tolist()))
    ig = None
    if model is not None and hasattr(model, "torch_network") and hasattr(model, "windows") \
            and isinstance(inputs, _ModelFeatures):
        ig = _integrated_gradients(model, inputs.features, blocks, steps)
    ts = bars.timestamps
    return Attributions(strategy=str(strat.name), metric=metric, seed=seed, n_repeats=n_repeats,
                        steps=steps if ig is not None else None, fold_sizes=tuple(int(b.size) for b in blocks),
                        fold_times=tuple((int(ts[b[0]]), int(ts[b[-1]])) for b in blocks), reference=reference,
                        permutation=perm, integrated_gradients=ig)


def _integrated_gradients(model: Any, features: np.ndarray, blocks: list[np.ndarray], steps: int
                          ) -> FeatureImportance:
    """Integrated gradients of ``model``'s network on the folds' rows with a finite window."""
    from harness.explain._gradients import integrated_gradients

    rows, _, x = model.windows(features)
    fold_of = np.full(features.shape[0], -1, dtype=np.int64)
    for k, b in enumerate(blocks):
        fold_of[b] = k
    keep = fold_of[rows] >= 0
    x, where = x[keep], fold_of[rows[keep]]
    F = len(model.feature_names)
    attr, gap = integrated_gradients(model.torch_network(), x, None, steps=steps)
    per_feature = attr.sum(axis=1) if attr.size else np.zeros((0, F))  # (samples, F): summed over the lookback
    K = len(blocks)
    abs_fold = np.full((K, F), np.nan)
    signed_fold = np.full((K, F), np.nan)
    for k in range(K):
        mine = per_feature[where == k]
        if mine.shape[0]:
            abs_fold[k] = np.abs(mine).mean(axis=0)
            signed_fold[k] = mine.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return FeatureImportance(method="integrated_gradients", features=tuple(model.feature_names),
                                 importance=tuple(np.nanmean(abs_fold, axis=0).tolist()),
                                 std=tuple(np.nanstd(abs_fold, axis=0).tolist()),
                                 per_fold=tuple(tuple(r) for r in abs_fold.tolist()),
                                 signed=tuple(np.nanmean(signed_fold, axis=0).tolist()),
                                 completeness=float(np.abs(gap).max()) if gap.size else None)
