"""MLflow runs: one per backtest, sweep, optimisation, experiment, fit and retrain.

:func:`log_run` is the one writer; :func:`log_backtest`, :func:`log_sweep`,
:func:`log_optimization` and :func:`log_fit` turn a result into its arguments, and
``backtest(..., track=True)``, ``sweep``, ``optimize``, :func:`fit` and the CLI call them.

A run records:

- **tags** ``harness.kind``, ``harness.strategy``, ``harness.snapshot_id``,
  ``harness.data_digest``, ``harness.code_version``, ``harness.seed``, ``harness.dirty``
  and ``harness.env_digest`` (see :mod:`harness._lineage`); ``"none"`` where a value
  is missing;
- **params**: the strategy params under their names and the ``BacktestConfig`` as
  ``config.<field>`` (backtests, fits); the grid as ``grid.<name>`` (sweeps); the
  search space as ``space.<name>`` plus ``n_trials``, ``objective``, ``cv``, ``seed``
  and the best params as ``best.<name>`` (optimisations);
- **metrics** under MLflow-safe keys (:func:`metric_key`): a backtest's stats table
  (``"Total Return [%]"`` -> ``total_return_pct``, ``"Sharpe Ratio"`` -> ``sharpe_ratio``,
  ``"Max Drawdown Duration [bars]"`` -> ``max_drawdown_duration_bars``,
  ``"Turnover [x]"`` -> ``turnover_x``; the ``Start``/``End`` timestamps are lineage,
  not metrics); a sweep's best row (``best_<metric>``) plus ``n_rows`` and
  ``n_combinations``; an optimisation's ``best_value``, ``oos_<metric>``,
  ``deflated_sharpe``, ``pbo``, ``pbo_prob_loss``, ``n_trials``, ``n_complete``; a fit's
  training numbers (``val_loss``, ``val_loss_baseline``, ``train_loss``, ...; never
  its wall time). MLflow keeps ``inf`` as the largest float;
- **the bars as a dataset input**: digest ``Bars.digest()``, source the store URI plus
  the snapshot id (JSON), context the run kind;
- **artifacts**: ``lineage.json`` (with a ``reproduce`` block that
  :func:`harness.registry.reproduce` replays), ``environment.txt`` (the installed
  distributions behind ``harness.env_digest``), the result files (equity, trades,
  orders, the sweep table, trials...) and for trainable strategies the weights folder
  with its manifest (``model/``).

Everything goes through one client per process and a handful of calls (one
``log_batch`` for all params and metrics, one artifact upload), so a tracked backtest
costs tens of milliseconds more than an untracked one (``benchmarks/bench_tracking.py``).
A failure raises :class:`~harness.errors.TrackingError`; the callers that have written a
result already report it in one line and keep the result.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import InputError, TrackingError

__all__ = ["RUN_KINDS", "TAGS", "log_run", "log_backtest", "log_sweep", "log_optimization", "log_fit", "fit",
           "metric_key", "metrics_from_stats", "get_run", "store_uri", "track_or_warn"]

#: the ``harness.kind`` values; the MLflow experiment of a run is ``harness-<kind>``
RUN_KINDS = ("backtest", "sweep", "optimize", "run", "fit", "retrain")
#: the lineage tags every run carries
TAGS = ("harness.kind", "harness.strategy", "harness.snapshot_id", "harness.data_digest", "harness.code_version",
        "harness.seed", "harness.dirty", "harness.env_digest")

_MAX_PARAM = 6000  # MLflow's param value limit
_KEY_BAD = re.compile(r"[^0-9a-z]+")


# ----------------------------------------------------------------- names
def metric_key(name: str) -> str:
    """The MLflow-safe key of a stats name: lower case, ``[%]`` -> ``pct``, any other bracket
    keeps its content, every run of other characters becomes one ``_``
    (``"Max Drawdown [%]"`` -> ``max_drawdown_pct``, ``"Turnover [x]"`` -> ``turnover_x``)."""
    text = str(name).replace("[%]", " pct ").replace("%", " pct ")
    return _KEY_BAD.sub("_", text.lower()).strip("_")


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if hasattr(v, "item") and not hasattr(v, "isoformat"):
        v = v.item()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return None


def metrics_from_stats(stats: Mapping[str, Any] | Any) -> dict[str, float]:
    """The numeric entries of a stats table (``BacktestResult.stats``) under :func:`metric_key` keys."""
    out: dict[str, float] = {}
    for k, v in dict(stats).items():
        x = _number(v)
        if x is not None:
            out[metric_key(k)] = x
    return out


def _stored(v: float) -> float:
    """The value MLflow's SQL store gives back for ``v`` (``inf`` becomes the largest float)."""
    if math.isinf(v):
        return 1.7976931348623157e308 if v > 0 else -1.7976931348623157e308
    return v


