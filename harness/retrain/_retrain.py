"""``retrain()``: re-optimise (and re-fit) a deployment on its training window, with evidence.

The pipeline, for one trigger:

1. ``retrain_triggered`` is audited with the reason, the data snapshot, the trigger bar
   and, for regime triggers, the :class:`~harness.regime.RegimeChange` (detection bar,
   from and to labels, detector state digest).
2. The deployment's bars are read at that snapshot from ``[data] start`` and cut at the
   trigger bar; the training window is built (:mod:`harness.retrain._window`).
3. :func:`harness.optimize` runs on the window minus its holdout with the spec's search
   space, CV scheme, objective and seed, ``NopPruner`` (every trial has complete
   out-of-sample returns), warm-started from the champion's params, in the deployment's
   journal-file Optuna storage (resumable, readable by optuna-dashboard); trainable
   strategies are fitted per fold.
4. The ``top_k`` distinct best trials are the candidates. Each is refitted (trainable) on
   the window minus the holdout, and scored on the holdout with the fold evaluator's
   conventions (the block starts flat, weights computed from the warmup bars before it).
   The champion (a registry version's ``DeployedStrategy`` weights, never refitted, or
   the baseline) is scored the same way on the holdout and on every fold's test bars.
   Each candidate's feature attributions (:func:`harness.explain.attributions`:
   permutation importance, and integrated gradients for the mlp's fitted network) are
   computed on the holdout's blocks (the gate's ``fold_stability`` blocks), seeded from
   the deployment's seed.
5. If the best candidate is the champion (same params and, trainable, same weights), the
   outcome is ``no_change``: nothing is registered. Otherwise the candidates are
   registered with their lineage and attributions, the best becomes ``challenger``, each
   is audited as ``candidate_registered``, and the gate's evidence is stored as an
   artifact (with ``attributions/candidate-<rank>.json``).
6. Tracked (by default when registering), the retrain is one MLflow run of kind
   ``retrain`` (:func:`log_retrain`), whose id ``retrain_completed`` records; ``harness
   report RUN_ID`` draws it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError
from market_data import Bars

__all__ = ["retrain", "RetrainResult", "Candidate", "Champion", "champion_of", "FixedSplit", "evaluate_window",
           "log_retrain", "ACTOR"]

ACTOR = "harness.retrain"


# ---------------------------------------------------------------------------- champion
@dataclass(frozen=True, eq=False)
class Champion:
    """What the candidates are compared with: a registered version or the baseline.

    ``kind`` is ``"version"`` or ``"baseline"``; ``name`` ``"v<N>"``, ``"cash"`` or
    ``"buy_and_hold"``; ``deployed`` the registry's ``DeployedStrategy`` (versions only).
    ``weights_of(bars)`` gives the weights it trades, as the registry loads it.
    """

    kind: str
    name: str
    version: Any = None
    deployed: Any = None

    @property
    def strategy(self) -> str | None:
        return None if self.deployed is None else self.deployed.strategy.name

    @property
    def params(self) -> dict[str, Any] | None:
        if self.deployed is None:
            return None
        p = self.deployed.params
        return dict(p.to_dict() if hasattr(p, "to_dict") else p)

    @property
    def warmup(self) -> int:
        if self.deployed is None:
            return 0
        return int(self.deployed.strategy.warmup(self.deployed.strategy.Params.from_dict(self.params)))

    def weights_of(self, bars: Bars) -> np.ndarray:
        if self.deployed is not None:
            return np.asarray(self.deployed.target_weights(bars), dtype=np.float64)
        if self.name == "cash":
            return np.zeros(bars.shape)
        have = np.isfinite(bars.close)
        count = have.sum(axis=1, keepdims=True)
        return np.where(have, 1.0 / np.maximum(count, 1), 0.0)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.version is not None:
            out.update(version=int(self.version.version), strategy=self.strategy, params=self.params,
                       artifact_sha256=getattr(self.version, "artifact_sha256", None))
        return out


def champion_of(registry: Any, name: str, baseline: str) -> Champion:
    """The deployment's current champion (its ``champion`` alias), or the baseline."""
    from harness import errors

    if registry is None:
        return Champion(kind="baseline", name=baseline)
    try:
        mv = registry.get(name, "champion")
    except getattr(errors, "UnknownAliasError", InputError):
        return Champion(kind="baseline", name=baseline)
    return Champion(kind="version", name=f"v{mv.version}", version=mv, deployed=registry.load(name, mv.version))


# ---------------------------------------------------------------------------- evaluation
class FixedSplit:
    """A one-fold splitter with given train and test rows (the holdout evaluation)."""

    def __init__(self, train: np.ndarray, test: np.ndarray) -> None:
        self.train = np.asarray(train, dtype=np.int64)
        self.test = np.asarray(test, dtype=np.int64)

    def split(self, x: Any):
        yield self.train, self.test

    def spec(self) -> str:
        return f"fixed:train={self.train.size},test={self.test.size}"


