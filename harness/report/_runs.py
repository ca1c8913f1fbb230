"""Reports of logged MLflow runs: the run's lineage replayed into the same pages."""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.errors import InputError

__all__ = ["run_report", "SUPPORTED_KINDS"]

#: the ``harness.kind`` tags whose runs have a report
SUPPORTED_KINDS = ("backtest", "sweep", "optimize", "run", "retrain")


def run_report(run_id: str, path: str | Path | None = None) -> Path:
    """Write the report of the logged run ``run_id`` (a backtest, a sweep, an optimisation, an
    experiment run or a retrain) and log it as an artifact of that run; returns its path.

    A backtest is rerun from its lineage (snapshot, strategy, params, config), which the
    page says was identical to the logged metrics (or not); a sweep's page is built from
    its logged table (``results.csv`` or ``results.parquet``) and lineage, with the best
    row backtested again on its snapshot; an optimisation's page is built from its logged
    ``summary.json`` and ``trials.csv``; a retrain's page from its ``summary.json``,
    ``arrays.npz`` and ``study/`` artifacts, with the gate's decision on its challenger
    from the registry. Other kinds (``fit``) are an :class:`InputError`
    that names the supported ones.
    """
    from harness.registry import _mlflow as m
    from harness.registry._reproduce import _bars, _config, _lineage_of
    from harness.report import default_report_path

    run, lin = _lineage_of(run_id)
    kind = run.data.tags.get("harness.kind")
    out = Path(path) if path is not None else default_report_path(kind or "run", run_id[:12])
    if kind == "backtest":
        from harness.engine import backtest
        from harness.registry._tracking import metrics_from_stats
        from harness.report._backtest import backtest_page, from_result

        if not lin.get("strategy"):
            raise InputError(f"run {run_id} is a backtest of explicit weights; its report needs the weights: "
                             "use harness.report.backtest_report(result) on the result itself")
        res = backtest(_bars(lin, run_id), lin["strategy"], lin.get("params"), config=_config(lin))
        rerun = metrics_from_stats(res.stats)
        logged = run.data.metrics
        same = all(logged.get(k) == v or (v != v and logged.get(k) != logged.get(k)) for k, v in rerun.items())
        data = from_result(res)
        data.extra_lineage = {"run_id": run_id, "reproduced": "identical to the logged metrics" if same
                              else "DIFFERS from the logged metrics (see harness reproduce)"}
        page = backtest_page(data)
    elif kind == "sweep":
        from harness.report._sweep import best_backtest, sweep_from_dir, sweep_page

        names = {a.path for a in m.client().list_artifacts(run.info.run_id)}
        table = next((n for n in ("results.csv", "results.parquet") if n in names), None)
        if table is None:
            raise InputError(f"run {run_id} (sweep) has no results.csv or results.parquet artifact to report on")
        with tempfile.TemporaryDirectory(prefix="harness-report-") as tmp:
            m.client().download_artifacts(run.info.run_id, table, tmp)
            data = sweep_from_dir(Path(tmp), lineage=lin)
        data.logged = dict(run.data.metrics)
        data.extra_lineage = {"run_id": run_id}
        best_backtest(data)
        page = sweep_page(data)
    elif kind == "retrain":
        from harness.report._retrain import gate_records, retrain_from_dir, retrain_page

        names = {a.path for a in m.client().list_artifacts(run.info.run_id)}
        if "summary.json" not in names:
            raise InputError(f"run {run_id} (retrain) has no summary.json artifact to report on")
        with tempfile.TemporaryDirectory(prefix="harness-report-") as tmp:
            for name in ("summary.json", "arrays.npz", "study"):
                if name in names:
                    m.client().download_artifacts(run.info.run_id, name, tmp)
            data = retrain_from_dir(Path(tmp), lineage=lin)
        data.extra_lineage = {"run_id": run_id}
        gate_records(data)
        page = retrain_page(data)
    elif kind in ("optimize", "run"):
        from harness.report._optimization import optimization_from_dir, optimization_page

        with tempfile.TemporaryDirectory(prefix="harness-report-") as tmp:
            local = Path(m.client().download_artifacts(run.info.run_id, "", tmp))
            found = next((p.parent for p in local.rglob("summary.json") if (p.parent / "trials.csv").exists()), None)
            if found is None:
                raise InputError(f"run {run_id} ({kind}) has no summary.json and trials.csv artifacts to report on")
            data = optimization_from_dir(found)
            data.extra_lineage = {"run_id": run_id}
            page = optimization_page(data)
    else:
        raise InputError(f"run {run_id} is a {kind!r} run, which has no report; `harness report RUN_ID` covers "
                         f"{', '.join(SUPPORTED_KINDS)} runs (harness.kind tag)")
    page.write(out)
    try:
        m.client().log_artifact(run.info.run_id, str(out), "report")
    except Exception as exc:  # noqa: BLE001 - the report itself is written; say the upload failed
        import warnings

        warnings.warn(f"the report was written to {out} but could not be logged to run {run_id}: {exc}",
                      stacklevel=2)
    return out
