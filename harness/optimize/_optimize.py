"""``optimize()``: Optuna studies whose objective is an out-of-sample metric over CV folds."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError, InputError, ParamError
from harness.optimize._folds import OBJECTIVES, FoldEvaluator, check_objective, metric_of_returns
from harness.optimize._result import OptimizationResult
from market_data import Bars

__all__ = ["optimize", "resolve_search_space"]

_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}$")
_MEMORY = (":memory:", "memory")


def _default_cv(bars: Bars):
    from harness.validation import WalkForward

    n = bars.n_bars
    if n < 16:
        raise InputError(f"optimize needs at least 16 bars for its default walk-forward cv, got {n}")
    return WalkForward(n // 4, n // 8)


def resolve_search_space(strategy: Any, overrides: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
    """``(space, fixed)``: the strategy's Optuna distributions with ``overrides`` applied.

    An override is an ``optuna.distributions`` object, ``[low, high]`` (int when both
    bounds are ints), a table ``{low, high, step, log}`` or ``{choices = [...]}``, or a
    plain value, which fixes the parameter (it is then not searched).
    """
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    space = dict(strategy.search_space())
    fixed: dict[str, Any] = {}
    fields = set(strategy.Params.field_names())
    for name, v in (overrides or {}).items():
        if name not in fields:
            import difflib

            close = difflib.get_close_matches(name, sorted(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ParamError(f"strategy {strategy.name!r} has no parameter {name!r}{hint} "
                             f"(parameters: {', '.join(sorted(fields))})")
        if isinstance(v, BaseDistribution):
            space[name] = v
            continue
        if isinstance(v, Mapping):
            if "choices" in v:
                space[name] = CategoricalDistribution(list(v["choices"]))
                continue
            low, high = v.get("low"), v.get("high")
            if low is None or high is None:
                raise ParamError(f"search space of {name!r} needs low and high (or choices), got {dict(v)}")
            step, log = v.get("step"), bool(v.get("log", False))
        elif isinstance(v, Sequence) and not isinstance(v, str):
            if len(v) != 2:
                raise ParamError(f"search space of {name!r} must be [low, high], got {list(v)}")
            (low, high), step, log = v, None, False
        else:
            fixed[name] = v
            space.pop(name, None)
            continue
        if not low <= high:
            raise ParamError(f"search space of {name!r}: low {low} is above high {high}")
        if all(isinstance(x, int) and not isinstance(x, bool) for x in (low, high)) \
                and (step is None or isinstance(step, int)) and strategy.Params._types.get(name) is not float:
            space[name] = IntDistribution(int(low), int(high), log=log, step=int(step or 1))
        else:
            space[name] = FloatDistribution(float(low), float(high), log=log,
                                            step=None if step is None else float(step))
    return space, fixed


def _suggest(trial: Any, name: str, dist: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise InputError(f"unsupported distribution for {name!r}: {dist!r}")


def _storage(storage: Any, name: str) -> tuple[Any, str, Path | None]:
    """(storage for optuna, its description, folder for OOS return sidecars or None)."""
    import optuna

    from harness.config import paths

    sidecar = paths().results / "studies" / name / "oos_returns"
    if storage is None:
        storage = paths().ensure().optuna_url
    if isinstance(storage, str) and storage.strip().lower() in _MEMORY:
        return optuna.storages.InMemoryStorage(), "memory", None
    if isinstance(storage, optuna.storages.InMemoryStorage):
        return storage, "memory", None
    if isinstance(storage, str) and storage.startswith("sqlite:"):
        return _sqlite_storage(storage), storage, sidecar
    from harness.optimize._storage import is_journal_url, journal_storage

    if is_journal_url(storage):  # journal:<path>: a journal file, one fsync per finished trial
        return journal_storage(storage), storage, sidecar
    if isinstance(storage, str):
        return storage, storage, sidecar
    return storage, type(storage).__name__, sidecar


def _with_heartbeat(storage: Any) -> Any:
    """An RDB storage (given as a URL or an RDBStorage without one) with trial heartbeats on.

    Used for Dask studies, whose trials are in flight outside the driver's ``optimize``
    loop; a storage object that already has a heartbeat, or is not RDB, is kept as it is.
    """
    import optuna

    from harness.optimize._dask import HEARTBEAT_S

    if isinstance(storage, str):
        storage = _sqlite_storage(storage) if storage.startswith("sqlite:") else optuna.storages.RDBStorage(storage)
    if isinstance(storage, optuna.storages.RDBStorage) and storage.heartbeat_interval is None:
        storage.heartbeat_interval = HEARTBEAT_S
        storage.grace_period = 4 * HEARTBEAT_S
    return storage


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_storage(url: str) -> Any:
    """An Optuna RDB storage on SQLite in WAL mode with ``synchronous=NORMAL``.

    Optuna commits every ``trial.report``; with SQLite's default rollback journal each
    commit costs several fsyncs (measured 0.72 s per 16-report trial on the shared dev
    box, 0.14 s in WAL mode). The file stays a plain SQLite database that
    optuna-dashboard opens as usual.
    """
    import optuna
    import sqlalchemy

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
    sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # connections opened while creating the tables lack the pragmas
    return storage


def _default_name(strategy: str, bars: Bars, cv: Any, objectives: tuple[str, ...]) -> str:
    h = hashlib.blake2b(f"{bars.digest()}|{cv.spec()}|{','.join(objectives)}".encode(), digest_size=4).hexdigest()
    return f"{strategy}-{'-'.join(objectives)}-{h}"


def _lineage(bars: Bars, strat: Any, objectives, directions, cv, seed, name, storage_desc, config,
             space, fixed, n_folds) -> dict[str, Any]:
    from harness._lineage import source_lineage
    from market_data.bars import _fmt_ts

    return {
        "snapshot_id": bars.snapshot_id, "data_digest": bars.digest(), "symbols": list(bars.symbols),
        "frequency": bars.frequency,
        "start": _fmt_ts(bars.timestamps[0]) if bars.n_bars else None,
        "end": _fmt_ts(bars.timestamps[-1]) if bars.n_bars else None,
        "strategy": strat.name, "objectives": list(objectives), "directions": list(directions),
        "cv": cv.spec(), "n_folds": n_folds, "seed": seed, "study_name": name, "storage": storage_desc,
        "config": config.to_dict(), "search_space": {k: repr(v) for k, v in space.items()},
        "fixed_params": dict(fixed), **source_lineage(),
    }


_CHECKED_KEYS = ("data_digest", "strategy", "objectives", "directions", "cv")


def optimize(bars: Bars, strategy: Any, *, n_trials: int, objective: str | Sequence[str] = "sharpe",
             cv: Any = None, sampler: Any = None, pruner: Any = None, storage: Any = None,
             study_name: str | None = None, seed: int | None = None, n_jobs: int = 1,
             warm_start: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
             directions: Sequence[str] | None = None, config: Any = None,
             search_space: Mapping[str, Any] | None = None, timeout: float | None = None,
             progress: bool = True, dask: Any = None, batch_size: int | None = None,
             track: bool = False) -> OptimizationResult:
    """Search ``strategy``'s parameters with Optuna, scoring each trial out of sample.

    Each trial's parameters are evaluated on every fold of ``cv`` (a splitter or its text
    form, default ``WalkForward(n/4, n/8)`` bars); the trial's value is ``objective``
    (``"sharpe"``, ``"sortino"``, ``"total_return"``, ``"cagr"``, ``"calmar"``,
    ``"max_drawdown"``, ``"ann_volatility"``; annualised by the bar frequency) of the
    out-of-sample returns of all folds concatenated (with :class:`CombinatorialPurgedCV`:
    the mean of the metric over its backtest paths, and the trial's OOS return series is
    the per-bar average of the paths; with a walk-forward ``step`` shorter than ``test``
    the test windows overlap and the concatenation repeats bars). Each test block starts
    flat with ``config.init_cash``. After each fold the running value
    is reported (``trial.report``) so pruners can stop bad trials early (default
    ``MedianPruner(n_startup_trials=10, n_warmup_steps=n_folds // 2)``; pass
    ``optuna.pruners.NopPruner()`` to score every trial fully, e.g. for PBO; then no
    per-fold report is written, since nothing would read it).
    ``best_params`` include the fixed parameters of ``search_space``. A sequence of objectives (e.g. ``("sharpe", "max_drawdown")``)
    makes a multi-objective study whose Pareto front is ``result.pareto``.

    Studies persist in the home folder's SQLite Optuna storage (``storage=None``) under
    ``study_name`` (default derived from strategy, data, cv and objective) and resume
    when run again with the same name: ``n_trials`` *new* trials are added.
    ``storage=":memory:"`` keeps nothing; ``"journal:<path>"`` is an Optuna journal file
    with one fsync per finished trial (:func:`harness.optimize._storage.journal_storage`). ``warm_start`` enqueues known parameter sets
    first (e.g. the champion's). ``seed`` seeds the sampler (``TPESampler``, or
    ``NSGAIISampler`` for several objectives) and the training of trainable strategies,
    so ``n_jobs=1`` studies are reproducible. ``search_space`` overrides distributions
    (see :func:`resolve_search_space`). Trials whose parameters fail validation (e.g.
    ``fast >= slow``) are pruned with the reason in ``user_attrs["invalid"]``.

    A metric that is undefined on the OOS returns (Sharpe of a strategy that never
    trades) counts as 0 and is flagged in ``user_attrs["undefined"]``.

    ``dask`` (a ``distributed.Client``, ``"local[:N]"`` or ``"tcp://HOST:PORT"``) evaluates
    the trials on a Dask cluster with driver-side ask/tell: the driver asks ``batch_size``
    trials at a time (default: twice the workers), the workers score them (the fold
    evaluator is shipped once), and the driver tells them in trial-number order once the
    batch is done. The budget is exact (``n_trials`` are asked, never more); pruning is off
    (every trial is scored on every fold); a trial whose task fails, or whose worker dies
    past Dask's retries, is told FAIL, so none is left RUNNING; on RDB storages the driver
    records heartbeats for the trials in flight, and stale RUNNING trials of a crashed
    driver are failed when the study is resumed. Given ``seed`` and ``batch_size`` the study
    is the same whatever the number of workers (see :mod:`harness.optimize._dask`).

    ``track=True`` logs the search as an MLflow run (:func:`harness.registry.log_optimization`);
    its id is ``result.lineage["run_id"]`` (None when tracking failed: one warning).
    """
    import optuna

    import strategies
    from harness.engine import BacktestConfig
    from harness.validation import parse_cv

    if not isinstance(bars, Bars):
        raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 0:
        raise InputError(f"n_trials must be a non-negative integer, got {n_trials!r}")
    strat = strategies.get(strategy)
    objectives = (objective,) if isinstance(objective, str) else tuple(objective)
    if not objectives:
        raise InputError("objective must name at least one metric")
    for o in objectives:
        check_objective(o)
    if directions is None:
        directions = [OBJECTIVES[o][1] for o in objectives]
    directions = [str(d) for d in directions]
    if len(directions) != len(objectives) or any(d not in ("maximize", "minimize") for d in directions):
        raise InputError(f"directions must be one 'maximize' or 'minimize' per objective {objectives}, "
                         f"got {directions}")
    cv = _default_cv(bars) if cv is None else parse_cv(cv)
    config = BacktestConfig() if config is None else config
    if not isinstance(config, BacktestConfig):
        raise InputError(f"config must be a BacktestConfig, got {type(config).__name__}")
    space, fixed = resolve_search_space(strat, search_space)
    if not space:
        raise InputError(f"strategy {strat.name!r} has nothing to search (empty search space)")
    evaluator = FoldEvaluator(bars, strat, cv, config)
    name = study_name or _default_name(strat.name, bars, cv, objectives)
    if not isinstance(name, str) or not _STUDY_NAME.match(name):
        raise InputError(f"study name {name!r} must match [A-Za-z0-9][A-Za-z0-9_.-]* (it becomes a path)")
    storage_obj, storage_desc, sidecar = _storage(storage, name)
    if dask is not None:
        storage_obj = _with_heartbeat(storage_obj)
    single = len(objectives) == 1
    sampler_given, pruner_given = sampler is not None, pruner is not None
    if sampler is None:
        sampler = optuna.samplers.TPESampler(seed=seed) if single else optuna.samplers.NSGAIISampler(seed=seed)
    prune_from = 0  # first fold after which should_prune() is asked (it reads every trial: costly on RDB)
    # with NopPruner nothing reads the per-fold reports: skip them (one storage write per fold fewer)
    reports = not isinstance(pruner, optuna.pruners.NopPruner)
    if pruner is None:
        prune_from = max(1, evaluator.n_folds // 2)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=10, n_warmup_steps=prune_from) \
            if single else optuna.pruners.NopPruner()
    lineage = _lineage(bars, strat, objectives, directions, cv, seed, name, storage_desc, config, space, fixed,
                       evaluator.n_folds)
    # what `harness reproduce` needs to replay the search (not checked on resume)
    lineage["space_json"] = {k: optuna.distributions.distribution_to_json(d) for k, d in space.items()}
    lineage["sampler"] = type(sampler).__name__ if sampler_given else "default"
    lineage["pruner"] = type(pruner).__name__ if pruner_given else "default"
    lineage["n_jobs"] = int(n_jobs)
    lineage["dask"] = None if dask is None else {"batch_size": batch_size}
    lineage["warm_start"] = [dict(p) for p in ([warm_start] if isinstance(warm_start, Mapping)
                                               else list(warm_start or []))]

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=name, storage=storage_obj, sampler=sampler, pruner=pruner,
                                    directions=directions, load_if_exists=True)
        previous = study.user_attrs.get("lineage")
        if previous:
            diff = [k for k in _CHECKED_KEYS if previous.get(k) != lineage[k]]
            if diff:
                k = diff[0]
                raise ConfigError(f"study {name!r} in {storage_desc} was created with {k}={previous.get(k)!r}, "
                                  f"not {lineage[k]!r}; choose another study name to start a new study")
        else:
            study.set_user_attr("lineage", lineage)
        for params in ([warm_start] if isinstance(warm_start, Mapping) else list(warm_start or [])):
            study.enqueue_trial(dict(params), skip_if_exists=True)

        returns: dict[int, np.ndarray] = {}
        ppy = evaluator.ppy
        trial_seed = int(seed or 0)
        def objective_fn(trial: Any) -> Any:
            values = {k: _suggest(trial, k, d) for k, d in space.items()}
            try:
                params = strat.Params.from_dict({**fixed, **values})
            except ParamError as exc:
                trial.set_user_attr("invalid", str(exc))
                raise optuna.TrialPruned(str(exc)) from None

            def on_fold(k: int, parts: list[np.ndarray], fold_values: list[list[float | None]]) -> None:
                if single and reports:
                    running = metric_of_returns(np.concatenate(parts), objectives[0], ppy)
                    trial.report(0.0 if math.isnan(running) else running, step=k)
                    if k >= prune_from and trial.should_prune():
                        trial.set_user_attr("fold_values", fold_values)
                        raise optuna.TrialPruned(f"pruned after fold {k}")

            out, oos = _record(trial, _score(evaluator, params, objectives, cv, trial_seed, on_fold))
            returns[trial.number] = oos
            if sidecar is not None:
                sidecar.mkdir(parents=True, exist_ok=True)
                np.save(sidecar / f"trial_{trial.number}.npy", oos)
            return out[0] if single else out

        callbacks = []
        bar = None
        if progress and n_trials:
            bar = _ProgressBar(n_trials, name, objectives[0])
            callbacks.append(bar)
        try:
            if bar is not None:
                bar.start()
            if dask is not None:
                from harness.optimize._dask import optimize_on_dask

                optimize_on_dask(study, evaluator, strat, space, fixed, objectives, cv, trial_seed, int(n_trials),
                                 timeout=timeout, dask=dask, batch_size=batch_size, returns=returns,
                                 sidecar=sidecar, callbacks=callbacks)
            else:
                study.optimize(objective_fn, n_trials=int(n_trials), timeout=timeout, n_jobs=int(n_jobs),
                               callbacks=callbacks, gc_after_trial=False)
        finally:
            if bar is not None:
                bar.stop()
    finally:
        optuna.logging.set_verbosity(verbosity)
    result = _result(study, objectives, returns, sidecar, ppy, lineage, fixed)
    if track:
        from harness.registry._tracking import log_optimization, track_or_warn

        result.lineage["run_id"] = track_or_warn(log_optimization, result, n_new_trials=int(n_trials))
    return result


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _score(evaluator: Any, params: Any, objectives: tuple[str, ...], cv: Any, seed: int,
           on_fold: Any = None) -> tuple[list[float], np.ndarray, list, list | None, bool]:
    """Score ``params`` on every fold of ``evaluator``: (values, OOS returns, per-fold values,
    per-path values (CPCV) or None, whether a value was undefined and counted as 0).

    ``on_fold(k, parts, fold_values)`` runs after each fold (reporting and pruning); the
    in-process study and the Dask workers both score through here.
    """
    from harness.validation import CombinatorialPurgedCV

    ppy = evaluator.ppy
    parts: list[np.ndarray] = []
    fold_values: list[list[float | None]] = []
    for k in range(evaluator.n_folds):
        r = evaluator.fold_returns(k, params, seed=seed)
        parts.append(r)
        fold_values.append([_json_float(metric_of_returns(r, o, ppy)) for o in objectives])
        if on_fold is not None:
            on_fold(k, parts, fold_values)
    path_values = None
    if isinstance(cv, CombinatorialPurgedCV):  # score the backtest paths, keep their average
        mat = cv.assemble_paths(evaluator.bars.n_bars, parts)
        oos = mat.mean(axis=0)
        pv = [[metric_of_returns(row, o, ppy) for o in objectives] for row in mat]
        path_values = [[_json_float(v) for v in row] for row in pv]
        raw = [float(np.nanmean([row[i] for row in pv])) for i in range(len(objectives))]
    else:
        oos = np.concatenate(parts)
        raw = [metric_of_returns(oos, o, ppy) for o in objectives]
    undefined = any(math.isnan(v) for v in raw)
    return [0.0 if math.isnan(v) else v for v in raw], oos, fold_values, path_values, undefined


def _record(trial: Any, scored: tuple) -> tuple[list[float], np.ndarray]:
    """Set a scored trial's user attributes; returns (values, OOS returns)."""
    out, oos, fold_values, path_values, undefined = scored
    trial.set_user_attr("fold_values", fold_values)
    if path_values is not None:
        trial.set_user_attr("path_values", path_values)
    if undefined:
        trial.set_user_attr("undefined", True)
    return out, oos


def _result(study: Any, objectives: tuple[str, ...], returns: dict[int, np.ndarray], sidecar: Path | None,
            ppy: float, lineage: dict[str, Any], fixed: dict[str, Any]) -> OptimizationResult:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    done = {t.number for t in complete}
    for t in complete:  # trials of earlier runs of a resumed study
        if t.number not in returns and sidecar is not None and (sidecar / f"trial_{t.number}.npy").exists():
            returns[t.number] = np.load(sidecar / f"trial_{t.number}.npy")
    pareto: list[dict[str, Any]] = []
    best_params: dict[str, Any] = {}
    best_value: Any = None
    best_trial = None
    if complete:
        if len(objectives) == 1:
            bt = study.best_trial
            best_params, best_value, best_trial = {**fixed, **bt.params}, float(bt.value), bt.number
        else:
            front = sorted(study.best_trials, key=lambda t: t.number)
            pareto = [{"number": t.number, "values": list(t.values), "params": {**fixed, **t.params}} for t in front]
            bt = front[0]
            best_params, best_value, best_trial = dict(pareto[0]["params"]), tuple(bt.values), bt.number
    trials = study.trials_dataframe()
    lineage = {**lineage, "n_trials_total": len(study.get_trials(deepcopy=False))}
    return OptimizationResult(study=study, objectives=objectives, best_params=best_params, best_value=best_value,
                              best_trial=best_trial, pareto=pareto, trials=trials,
                              oos_returns={k: returns[k] for k in sorted(returns) if k in done},
                              periods_per_year=ppy, lineage=lineage)


class _ProgressBar:
    """A rich progress bar as an Optuna callback: trials done, best value so far."""

    def __init__(self, total: int, name: str, objective: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[best]}"), transient=False)
        self.task = self.progress.add_task(f"optimize {name}", total=total, best="")
        self.objective = objective

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def __call__(self, study: Any, trial: Any) -> None:
        best = ""
        try:
            if len(study.directions) == 1:
                best = f"best {self.objective} {study.best_value:.4g}"
        except ValueError:
            pass
        self.progress.update(self.task, advance=1, best=best)