@dataclass(frozen=True, eq=False)
class Candidate:
    """One registered (or registrable) candidate of a retrain.

    ``rank`` (0 = best), ``trial`` (study trial number), ``params`` (all of them),
    ``value`` (the objective on the trials' out-of-sample folds), ``holdout_returns``,
    ``holdout_metrics`` (sharpe, total_return, ... on the holdout), ``stats`` (the
    engine's stats of the holdout backtest: trades, max drawdown, turnover, exposure),
    ``model`` (the final fit of a trainable strategy), ``artifact`` (its saved folder),
    ``weights_sha256``, ``version`` (the registry's ``ModelVersion`` once registered) and
    ``attributions`` (:class:`harness.explain.Attributions` on the holdout blocks; None
    where they could not be computed, the reason in ``RetrainResult.stats``).
    """

    rank: int
    trial: int
    params: dict[str, Any]
    value: Any
    holdout_returns: np.ndarray = field(repr=False)
    holdout_metrics: dict[str, float]
    stats: dict[str, Any]
    model: Any = field(default=None, repr=False)
    artifact: Path | None = None
    weights_sha256: str | None = None
    version: Any = None
    attributions: Any = field(default=None, repr=False)


def _metrics(r: np.ndarray, ppy: float) -> dict[str, float]:
    from harness.optimize._folds import OBJECTIVES, metric_of_returns

    return {k: metric_of_returns(r, k, ppy) for k in OBJECTIVES}


def _holdout_stats(evaluator: Any, a: int, b: int, warm: int, weights_of: Any, config: Any) -> dict[str, Any]:
    """The engine's stats of the holdout block (the same weights and bars the returns come from)."""
    from harness.engine import backtest

    sub, w, skip = evaluator.block_weights(a, b, warm, weights_of)
    if skip:  # the first row is the decision bar before the holdout: trade it, do not count it
        pass
    res = backtest(sub, weights=w, config=config)
    st = res.stats
    keys = {"trades": "Number of Trades", "max_drawdown": "Max Drawdown [%]", "turnover": "Turnover [x]",
            "exposure": "Exposure Time [%]", "sharpe": "Sharpe Ratio", "total_return": "Total Return [%]"}
    out: dict[str, Any] = {}
    for k, name in keys.items():
        v = st.get(name)
        v = None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v
        if v is not None and k in ("max_drawdown", "exposure", "total_return"):
            v = float(v) / 100.0  # fractions, like the optimiser's metrics
        out[k] = int(v) if k == "trades" and v is not None else (None if v is None else float(v))
    gross = np.abs(np.nan_to_num(w)).sum(axis=1)
    out["max_leverage"] = float(gross.max()) if gross.size else 0.0
    return out


