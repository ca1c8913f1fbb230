"""``reproduce(run_id)``: rerun a logged backtest, sweep, optimisation or fit from its lineage.

The run's ``lineage.json`` artifact holds a ``reproduce`` block: the kind, the data
(snapshot id, symbols, frequency, span, digest), the strategy, its params or grid or
search space, the ``BacktestConfig`` and the seed. The bars are read again from the
home store *at that snapshot* (their digest must match the recorded one), the work is
done again (an optimisation replays every trial of its study in memory, with the same
sampler seed), and every logged metric is compared with the new value, exactly: a
reproduction is bit for bit or it is not one. A fit also compares the digest of its
weights. The code version and environment digest are compared too; a difference is a
warning (the numbers may still agree), not a failure.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import NotReproducibleError

__all__ = ["reproduce", "Reproduction", "REPRODUCIBLE_KINDS"]

REPRODUCIBLE_KINDS = ("backtest", "sweep", "optimize", "run", "fit")


@dataclass(frozen=True)
class Reproduction:
    """The outcome of :func:`reproduce`.

    ``identical`` is True when every metric (and for a fit the weights digest) came out
    the same. ``rows``: one dict per compared value (``metric``, ``logged``,
    ``reproduced``, ``same``); ``differences`` the rows that differ; ``warnings`` the
    lineage that changed (code version, environment, uncommitted changes).
    """

    run_id: str
    kind: str
    identical: bool
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if not r["same"]]

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return str(v) if isinstance(v, float) and not math.isfinite(v) else v

        return {"run_id": self.run_id, "kind": self.kind, "identical": self.identical, "warnings": self.warnings,
                "compared": len(self.rows),
                "differences": [{k: clean(v) for k, v in r.items()} for r in self.differences]}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _lineage_of(run_id: str) -> tuple[Any, dict[str, Any]]:
    import os

    from harness.errors import TrackingError
    from harness.registry import _mlflow as m
    from harness.registry._tracking import _reason, get_run

    run = get_run(run_id)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file: no progress bar
    with tempfile.TemporaryDirectory(prefix="harness-repro-") as tmp:
        try:
            local = m.client().download_artifacts(run.info.run_id, "lineage.json", tmp)
            lin = json.loads(Path(local).read_text())
        except Exception as exc:
            raise TrackingError(f"run {run_id} has no readable lineage.json artifact: {_reason(exc)}") from exc
    return run, lin


def _bars(spec: dict[str, Any], run_id: str) -> Any:
    from harness._bars import load_bars

    snap = spec.get("snapshot_id")
    if not snap:
        raise NotReproducibleError(f"run {run_id} has no data snapshot id: its bars were not read from the bar "
                                   "store, so they cannot be read again (backtest bars from `load_bars` / "
                                   "`BarStore.read` to make runs reproducible)")
    start, end = spec.get("start"), spec.get("end")
    if spec.get("start_ns") is not None:
        import pandas as pd

        start, end = pd.Timestamp(int(spec["start_ns"]), tz="UTC"), pd.Timestamp(int(spec["end_ns"]), tz="UTC")
    bars = load_bars(spec.get("symbols"), start=start, end=end, frequency=spec.get("frequency") or "1d",
                     snapshot=snap)
    want = spec.get("data_digest")
    if want and bars.digest() != want:
        raise NotReproducibleError(f"run {run_id}: the bars read again at snapshot {snap} have digest "
                                   f"{bars.digest()}, the run recorded {want}")
    return bars


def _config(spec: dict[str, Any]) -> Any:
    from harness.engine import BacktestConfig

    return BacktestConfig.from_dict(spec.get("config") or {})


def _recompute(kind: str, spec: dict[str, Any], run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, extra values to compare) of the rerun."""
    from harness.registry import _tracking as t

    bars = _bars(spec, run_id)
    if kind == "backtest":
        from harness.engine import backtest

        if not spec.get("strategy"):
            raise NotReproducibleError(f"run {run_id} is a backtest of explicit weights; only strategy "
                                       "backtests can be rerun from their lineage")
        res = backtest(bars, spec["strategy"], spec.get("params"), config=_config(spec))
        return t.metrics_from_stats(res.stats), {}
    if kind == "sweep":
        from harness.sweep import sweep

        kwargs = {"metrics": tuple(spec["metrics"])} if spec.get("metrics") else {}
        df = sweep(bars, spec["strategy"], spec["grid"], config=_config(spec), progress=False, **kwargs)
        return t.sweep_metrics(df, spec.get("sort") or "sharpe", bool(spec.get("ascending"))), {}
    if kind in ("optimize", "run"):
        import optuna

        from harness.optimize import optimize

        for what in ("sampler", "pruner"):
            if spec.get(what) not in (None, "default"):
                raise NotReproducibleError(f"run {run_id} used a custom {what} ({spec[what]}); only the default "
                                           "seeded sampler and pruner can be replayed")
        space = {k: optuna.distributions.json_to_distribution(v) for k, v in (spec.get("space_json") or {}).items()}
        objectives = spec.get("objectives") or ["sharpe"]
        res = optimize(bars, spec["strategy"], n_trials=int(spec["n_trials"]),
                       objective=objectives[0] if len(objectives) == 1 else tuple(objectives),
                       directions=spec.get("directions"), cv=spec["cv"], storage=":memory:", seed=spec.get("seed"),
                       config=_config(spec), search_space={**(spec.get("fixed_params") or {}), **space},
                       warm_start=spec.get("warm_start") or None, progress=False)
        return t.optimization_metrics(res), {}
    if kind == "fit":
        from harness.registry._tracking import fit

        model = fit(bars, spec["strategy"], spec.get("params"), seed=int(spec.get("seed") or 0))
        return t.fit_metrics(model), {"harness.state_digest": t.state_digest(model)}
    raise NotReproducibleError(f"run {run_id} is of kind {kind!r}; reproduce reruns "
                               f"{', '.join(REPRODUCIBLE_KINDS)}")