def _text(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "isoformat"):
        return x.isoformat()
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def store_uri() -> str:
    """The URI of the home bar store (the dataset source of runs on its bars)."""
    from harness.config import paths

    return paths().data.as_uri()


# ----------------------------------------------------------------- writer
def log_run(*, kind: str, lineage: Mapping[str, Any], metrics: Mapping[str, float] | None = None,
            params: Mapping[str, Any] | None = None, strategy: str | None = None, seed: Any = None,
            folder: str | Path | None = None, artifacts: Mapping[str, Any] | None = None,
            tags: Mapping[str, Any] | None = None, experiment: str | None = None, run_name: str | None = None,
            dataset_source: str | None = None) -> str:
    """Log one finished MLflow run and return its id.

    ``kind`` is one of :data:`RUN_KINDS`; ``lineage`` the result's lineage record (at
    least ``snapshot_id`` and ``data_digest``; ``code_version``, ``dirty`` and
    ``env_digest`` are filled in from :mod:`harness._lineage` when missing, and
    ``symbols``/``frequency``/``start``/``end`` describe the dataset input). It is
    stored as the ``lineage.json`` artifact. ``metrics`` are logged as given (use
    :func:`metrics_from_stats` for a stats table; keys must be MLflow-safe),
    ``params`` flattened to strings (``{"config": {...}}`` -> ``config.<key>``).
    ``folder``: a results folder whose files become the run's artifacts; ``artifacts``:
    more, ``{artifact_dir: path}`` (a file or folder). ``tags`` are added to the
    :data:`TAGS`. The experiment is ``experiment`` or ``harness-<kind>``.

    The retrain pipeline calls this once per retrain (``kind="retrain"``). Raises
    :class:`TrackingError` (the run, if it was created, is marked FAILED).
    """
    from harness._lineage import environment, source_lineage

    if kind not in RUN_KINDS:
        raise InputError(f"run kind {kind!r} is not one of {', '.join(RUN_KINDS)}")
    if not isinstance(lineage, Mapping):
        raise InputError(f"lineage must be a mapping, got {type(lineage).__name__}")
    lin = {**source_lineage(), **dict(lineage)}
    for k, v in source_lineage().items():
        if lin.get(k) is None and v is not None:
            lin[k] = v
    lin["kind"] = kind
    strategy = strategy if strategy is not None else lin.get("strategy")
    all_tags = {
        "harness.kind": kind, "harness.strategy": strategy, "harness.snapshot_id": lin.get("snapshot_id"),
        "harness.data_digest": lin.get("data_digest") or lin.get("bars_digest"),
        "harness.code_version": lin.get("code_version"), "harness.seed": seed if seed is not None else lin.get("seed"),
        "harness.dirty": lin.get("dirty"), "harness.env_digest": lin.get("env_digest"),
        **dict(tags or {}),
    }
    try:
        from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

        from harness.registry import _mlflow as m

        uri = m.tracking_uri()
        client = m.client(uri)
        eid = _experiment(m, experiment or f"harness-{kind}", uri)
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(f"could not open the MLflow store: {_reason(exc)}") from exc

    run_id = None
    try:
        run = client.create_run(eid, run_name=run_name, tags={k: _text(v)[:8000] for k, v in all_tags.items()})
        run_id = run.info.run_id
        lin["run_id"] = run_id
        now = int(time.time() * 1000)
        flat = _flatten(params or {})
        p_list = [Param(k, v[:_MAX_PARAM]) for k, v in flat.items()]
        m_list = [Metric(str(k), float(v), now, 0) for k, v in (metrics or {}).items()
                  if v is not None and not isinstance(v, str)]
        p_chunks = [p_list[i:i + 100] for i in range(0, len(p_list), 100)] or [[]]
        m_chunks = [m_list[i:i + 1000] for i in range(0, len(m_list), 1000)] or [[]]
        for i in range(max(len(p_chunks), len(m_chunks))):  # one call for up to 100 params + 1000 metrics
            client.log_batch(run_id, metrics=m_chunks[i] if i < len(m_chunks) else [],
                             params=p_chunks[i] if i < len(p_chunks) else [], tags=[])
        digest = lin.get("data_digest") or lin.get("bars_digest")
        if digest:
            source = dataset_source or json.dumps({"uri": store_uri() if lin.get("snapshot_id") else None,
                                                   "snapshot_id": lin.get("snapshot_id")}, sort_keys=True)
            name = ",".join(lin.get("symbols") or [])[:200] or "bars"
            profile = json.dumps({k: lin.get(k) for k in ("frequency", "start", "end", "symbols")
                                  if lin.get(k) is not None}, default=str)
            ds = Dataset(name=f"{name}@{lin.get('frequency') or '?'}", digest=str(digest)[:36],
                         source_type="harness-bar-store", source=source, profile=profile)
            _log_inputs(client, run_id, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", kind)])])
        with tempfile.TemporaryDirectory(prefix="harness-run-") as tmp:
            # one upload of one folder: the result files (linked, not copied) and the lineage
            # (MLflow's local store copies linked files, but does not descend into linked folders)
            tmp_path = Path(tmp)
            folders = dict(artifacts or {})
            if folder is not None:
                for f in sorted(Path(folder).iterdir()):
                    if f.is_dir():
                        folders[f.name] = f
                    elif f.name not in ("lineage.json", "environment.txt"):
                        (tmp_path / f.name).symlink_to(f.resolve())
            (tmp_path / "lineage.json").write_text(json.dumps(_jsonable(lin), indent=2, sort_keys=True))
            (tmp_path / "environment.txt").write_text(environment()[1])
            # the run's artifact repository straight from its URI: MlflowClient.log_artifacts
            # would read the run back from the store first, once per call
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            repo = get_artifact_repository(run.info.artifact_uri)
            repo.log_artifacts(tmp)
            for sub, path in folders.items():
                if Path(path).is_dir():
                    repo.log_artifacts(str(path), sub)
                else:
                    repo.log_artifact(str(path), sub)
        client.set_terminated(run_id, "FINISHED")
    except Exception as exc:
        _EXPERIMENT_IDS.pop((uri, experiment or f"harness-{kind}"), None)  # it may have been deleted
        if run_id is not None:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # noqa: BLE001 - best effort; the first error is the one to report
                pass
        raise TrackingError(f"could not log the {kind} run{f' {run_id}' if run_id else ''}: {_reason(exc)}") \
            from exc
    _audit(run_id, kind, strategy, lin)
    return run_id


def _log_inputs(client: Any, run_id: str, datasets: list, attempts: int = 5) -> None:
    """``log_inputs``, safe when several processes log the same dataset at once.

    MLflow's SQL store looks the dataset up, then inserts it: two runs on the same data can
    both miss it and one insert then breaks the unique key (a rolled-back transaction, nothing
    half-written). Logging again finds the dataset the other process stored.
    """
    for attempt in range(attempts):
        try:
            client.log_inputs(run_id, datasets=datasets)
            return
        except Exception as exc:
            if attempt == attempts - 1 or not _is_integrity_error(exc):
                raise
            time.sleep(0.05 * (attempt + 1))


def _is_integrity_error(exc: BaseException | None) -> bool:
    """A unique-key clash anywhere in the exception's chain (sqlite3, psycopg2 or SQLAlchemy)."""
    seen = 0
    while exc is not None and seen < 10:
        if type(exc).__name__ in ("IntegrityError", "UniqueViolation"):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


_EXPERIMENT_IDS: dict[tuple[str, str], str] = {}


def _experiment(m: Any, name: str, uri: str) -> str:
    """The experiment id, looked up once per process (a query less per run)."""
    key = (uri, name)
    if key not in _EXPERIMENT_IDS:
        _EXPERIMENT_IDS[key] = m.ensure_experiment(name, uri=uri)
    return _EXPERIMENT_IDS[key]


def _audit(run_id: str, kind: str, strategy: str | None, lin: Mapping[str, Any]) -> None:
    try:
        from harness import audit
    except ImportError:  # harness.audit lands with the registry
        return
    try:
        audit.append("run_logged", actor="harness.registry",
                     payload={"run_id": run_id, "kind": kind, "strategy": strategy,
                              "snapshot_id": lin.get("snapshot_id"),
                              "data_digest": lin.get("data_digest") or lin.get("bars_digest"),
                              "code_version": lin.get("code_version")})
    except Exception as exc:
        raise TrackingError(f"run {run_id} was logged but its audit record could not be written: "
                            f"{_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = _text(_jsonable(v))
    return out


def track_or_warn(fn, *args: Any, **kwargs: Any) -> str | None:
    """``fn(*args, **kwargs)`` (a ``log_*`` function); a :class:`TrackingError` becomes one
    warning and None, so the Python functions with ``track=True`` never lose a result."""
    try:
        return fn(*args, **kwargs)
    except TrackingError as exc:
        warnings.warn(f"tracking failed: {exc}", RuntimeWarning, stacklevel=3)
        return None


def get_run(run_id: str) -> Any:
    """The MLflow run ``run_id`` of the home store; unknown -> :class:`~harness.errors.UnknownRunError`."""
    from harness.errors import UnknownRunError
    from harness.registry import _mlflow as m

    if not isinstance(run_id, str) or not re.fullmatch(r"[0-9a-f]{32}", run_id.strip()):
        raise UnknownRunError(f"run id {run_id!r} is not an MLflow run id (32 hex digits)")
    from mlflow.exceptions import MlflowException

    try:
        return m.client().get_run(run_id.strip())
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower():
            raise UnknownRunError(f"there is no run {run_id} in the MLflow store {m.tracking_uri()}") from None
        raise TrackingError(f"could not read run {run_id}: {_reason(exc)}") from exc


# ----------------------------------------------------------------- per kind
def _backtest_spec(lin: Mapping[str, Any]) -> dict[str, Any]:
    return {k: lin.get(k) for k in ("snapshot_id", "data_digest", "symbols", "frequency", "start", "end",
                                    "strategy", "params", "config")}


def log_backtest(result: Any, *, folder: str | Path | None = None, tags: Mapping[str, Any] | None = None,
                 run_name: str | None = None) -> str:
    """Log a :class:`~harness.BacktestResult` (stats, lineage, equity, trades); returns the run id.

    With ``folder`` (the CLI's results folder) its files are the artifacts; otherwise
    ``equity.csv`` and ``trades.csv`` are written to a temporary folder first.
    """
    lin = dict(result.lineage)
    lin["reproduce"] = {"kind": "backtest", **_backtest_spec(lin)}
    params = {**(lin.get("params") or {}), "config": lin.get("config") or {}}
    metrics = metrics_from_stats(result.stats)
    if folder is not None:
        return log_run(kind="backtest", lineage=lin, metrics=metrics, params=params, folder=folder, tags=tags,
                       run_name=run_name)
    with tempfile.TemporaryDirectory(prefix="harness-bt-") as tmp:
        write_backtest_files(result, Path(tmp), lineage=False)
        return log_run(kind="backtest", lineage=lin, metrics=metrics, params=params, folder=tmp, tags=tags,
                       run_name=run_name)


def write_backtest_files(result: Any, out: Path, *, lineage: bool = True, full: bool = False) -> None:
    """``equity.csv`` and ``trades.csv`` (and with ``full`` orders, positions, stats) into ``out``."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    if full:
        result.equity.to_frame().join(result.cash).to_csv(out / "equity.csv")
    else:  # the same file pandas writes, without its per-cell formatting cost (5,000 bars: ~2 ms)
        ts = np.datetime_as_string(result.bars.timestamps.view("M8[ns]"), unit="auto", timezone="UTC")
        rows = "\n".join(f"{t},{v!r}" for t, v in zip(ts.tolist(), result.equity_values.tolist(), strict=True))
        (out / "equity.csv").write_text(f"timestamp,equity\n{rows}\n")
    if full or "trades" in result._cache:
        result.trades.drop(columns=["entry_idx", "exit_idx"]).to_csv(out / "trades.csv", index=False)
    else:
        _trades_csv(result, out / "trades.csv")
    if full:
        result.orders.drop(columns=["idx"]).to_csv(out / "orders.csv", index=False)
        result.positions.to_csv(out / "positions.csv")
        (out / "stats.json").write_text(json.dumps(_jsonable(dict(result.stats)), indent=2))
    if lineage:
        (out / "lineage.json").write_text(json.dumps(_jsonable(result.lineage), indent=2, default=str))


def _trades_csv(result: Any, path: Path) -> None:
    """``trades.csv`` straight from the trade records (the columns of ``result.trades``
    without the bar indexes; duration in seconds): no DataFrame to build for a tracked run."""
    import csv

    import numpy as np

    from harness.engine.enums import EXIT_REASON_NAMES

    r = result.trade_records
    ts = result.bars.timestamps
    syms = np.asarray(result.bars.symbols, dtype=object)

    def when(idx: np.ndarray) -> list[str]:
        return np.datetime_as_string(ts[idx].view("M8[ns]"), unit="auto", timezone="UTC").tolist() if idx.size else []

    cols = ["symbol", "direction", "size", "entry_time", "entry_price", "exit_time", "exit_price", "pnl", "return",
            "fees", "entry_fees", "exit_fees", "duration_s", "exit_reason", "status"]
    dur = ((ts[r["exit_idx"]] - ts[r["entry_idx"]]) / 1e9).tolist() if r.size else []
    fees = (r["entry_fees"] + r["exit_fees"]).tolist()
    rows = zip(syms[r["col"]].tolist(), ["long" if d == 0 else "short" for d in r["direction"].tolist()],
               r["size"].tolist(), when(r["entry_idx"]), r["entry_price"].tolist(), when(r["exit_idx"]),
               r["exit_price"].tolist(), r["pnl"].tolist(), r["return"].tolist(), fees, r["entry_fees"].tolist(),
               r["exit_fees"].tolist(), dur, [EXIT_REASON_NAMES[i] for i in r["exit_reason"].tolist()],
               ["closed" if st == 1 else "open" for st in r["status"].tolist()], strict=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(rows)


def sweep_metrics(df: Any, sort: str = "sharpe", ascending: bool = False) -> dict[str, float]:
    """``best_<metric>`` of the best row by ``sort``, plus ``n_rows`` and ``n_combinations``."""
    out: dict[str, float] = {"n_rows": float(len(df)), "n_combinations": float(df.attrs.get("n_combinations", len(df)))}
    metrics = list(df.attrs.get("metrics") or [])
    if len(df) and sort in df.columns:
        best = df.sort_values(sort, ascending=ascending, na_position="last").iloc[0]
        for col in metrics:
            x = _number(best[col])
            if x is not None:
                out[f"best_{metric_key(col)}"] = x
    return out


def log_sweep(df: Any, *, sort: str = "sharpe", ascending: bool = False, folder: str | Path | None = None,
              tags: Mapping[str, Any] | None = None, run_name: str | None = None) -> str:
    """Log a :func:`harness.sweep` table: grid params, the best row's metrics, the table itself."""
    a = df.attrs
    lin = dict(a["lineage"])
    lin.update(metrics=list(a.get("metrics") or []), sort=sort, ascending=ascending,
               n_combinations=a.get("n_combinations"), n_rows=len(df), interrupted=a.get("interrupted", False))
    lin["reproduce"] = {"kind": "sweep", **_backtest_spec(lin), "grid": lin.get("grid"),
                        "metrics": lin["metrics"], "sort": sort, "ascending": ascending}
    grid = lin.get("grid")
    params: dict[str, Any] = {"sort": sort, "config": lin.get("config") or {}}
    if isinstance(grid, dict):
        params.update({f"grid.{k}": v for k, v in grid.items()})
    else:
        params["grid"] = grid
    metrics = sweep_metrics(df, sort, ascending)
    if folder is not None:
        return log_run(kind="sweep", lineage=lin, metrics=metrics, params=params, folder=folder, tags=tags,
                       run_name=run_name)
    with tempfile.TemporaryDirectory(prefix="harness-sweep-") as tmp:
        df.to_csv(Path(tmp) / "results.csv", index=False)
        return log_run(kind="sweep", lineage=lin, metrics=metrics, params=params, folder=tmp, tags=tags,
                       run_name=run_name)


def optimization_metrics(result: Any) -> dict[str, float]:
    """``best_value`` (``best_value_<objective>`` for several), ``oos_<metric>``, DSR, PBO, counts."""
    out: dict[str, float] = {"n_trials": float(len(result.trials)), "n_complete": float(len(result.oos_returns))}
    bv = result.best_value
    if isinstance(bv, tuple):
        for o, v in zip(result.objectives, bv, strict=False):
            out[f"best_value_{metric_key(o)}"] = float(v)
    elif bv is not None:
        out["best_value"] = float(bv)
    try:
        out.update({f"oos_{metric_key(k)}": float(v) for k, v in result.oos_metrics().items()})
    except InputError:
        pass
    try:
        out["deflated_sharpe"] = float(result.deflated_sharpe())
    except InputError:
        pass
    try:
        p = result.pbo()
        out["pbo"], out["pbo_prob_loss"] = float(p.pbo), float(p.prob_loss)
    except InputError:
        pass
    return out


def log_optimization(result: Any, *, kind: str = "optimize", n_new_trials: int | None = None,
                     folder: str | Path | None = None, tags: Mapping[str, Any] | None = None,
                     experiment: str | None = None, run_name: str | None = None) -> str:
    """Log an :class:`~harness.OptimizationResult` (``kind="run"`` for an experiment file)."""
    lin = dict(result.lineage)
    total = int(lin.get("n_trials_total", len(result.trials)))
    lin["n_new_trials"] = total if n_new_trials is None else int(n_new_trials)
    lin["reproduce"] = {"kind": kind, **_backtest_spec(lin),
                        **{k: lin.get(k) for k in ("objectives", "directions", "cv", "seed", "space_json",
                                                   "fixed_params", "sampler", "pruner", "n_jobs", "warm_start", "dask")},
                        "n_trials": total}
    params: dict[str, Any] = {"objective": ",".join(result.objectives), "cv": lin.get("cv"), "seed": lin.get("seed"),
                              "n_trials": lin["n_new_trials"], "study": lin.get("study_name"),
                              "config": lin.get("config") or {}}
    params.update({f"space.{k}": v for k, v in (lin.get("search_space") or {}).items()})
    params.update({f"fixed.{k}": v for k, v in (lin.get("fixed_params") or {}).items()})
    params.update({f"best.{k}": v for k, v in (result.best_params or {}).items()})
    metrics = optimization_metrics(result)
    all_tags = {"harness.study": lin.get("study_name"), **dict(tags or {})}
    if folder is not None:
        return log_run(kind=kind, lineage=lin, metrics=metrics, params=params, folder=folder, tags=all_tags,
                       seed=lin.get("seed"), experiment=experiment, run_name=run_name)
    with tempfile.TemporaryDirectory(prefix="harness-opt-") as tmp:
        result.save(tmp)
        return log_run(kind=kind, lineage=lin, metrics=metrics, params=params, folder=tmp, tags=all_tags,
                       seed=lin.get("seed"), experiment=experiment, run_name=run_name)


_FIT_METRICS = ("train_loss", "val_loss", "val_loss_baseline", "val_hit_rate", "val_ic", "best_epoch", "epochs_run",
                "n_train", "n_val")


def state_digest(model: Any) -> str:
    """SHA-256 of a fitted model's tensors (names, shapes, float32 bytes) and normalisation."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for k in sorted(model.state):
        arr = np.ascontiguousarray(model.state[k])
        h.update(k.encode() + b"\x00" + str(arr.shape).encode() + arr.tobytes())
    for arr in (model.x_mean, model.x_std, np.array([model.y_scale])):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


def fit_metrics(model: Any) -> dict[str, float]:
    """The deterministic training numbers of a fitted model (never its wall time)."""
    out = {}
    for k in _FIT_METRICS:
        x = _number(model.metrics.get(k))
        if x is not None:
            out[k] = x
    return out


def log_fit(model: Any, *, strategy: str = "mlp", folder: str | Path | None = None, kind: str = "fit",
            tags: Mapping[str, Any] | None = None, run_name: str | None = None) -> str:
    """Log a fitted trainable strategy: params, training metrics, the saved weights and manifest.

    ``folder``: where the model is (or is to be) saved; default a temporary folder.
    """
    from datetime import UTC, datetime

    data = dict(model.data)
    fmt = (lambda ns: datetime.fromtimestamp(int(ns) / 1e9, UTC).isoformat()) if data.get("start_ns") is not None \
        else (lambda ns: None)
    lin = {"snapshot_id": data.get("snapshot_id"), "data_digest": data.get("bars_digest"),
           "symbols": data.get("symbols"), "frequency": data.get("frequency"),
           "start": fmt(data.get("start_ns")), "end": fmt(data.get("end_ns")),
           "start_ns": data.get("start_ns"), "end_ns": data.get("end_ns"),
           "strategy": strategy, "params": model.params.to_dict(), "seed": model.seed,
           "model_code_version": model.code_version}
    lin["reproduce"] = {"kind": "fit", **{k: lin[k] for k in ("snapshot_id", "data_digest", "symbols", "frequency",
                                                               "start_ns", "end_ns", "strategy", "params", "seed")}}
    with tempfile.TemporaryDirectory(prefix="harness-fit-") as tmp:
        target = Path(folder) if folder is not None else Path(tmp) / "model"
        manifest = target / "manifest.json"
        if not manifest.exists():
            target = Path(model.save(target))
        sha = json.loads((target / "manifest.json").read_text()).get("weights_sha256")
        lin["weights_sha256"] = sha
        lin["state_digest"] = state_digest(model)
        metrics = fit_metrics(model)
        return log_run(kind=kind, lineage=lin, metrics=metrics, params=lin["params"], seed=model.seed,
                       artifacts={"model": target}, tags={"harness.weights_sha256": sha, "harness.state_digest": lin["state_digest"],
                             **dict(tags or {})},
                       run_name=run_name)


def fit(bars: Any, strategy: str = "mlp", params: Any = None, *, seed: int = 0, track: bool = False,
        save_to: str | Path | None = None) -> Any:
    """Fit a trainable strategy (its ``fit(bars, params, seed)``), optionally log it as an MLflow run.

    ``save_to`` saves the model there (a folder with ``manifest.json`` and ``weights.pt``).
    With ``track=True`` the run id is ``model.run_id`` (None when tracking failed: one
    warning, the model is kept).
    """
    import strategies

    strat = strategies.get(strategy)
    if not getattr(strat, "trainable", False):
        raise InputError(f"strategy {strat.name!r} is not trainable (it has no fit)")
    p = strat.Params() if params is None else (strat.Params.from_dict(params) if isinstance(params, Mapping)
                                               else params)
    model = strat.fit(bars, p, seed)
    folder = Path(model.save(save_to)) if save_to is not None else None
    model.run_id = track_or_warn(log_fit, model, strategy=strat.name, folder=folder) if track else None
    return model