def evaluate_window(window: Any, strategy: Any, params: Any, config: Any, *, seed: int, champion: Champion
                    ) -> tuple[np.ndarray, Any, Any]:
    """``(holdout returns, fitted model or None, weights_of)`` of ``params`` on ``window``'s
    holdout: a trainable strategy is fitted on the window minus the holdout first."""
    from harness.optimize import FoldEvaluator

    bars = window.bars
    hs = window.holdout_start
    ev = FoldEvaluator(bars, strategy, FixedSplit(np.arange(hs), np.arange(hs, bars.n_bars)), config)
    model = None
    if getattr(strategy, "trainable", False):
        model = strategy.fit(bars[:hs], params, seed)
        weights_of = model.target_weights
    else:
        def weights_of(b: Bars) -> np.ndarray:
            return strategy.target_weights(b, params)
    r = ev.returns_of(np.arange(hs, bars.n_bars), weights_of, int(strategy.warmup(params)))
    return r, model, weights_of


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class RetrainResult:
    """What :func:`retrain` returns.

    ``outcome``: ``"candidates"`` (registered; the best is ``challenger``) or
    ``"no_change"`` (the best candidate is the champion; nothing registered).
    ``timed_out``: the study stopped at ``[retrain] timeout`` (what finished was used).
    ``candidates`` (best first), ``champion`` (:class:`Champion`), ``window``
    (:class:`~harness.retrain.TrainingWindow`); the evidence arrays: ``holdout_times``,
    ``champion_returns`` (the champion's holdout returns), ``holdout_fold_ids``,
    ``trial_returns`` (bars x trials OOS returns of every complete trial),
    ``trial_numbers``, ``trial_fold_ids``, ``trial_times``, ``trial_benchmark_returns``
    (the champion's returns on the trials' bars); ``n_trials`` (trials evaluated, the N
    of DSR), ``stats`` (DSR, PBO, study counts, timings), ``study`` (the
    :class:`~harness.optimize.OptimizationResult`), ``evidence`` (the gate's
    ``Evidence``), ``evidence_path``, ``retrain_id``, ``trigger`` (the audited trigger),
    ``run_id`` (the retrain's own MLflow run, ``harness.kind`` ``retrain``; None untracked).
    """

    deployment: str
    retrain_id: str
    reason: str
    outcome: str
    timed_out: bool
    window: Any
    candidates: list[Candidate]
    champion: Champion
    holdout_times: np.ndarray = field(repr=False)
    champion_returns: np.ndarray = field(repr=False)
    holdout_fold_ids: np.ndarray = field(repr=False)
    trial_returns: np.ndarray = field(repr=False)
    trial_numbers: list[int] = field(repr=False)
    trial_fold_ids: np.ndarray = field(repr=False)
    trial_times: np.ndarray = field(repr=False)
    trial_benchmark_returns: np.ndarray = field(repr=False)
    n_trials: int
    stats: dict[str, Any]
    study: Any = field(repr=False)
    snapshot_id: str | None = None
    data_digest: str | None = None
    trigger: dict[str, Any] | None = None
    evidence: Any = field(default=None, repr=False)
    evidence_path: Path | None = None
    frequency: str = "1d"
    run_id: str | None = None

    @property
    def challenger(self) -> Candidate | None:
        return self.candidates[0] if self.candidates and self.outcome == "candidates" else None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what the audit records and the CLI prints)."""
        return _jsonable({
            "deployment": self.deployment, "retrain_id": self.retrain_id, "reason": self.reason,
            "outcome": self.outcome, "timed_out": self.timed_out, "window": self.window.describe(),
            "champion": self.champion.describe(), "n_trials": self.n_trials, "stats": self.stats,
            "candidates": [{"rank": c.rank, "trial": c.trial, "params": c.params, "value": c.value,
                            "holdout": c.holdout_metrics, "stats": c.stats,
                            "version": None if c.version is None else int(c.version.version),
                            "weights_sha256": c.weights_sha256,
                            "attributions": _attribution_summary(c.attributions)} for c in self.candidates],
            "champion_holdout": _metrics(self.champion_returns, _ppy(self.frequency)),
            "snapshot_id": self.snapshot_id, "data_digest": self.data_digest,
            "evidence_path": None if self.evidence_path is None else str(self.evidence_path),
        })

    def arrays(self) -> dict[str, np.ndarray]:
        """Every evidence array, by name (what the artifact's ``arrays.npz`` holds)."""
        out = {"holdout_times": self.holdout_times, "champion_returns": self.champion_returns,
               "holdout_fold_ids": self.holdout_fold_ids, "trial_returns": self.trial_returns,
               "trial_numbers": np.asarray(self.trial_numbers, dtype=np.int64),
               "trial_fold_ids": self.trial_fold_ids, "trial_times": self.trial_times,
               "trial_benchmark_returns": self.trial_benchmark_returns}
        for c in self.candidates:
            out[f"candidate_{c.rank}_returns"] = c.holdout_returns
        return out


def _attribution_summary(att: Any) -> dict[str, dict[str, float]] | None:
    """Method -> feature -> importance (the full record is ``attributions/candidate-<rank>.json``)."""
    if att is None:
        return None
    return {m: {k: (v if math.isfinite(v) else None) for k, v in fi.as_mapping().items()}
            for m, fi in att.methods.items()}


def _holdout_attributions(window: Any, strat: Any, params: Any, config: Any, model: Any, seed: int,
                          n_blocks: int) -> tuple[Any, str | None]:
    """``(attributions, error)`` of a candidate on the holdout's ``n_blocks`` blocks (the gate's
    blocks, :func:`_holdout_blocks`, as rows of the window)."""
    from harness.explain import attributions

    ids = _holdout_blocks(window.holdout, n_blocks)
    folds = [window.holdout_start + np.flatnonzero(ids == k) for k in np.unique(ids)]
    try:
        return attributions(strat, params, window.bars, folds=folds, config=config, model=model, seed=seed), None
    except InputError as exc:
        return None, str(exc)


def _ppy(frequency: str) -> float:
    from market_data.frequency import periods_per_year

    return periods_per_year(frequency)


def _jsonable(x: Any) -> Any:
    from harness.optimize._result import _jsonable as j

    return j(x)


# ---------------------------------------------------------------------------- pipeline
def _normalise(strat: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    return dict(strat.Params.from_dict(dict(params)).to_dict())


def _ranked_trials(opt: Any, direction: str) -> list[Any]:
    import optuna

    complete = [t for t in opt.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.number in opt.oos_returns]
    if len(opt.objectives) == 1:
        sign = -1.0 if direction == "maximize" else 1.0
        return sorted(complete, key=lambda t: (sign * float(t.value), t.number))
    front = {t.number for t in opt.study.best_trials}
    d = opt.lineage["directions"][0]
    sign = -1.0 if d == "maximize" else 1.0
    return sorted(complete, key=lambda t: (t.number not in front, sign * float(t.values[0]), t.number))


def _fold_ids(evaluator: Any, cv: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fold id per OOS bar, row of each OOS bar)`` in the trials' OOS order."""
    from harness.validation import CombinatorialPurgedCV

    if isinstance(cv, CombinatorialPurgedCV):
        b = cv.group_bounds(n)
        rows = np.arange(int(b[0]), int(b[-1]))
        return (np.searchsorted(b, rows, "right") - 1).astype(np.int64), rows
    ids = np.concatenate([np.full(te.size, k, dtype=np.int64) for k, (_, te) in enumerate(evaluator.folds)])
    rows = np.concatenate([te for _, te in evaluator.folds])
    return ids, rows


def _champion_on_folds(evaluator: Any, cv: Any, champion: Champion, n: int) -> np.ndarray:
    from harness.validation import CombinatorialPurgedCV

    parts = [evaluator.returns_of(te, champion.weights_of, champion.warmup) for _, te in evaluator.folds]
    if isinstance(cv, CombinatorialPurgedCV):
        return cv.assemble_paths(n, parts).mean(axis=0)
    return np.concatenate(parts)


def _holdout_blocks(h: int, n_blocks: int) -> np.ndarray:
    """Fold ids of the holdout bars: ``n_blocks`` contiguous, near-equal blocks (for fold_stability)."""
    k = max(1, min(int(n_blocks), h))
    return (np.arange(h) * k // max(h, 1)).astype(np.int64)


def _same_model(a: Any, b: Any) -> bool:
    """Two fitted models with bit-identical weights and normalisation."""
    if a is None or b is None or set(a.state) != set(b.state):
        return False
    same = all(np.array_equal(np.asarray(a.state[k]), np.asarray(b.state[k])) for k in a.state)
    for k in ("x_mean", "x_std", "y_scale"):
        same = same and np.array_equal(np.asarray(getattr(a, k, None)), np.asarray(getattr(b, k, None)))
    return bool(same)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def study_storage(name: str) -> str:
    """The deployment's persistent Optuna storage: the journal file
    ``<home>/deployments/<name>/optuna.journal`` (Optuna's journal format with one fsync
    per finished trial; resumable, and ``optuna-dashboard <file>`` opens it)."""
    from harness.retrain._state import deployment_dir

    return f"journal:{deployment_dir(name) / 'optuna.journal'}"


def _load_bars(spec: Any, snapshot: str | None) -> Bars:
    from harness._bars import load_bars

    d = spec.data
    return load_bars(spec.symbols, start=d.start, end=d.end, frequency=d.frequency, snapshot=snapshot)


def _trigger_row(bars: Bars, trigger_time: int | None) -> int:
    if trigger_time is None:
        return bars.n_bars - 1
    i = int(np.searchsorted(bars.timestamps, int(trigger_time), "left"))
    if i >= bars.n_bars or int(bars.timestamps[i]) != int(trigger_time):
        from market_data.bars import _fmt_ts

        raise InputError(f"the trigger bar {_fmt_ts(int(trigger_time))} is not among the deployment's bars "
                         f"({_fmt_ts(bars.timestamps[0])} .. {_fmt_ts(bars.timestamps[-1])}) at snapshot "
                         f"{bars.snapshot_id}")
    return i


def _audit(kind: str, name: str, payload: Mapping[str, Any], audit: Any) -> dict | None:
    if audit is False:
        return None
    if audit is None:
        from harness import audit as audit_mod

        return audit_mod.append(kind, actor=ACTOR, deployment=name, payload=_jsonable(dict(payload)))
    return audit.append(kind, actor=ACTOR, deployment=name, payload=_jsonable(dict(payload)))


def retrain(deployment: Any, *, reason: str, snapshot: str | None = None, registry: Any = None,
            trigger: Any = None, spec: Any = None, labels: np.ndarray | None = None, storage: Any = None,
            audit: Any = None, progress: bool = False, register: bool = True, track: bool | None = None,
            dask: Any = None) -> RetrainResult:
    """Retrain ``deployment`` (a name, or a :class:`~harness.deploy.DeploymentSpec`) now.

    ``reason``: why (``initial``, ``regime_change``, ``max_age``, ``manual``, free text).
    ``snapshot``: the data snapshot to train on (default: the latest; recorded in the
    ``retrain_triggered`` record). ``trigger``: a :class:`~harness.regime.RegimeChange`
    or a mapping with at least ``timestamp`` (the trigger bar; default: the last bar of
    the snapshot); a mapping may carry ``detector_digest``. ``registry``: a
    ``harness.registry.Registry`` (default: the home registry). ``labels``: the online
    regime labels of the deployment's bars (default: from the persisted detector state;
    only the ``regime`` window needs them). ``storage``: the Optuna storage (default: the
    deployment's journal file; ``":memory:"`` keeps nothing). ``audit``: an
    ``AuditTrail`` (default: the home trail; ``False``: none). ``register=False`` scores
    the candidates without registering them (dry run). ``track`` (default: when
    registering) logs the study as an MLflow run whose id every registered version records,
    and the retrain itself as a run of kind ``retrain`` (:func:`log_retrain`: its params,
    holdout metrics, the evidence folder and the study's trials; ``result.run_id``).
    ``dask`` (a ``distributed.Client``, ``"local[:N]"`` or ``"tcp://HOST:PORT"``) evaluates
    the trials on a Dask cluster (driver-side ask/tell, see :func:`harness.optimize`).

    Features: the whole retrain runs inside :func:`strategies.features.use_store` on the
    home bar store, so a trainable strategy (``mlp``) trains and is scored from the
    features materialised from the training snapshot when they exist (``harness features
    materialise --set mlp``), and computes them otherwise (the same values, bit for bit).
    What it read is in ``result.stats["features"]`` and in each registered version's
    ``features["from_store"]``.
    """
    from harness._bars import home_store_if_any
    from strategies.features import use_store

    with use_store(home_store_if_any()) as usage:
        return _retrain(deployment, reason=reason, snapshot=snapshot, registry=registry, trigger=trigger, spec=spec,
                        labels=labels, storage=storage, audit=audit, progress=progress, register=register,
                        track=track, dask=dask, usage=usage)


def _retrain(deployment: Any, *, reason: str, snapshot: str | None, registry: Any, trigger: Any, spec: Any,
             labels: np.ndarray | None, storage: Any, audit: Any, progress: bool, register: bool,
             track: bool | None, dask: Any, usage: Any) -> RetrainResult:
    """:func:`retrain`'s body, inside the feature store block whose ``usage`` it records."""
    import optuna

    import strategies
    from harness.deploy import DeploymentSpec, resolve
    from harness.engine import code_version
    from harness.optimize import FoldEvaluator, optimize
    from harness.retrain._window import training_window

    if not isinstance(reason, str) or not reason.strip():
        raise InputError(f"reason must be a non-empty string, got {reason!r}")
    t_start = time.perf_counter()
    if spec is None:
        spec = deployment if isinstance(deployment, DeploymentSpec) else resolve(str(deployment))
    name = spec.name
    if register and registry is None:
        from harness.registry import Registry

        registry = Registry.open()
    strat = strategies.get(spec.strategy.name)
    config = spec.costs
    seed = int(spec.optimize.seed or 0)

    # -- the data at the snapshot, the trigger bar, and the audit record of the trigger
    bars = _load_bars(spec, snapshot)
    trig = _trigger_dict(trigger)
    row = _trigger_row(bars, None if trig is None else trig.get("timestamp"))
    bars_at = bars[:row + 1]
    from market_data.bars import _fmt_ts

    trig_payload = {"reason": reason, "snapshot_id": bars.snapshot_id, "trigger_bar": row,
                    "trigger_time": _fmt_ts(bars.timestamps[row]), "spec_hash": spec.hash,
                    "window": spec.retrain.window}
    if trig is not None:
        trig_payload["regime_change"] = trig
    triggered = _audit("retrain_triggered", name, trig_payload, audit)
    retrain_id = _retrain_id(spec, bars.snapshot_id, int(bars.timestamps[row]), reason)

    # -- the window
    if spec.retrain.window_spec.kind == "regime" and labels is None:
        from harness.retrain._state import DetectorState

        labels = DetectorState.load(name).labels_at(bars_at.timestamps)
    window = training_window(bars_at, spec.retrain, spec.cv.splitter(), trigger=row, labels=labels, strategy=strat)
    train = window.train_bars

    # -- the champion and the study
    champion = champion_of(registry, name, spec.baseline)
    warm = None
    if spec.retrain.warm_start_champion and champion.deployed is not None and champion.strategy == strat.name:
        space_keys = set(spec.search_space()) | set(strat.search_space())
        warm = {k: v for k, v in champion.params.items() if k in space_keys}
    objective = spec.optimize.objective
    objective = objective if isinstance(objective, str) else tuple(objective)
    study_name = f"{name}-{retrain_id}"
    if storage is None:
        storage = study_storage(name)
    done = 0
    if not (isinstance(storage, str) and storage.strip().lower() in (":memory:", "memory")):
        from harness.optimize._storage import is_journal_url, journal_storage

        if is_journal_url(storage):
            storage = journal_storage(storage)  # one object for the count and the study
        try:
            done = len(optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False))
        except KeyError:
            done = 0
    cv = spec.cv.splitter()
    tracked = register if track is None else bool(track)
    timeout = spec.retrain.timeout_seconds()
    t_study = time.perf_counter()
    opt = optimize(train, strat, n_trials=max(0, spec.optimize.trials - done), objective=objective, cv=cv,
                   pruner=optuna.pruners.NopPruner(), storage=storage, study_name=study_name, seed=seed,
                   n_jobs=1, warm_start=warm, config=config, search_space=spec.search_space(), timeout=timeout,
                   progress=progress, track=tracked, dask=dask)
    study_s = time.perf_counter() - t_study
    n_done = len(opt.study.get_trials(deepcopy=False))
    timed_out = timeout is not None and n_done < spec.optimize.trials
    if not opt.oos_returns:
        raise InputError(f"retrain of {name!r}: no trial completed"
                         + (f" within the timeout of {timeout:g} s" if timed_out else "")
                         + "; nothing to register")

    # -- the trials' evidence: OOS matrix, fold ids, the champion on the same bars
    evaluator = FoldEvaluator(train, strat, cv, config)
    trial_mat, numbers = opt.returns_matrix()
    fold_ids, oos_rows = _fold_ids(evaluator, cv, train.n_bars)
    bench = _champion_on_folds(evaluator, cv, champion, train.n_bars)

    # -- candidates: the top_k distinct trials, refitted and scored on the holdout
    direction = opt.lineage["directions"][0]
    ranked = _ranked_trials(opt, direction)
    fixed = {k: v for k, v in spec.search_space().items() if not isinstance(v, (list, tuple, dict))}
    seen: set[str] = set()
    picked = []
    for t in ranked:
        full = _normalise(strat, {**fixed, **t.params})
        key = json.dumps(full, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        picked.append((t, full))
        if len(picked) == spec.retrain.top_k:
            break
    hs = window.holdout_start
    hold_eval = FoldEvaluator(window.bars, strat, FixedSplit(np.arange(hs), np.arange(hs, window.n_bars)), config)
    ppy = _ppy(bars.frequency)
    art_root = _artifact_root(name, retrain_id)
    candidates = []
    attribution_s, attribution_errors = 0.0, {}
    for rank, (t, full) in enumerate(picked):
        p = strat.Params.from_dict(full)
        r, model, weights_of = evaluate_window(window, strat, p, config, seed=seed, champion=champion)
        stats = _holdout_stats(hold_eval, hs, window.n_bars, int(strat.warmup(p)), weights_of, config)
        t_attr = time.perf_counter()
        explained, why = _holdout_attributions(window, strat, p, config, model, seed, evaluator.n_folds)
        attribution_s += time.perf_counter() - t_attr
        if why is not None:
            attribution_errors[str(rank)] = why
        artifact = sha = None
        if model is not None:
            artifact = Path(model.save(art_root / f"model-{rank}"))
            sha = _sha256_file(artifact / "weights.pt")
        value = t.value if len(opt.objectives) == 1 else list(t.values)
        candidates.append(Candidate(rank=rank, trial=t.number, params=full, value=value, holdout_returns=r,
                                    holdout_metrics=_metrics(r, ppy), stats=stats, model=model, artifact=artifact,
                                    weights_sha256=sha, attributions=explained))
    champ_r = hold_eval.returns_of(np.arange(hs, window.n_bars), champion.weights_of, champion.warmup)

    # -- no change?
    best = candidates[0]
    same = champion.deployed is not None and champion.strategy == strat.name \
        and _normalise(strat, champion.params) == best.params
    if same and getattr(strat, "trainable", False):
        same = _same_model(best.model, getattr(champion.deployed, "model", None))
    outcome = "no_change" if same else "candidates"

    n_eval = opt.n_evaluated_trials()
    stats = {"n_trials_requested": spec.optimize.trials, "n_trials_in_study": n_done,
             "n_trials_complete": len(opt.oos_returns), "n_trials_evaluated": n_eval,
             "best_trial": opt.best_trial, "best_value": opt.best_value, "objective": list(opt.objectives),
             "study_name": study_name, "study_seconds": study_s, "run_id": opt.lineage.get("run_id"),
             "cv": cv.spec(), "n_folds": evaluator.n_folds, "attribution_seconds": attribution_s}
    if attribution_errors:
        stats["attribution_errors"] = attribution_errors
    try:
        stats["deflated_sharpe"] = opt.deflated_sharpe()
    except InputError as exc:
        stats["deflated_sharpe"] = None
        stats["deflated_sharpe_error"] = str(exc)
    try:
        stats["pbo"] = opt.pbo().pbo
    except InputError as exc:
        stats["pbo"] = None
        stats["pbo_error"] = str(exc)
    if window.fallback:
        stats["window_fallback"] = window.fallback
    features_used = usage.to_dict() if (usage.stored or usage.computed) else None
    if features_used is not None:
        stats["features"] = features_used

    result = RetrainResult(
        deployment=name, retrain_id=retrain_id, reason=reason, outcome=outcome, timed_out=timed_out, window=window,
        candidates=candidates, champion=champion,
        holdout_times=window.bars.timestamps[hs:].copy(), champion_returns=champ_r,
        holdout_fold_ids=_holdout_blocks(window.holdout, evaluator.n_folds), trial_returns=trial_mat,
        trial_numbers=list(numbers), trial_fold_ids=fold_ids, trial_times=train.timestamps[oos_rows].copy(),
        trial_benchmark_returns=bench, n_trials=n_eval, stats=stats, study=opt, snapshot_id=bars.snapshot_id,
        data_digest=window.bars.digest(), trigger=trig, frequency=bars.frequency,
    )

    # -- register, audit, store the evidence
    if outcome == "no_change" or not register:
        result = _with_evidence(result, art_root)
        result = _tracked(result, spec, config, seed, art_root) if tracked else result
        if register:
            _audit("retrain_completed", name, {"retrain_id": retrain_id, "outcome": outcome, "run_id": result.run_id,
                                               "spec_hash": spec.hash, "reason": reason, "trigger_ns": int(window.trigger_time),
                                               "champion": champion.describe(), "timed_out": timed_out,
                                               "window": window.describe(), "stats": stats,
                                               "triggered_seq": None if triggered is None else triggered.get("seq")},
                   audit)
        return result
    registered = []
    cv_text = cv.spec()
    for c in candidates:
        tags = {"retrain_id": retrain_id, "reason": reason, "rank": str(c.rank), "trial": str(c.trial),
                "study": study_name, "window": json.dumps(_jsonable(window.describe()), sort_keys=True),
                "cv": cv_text, "holdout_sharpe": repr(c.holdout_metrics.get("sharpe")), "spec_hash": spec.hash,
                "timed_out": str(timed_out).lower()}
        mv = registry.register(name, strategy=strat.name, params=c.params, config=config, symbols=spec.symbols,
                               frequency=bars.frequency, snapshot_id=bars.snapshot_id,
                               data_digest=window.bars.digest(), run_id=opt.lineage.get("run_id"),
                               code_version=code_version(), seed=seed,
                               artifact_path=c.artifact, tags=tags, attributions=c.attributions,
                               features=None if features_used is None else {"from_store": features_used})
        c = _replace(c, version=mv)
        registered.append(c)
        _audit("candidate_registered", name, {"retrain_id": retrain_id, "version": int(mv.version), "rank": c.rank,
                                              "trial": c.trial, "params": c.params, "holdout": c.holdout_metrics,
                                              "stats": c.stats, "snapshot_id": bars.snapshot_id,
                                              "weights_sha256": c.weights_sha256}, audit)
    registry.set_challenger(name, registered[0].version.version)
    result = _with_evidence(_replace(result, candidates=registered), art_root)
    result = _tracked(result, spec, config, seed, art_root) if tracked else result
    _audit("retrain_completed", name, {"retrain_id": retrain_id, "outcome": outcome, "timed_out": timed_out,
                                       "run_id": result.run_id,
                                       "spec_hash": spec.hash, "reason": reason, "trigger_ns": int(window.trigger_time),
                                       "challenger": int(registered[0].version.version),
                                       "versions": [int(c.version.version) for c in registered],
                                       "champion": champion.describe(), "window": window.describe(),
                                       "stats": stats, "evidence_path": str(result.evidence_path),
                                       "seconds": time.perf_counter() - t_start}, audit)
    return result


def _tracked(result: RetrainResult, spec: Any, config: Any, seed: int, folder: Path) -> RetrainResult:
    """``result`` with the id of its MLflow run (None, with one warning, when tracking failed)."""
    from harness.registry._tracking import track_or_warn

    return _replace(result, run_id=track_or_warn(log_retrain, result, spec=spec, config=config, seed=seed,
                                                 folder=folder))


def log_retrain(result: RetrainResult, *, spec: Any, config: Any, seed: int, folder: Path) -> str:
    """Log one retrain as an MLflow run of kind ``retrain``; returns its id.

    Params: the deployment, reason, retrain id, outcome, window, CV, objective, trials and
    the candidates' versions. Metrics: the study's best value, DSR, PBO, trial counts, and
    the holdout metrics of the champion (``champion_holdout_<m>``) and of each candidate
    (``candidate_<rank>_holdout_<m>``), and the best candidate's (the challenger's) feature
    attributions, ``attribution.<method>.<feature>`` (``permutation``; ``integrated_gradients``
    for torch models). Artifacts: the retrain's evidence folder (``summary.json``,
    ``arrays.npz``, ``evidence/``, ``attributions/candidate-<rank>.json``, fitted models) and
    the study's ``study/summary.json``, ``study/trials.csv`` and ``study/oos_returns.npz``.
    """
    import tempfile

    from harness.registry._tracking import log_run, metric_key

    w = result.window.describe()
    st = result.stats
    best = result.candidates[0] if result.candidates else None
    versions = [int(c.version.version) for c in result.candidates if c.version is not None]
    lineage = {"snapshot_id": result.snapshot_id, "data_digest": result.data_digest, "symbols": list(spec.symbols),
               "frequency": result.frequency, "start": w["start"], "end": w["end"], "strategy": spec.strategy.name,
               "params": None if best is None else dict(best.params), "config": config.to_dict(), "seed": seed,
               "deployment": result.deployment, "retrain_id": result.retrain_id, "reason": result.reason,
               "outcome": result.outcome, "window": w, "trigger": result.trigger, "spec_hash": spec.hash,
               "study_name": st.get("study_name"), "study_run_id": st.get("run_id"),
               "champion": result.champion.describe(), "versions": versions}
    params = {"deployment": result.deployment, "reason": result.reason, "retrain_id": result.retrain_id,
              "outcome": result.outcome, "timed_out": result.timed_out, "cv": st.get("cv"),
              "objective": ",".join(st.get("objective") or []), "n_trials": st.get("n_trials_requested"),
              "top_k": spec.retrain.top_k, "seed": seed, "champion": result.champion.name,
              "window": {k: w[k] for k in ("kind", "requested", "bars", "holdout", "start", "end", "holdout_start")},
              "versions": ",".join(map(str, versions)) or "none"}
    metrics: dict[str, float] = {}
    for k in ("best_value", "deflated_sharpe", "pbo", "n_trials_evaluated", "n_trials_complete", "n_trials_in_study"):
        v = st.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            metrics[k] = float(v)
    rows = [("champion_holdout", _metrics(result.champion_returns, _ppy(result.frequency)))]
    rows += [(f"candidate_{c.rank}_holdout", c.holdout_metrics) for c in result.candidates]
    for prefix, values in rows:
        for k, v in values.items():
            if v is not None and math.isfinite(float(v)):
                metrics[f"{prefix}_{metric_key(k)}"] = float(v)
    if best is not None and best.attributions is not None:
        for method, fi in best.attributions.methods.items():
            for feature, v in fi.as_mapping().items():
                if math.isfinite(v):
                    metrics[f"attribution.{method}.{metric_key(feature)}"] = float(v)
    tags = {"harness.deployment": result.deployment, "harness.retrain_id": result.retrain_id,
            "harness.study": st.get("study_name")}
    with tempfile.TemporaryDirectory(prefix="harness-retrain-") as tmp:
        study = result.study.save(Path(tmp) / "study")
        return log_run(kind="retrain", lineage=lineage, metrics=metrics, params=params, seed=seed, folder=folder,
                       artifacts={"study": study}, tags=tags, run_name=f"{result.deployment}-{result.retrain_id}")


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)


def _trigger_dict(trigger: Any) -> dict[str, Any] | None:
    if trigger is None:
        return None
    if isinstance(trigger, Mapping):
        d = dict(trigger)
    else:  # a RegimeChange
        d = {"bar": trigger.bar, "since": trigger.since, "from_label": trigger.from_label,
             "to_label": trigger.to_label, "volatility": trigger.volatility, "timestamp": trigger.timestamp,
             "kind": getattr(trigger, "kind", "label")}
    if d.get("timestamp") is None:
        raise InputError(f"a trigger needs the timestamp of its bar, got {d!r}")
    from harness.regime import LABEL_NAMES
    from market_data.bars import _fmt_ts

    d["timestamp"] = int(d["timestamp"])
    d.setdefault("time", _fmt_ts(d["timestamp"]))
    for k in ("from_label", "to_label"):
        if d.get(k) is not None:
            d.setdefault(k.replace("label", "name"), LABEL_NAMES[int(d[k])])
    return d


def _retrain_id(spec: Any, snapshot_id: str | None, trigger_time: int, reason: str) -> str:
    """Deterministic per (spec, snapshot, trigger bar, reason): a rerun after a crash resumes the study."""
    from market_data.bars import _fmt_ts

    h = hashlib.blake2b(f"{spec.hash}|{snapshot_id}|{trigger_time}|{reason}".encode(), digest_size=4).hexdigest()
    day = _fmt_ts(trigger_time).replace("-", "").replace(":", "").replace(" ", "T")[:15]
    return f"{day}-{h}"


def _artifact_root(name: str, retrain_id: str) -> Path:
    from harness.config import paths

    return paths().artifacts / "retrains" / name / retrain_id


def _with_evidence(result: RetrainResult, folder: Path) -> RetrainResult:
    """Build the gate's ``Evidence`` (when ``harness.gate`` is installed) and store it with
    the raw arrays and the summary under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "arrays.npz", **result.arrays())
    for c in result.candidates:
        if c.attributions is not None:
            (folder / "attributions").mkdir(exist_ok=True)
            (folder / "attributions" / f"candidate-{c.rank}.json").write_text(
                json.dumps(c.attributions.to_dict(), indent=2, sort_keys=True, allow_nan=False))
    evidence = None
    if result.candidates and result.outcome == "candidates":
        evidence = gate_evidence(result)
        if evidence is not None:
            evidence.save(folder / "evidence")
    result = _replace(result, evidence=evidence, evidence_path=folder)
    (folder / "summary.json").write_text(json.dumps(result.summary(), indent=2, sort_keys=True))
    return result


def gate_evidence(result: RetrainResult, candidate: int = 0) -> Any:
    """The gate's ``Evidence`` for one candidate of ``result`` (None when ``harness.gate`` is absent).

    Paired holdout returns (candidate vs champion) with block ids, every trial's OOS
    returns with the champion's on the same bars, the number of trials evaluated, and the
    candidate's holdout stats in the gate's units: ``max_drawdown`` as a positive fraction,
    ``turnover`` as one-way traded notional per year in multiples of equity, ``exposure``
    as the largest gross exposure ``sum |w|``.
    """
    import dataclasses

    try:
        from harness.gate import Evidence
    except ImportError:
        return None
    c = result.candidates[candidate]
    n = max(1, c.holdout_returns.size)
    turnover = c.stats.get("turnover")
    mdd = c.stats.get("max_drawdown")
    values = {
        "challenger_returns": c.holdout_returns, "champion_returns": result.champion_returns,
        "fold_ids": result.holdout_fold_ids, "n_trials": int(result.n_trials), "trial_returns": result.trial_returns,
        "trial_benchmark_returns": result.trial_benchmark_returns, "frequency": result.frequency,
        "timestamps": result.holdout_times, "trades": c.stats.get("trades"),
        "max_drawdown": None if mdd is None else abs(float(mdd)),
        "turnover": None if turnover is None else float(turnover) * _ppy(result.frequency) / n,
        "exposure": c.stats.get("max_leverage"), "strategy": result.study.lineage.get("strategy"),
        "params": dict(c.params), "bars": result.window.bars,
        "meta": _jsonable({"deployment": result.deployment, "retrain_id": result.retrain_id, "rank": c.rank,
                           "trial": c.trial, "snapshot_id": result.snapshot_id, "data_digest": result.data_digest,
                           "window": result.window.describe(), "champion": result.champion.describe(),
                           "version": None if c.version is None else int(c.version.version)}),
    }
    accepted = {f.name for f in dataclasses.fields(Evidence)}
    return Evidence(**{k: v for k, v in values.items() if k in accepted})