def reproduce(run_id: str) -> Reproduction:
    """Rerun the logged run ``run_id`` from its lineage and compare every metric.

    Raises :class:`~harness.errors.UnknownRunError` for an unknown id and
    :class:`~harness.errors.NotReproducibleError` when the run lacks what a rerun needs
    (no ``reproduce`` lineage, bars not from the store, a snapshot whose data changed,
    a custom Optuna sampler).
    """
    from harness._lineage import source_lineage
    from harness.registry._tracking import _stored

    run, lin = _lineage_of(run_id)
    spec = lin.get("reproduce")
    kind = run.data.tags.get("harness.kind") or lin.get("kind") or "?"
    if not isinstance(spec, dict):
        raise NotReproducibleError(f"run {run_id} ({kind}) has no reproduce block in its lineage.json")
    kind = spec.get("kind", kind)
    warnings: list[str] = []
    now = source_lineage()
    tags = run.data.tags
    if tags.get("harness.code_version") != now["code_version"]:
        warnings.append(f"code version differs: run {tags.get('harness.code_version')}, now {now['code_version']}")
    if tags.get("harness.env_digest") != now["env_digest"]:
        warnings.append(f"environment digest differs: run {str(tags.get('harness.env_digest'))[:16]}, now "
                        f"{now['env_digest'][:16]} (compare the run's environment.txt with `pip freeze`)")
    if tags.get("harness.dirty") == "true" or now["dirty"]:
        warnings.append("the source tree had uncommitted changes when the run was logged or has them now: the "
                        "code version does not pin the code")
    if kind in ("optimize", "run") and int(lin.get("n_new_trials", spec.get("n_trials", 0))) \
            < int(spec.get("n_trials", 0)) and int(lin.get("n_new_trials", 0)) > 0:
        warnings.append(f"the run resumed a study ({lin.get('n_new_trials')} new of {spec.get('n_trials')} trials); "
                        "the replay runs all trials in one go, and a resumed sampler does not draw the same "
                        "sequence")
    if kind in ("optimize", "run") and int(spec.get("n_jobs") or 1) != 1:
        warnings.append(f"the run used n_jobs={spec.get('n_jobs')}: parallel trials are not reproducible; "
                        "the replay runs them one at a time")

    metrics, extra = _recompute(kind, spec, run_id)
    logged = dict(run.data.metrics)
    rows: list[dict[str, Any]] = []
    for key in sorted(set(logged) | set(metrics)):
        a = logged.get(key)
        b = _stored(metrics[key]) if key in metrics else None
        rows.append({"metric": key, "logged": a, "reproduced": b,
                     "same": a is not None and b is not None and _same(float(a), float(b))})
    for key, value in extra.items():
        a = tags.get(key)
        rows.append({"metric": key, "logged": a, "reproduced": value, "same": a == value})
    return Reproduction(run_id=run.info.run_id, kind=kind, identical=all(r["same"] for r in rows), rows=rows,
                        warnings=warnings)
