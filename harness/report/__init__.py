"""HTML reports: one self-contained page per run, results folder or deployment.

>>> from harness.report import backtest_report
>>> path = backtest_report(result)                 # a BacktestResult -> <home>/reports/....html
>>> path = results_report("results/backtest-...")  # a results folder, no MLflow needed
>>> path = deployment_report("spx-sma")            # a deployment's story so far

Each page embeds plotly.js once (about 4.8 MB) and opens offline. It shows the engine's
own statistics (``BacktestResult.stats``, ``OptimizationResult.summary()``) unchanged;
the only computations here are display transforms (drawdown, monthly aggregation,
rolling windows, downsampling), in :mod:`harness.report._transforms`. Long series are
downsampled for display (each bucket keeps its minimum and maximum) and the page says so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.errors import InputError

__all__ = ["backtest_report", "optimization_report", "results_report", "run_report", "deployment_report",
           "default_report_path", "PANELS"]

#: The panels each kind of report contains (``data-panel`` attributes on the page).
PANELS = {
    "backtest": ("summary", "equity", "trades", "monthly", "rolling", "regimes", "lineage"),
    "optimization": ("summary", "history", "importances", "folds", "oos_equity", "lineage"),
    "sweep": ("summary", "top", "landscape", "distribution", "best_equity", "lineage"),
    "retrain": ("summary", "history", "importances", "trials", "candidates", "holdout_equity", "decision",
                "lineage"),
    "deployment": ("summary", "timeline", "decisions", "attributions", "paper", "alerts", "regimes", "lineage"),
}


def default_report_path(kind: str, name: str) -> Path:
    """``<home>/reports/<kind>-<name>-<UTC stamp>.html``."""
    from harness.config import paths

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name))[:80]
    return paths().home / "reports" / f"{kind}-{safe}-{stamp}.html"


def backtest_report(result: Any, path: str | Path | None = None, *, title: str | None = None) -> Path:
    """Write the report of a :class:`harness.BacktestResult`; returns its path."""
    from harness.report._backtest import backtest_page, from_result

    page = backtest_page(from_result(result), title=title)
    strat = result.lineage.get("strategy") or "weights"
    return page.write(Path(path) if path is not None else default_report_path("backtest", strat))


def optimization_report(result: Any, path: str | Path | None = None, *, title: str | None = None) -> Path:
    """Write the report of a :class:`harness.OptimizationResult`; returns its path."""
    from harness.report._optimization import optimization_from_result, optimization_page

    page = optimization_page(optimization_from_result(result), title=title)
    name = result.lineage.get("study_name") or "study"
    return page.write(Path(path) if path is not None else default_report_path("optimization", name))


def results_report(folder: str | Path, path: str | Path | None = None) -> Path:
    """Write the report of a results folder (``harness backtest`` or ``harness run`` output).

    The kind is recognised from the files: ``equity.csv`` + ``stats.json`` (a backtest),
    ``summary.json`` + ``trials.csv`` (an optimisation). The default path is
    ``<folder>/report.html``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"results folder {folder} does not exist")
    out = Path(path) if path is not None else folder / "report.html"
    if (folder / "equity.csv").is_file():
        from harness.report._backtest import backtest_page, from_results_dir

        return backtest_page(from_results_dir(folder)).write(out)
    if (folder / "summary.json").is_file() and (folder / "trials.csv").is_file():
        from harness.report._optimization import optimization_from_dir, optimization_page

        return optimization_page(optimization_from_dir(folder)).write(out)
    raise InputError(f"{folder} holds neither a backtest (equity.csv, stats.json, lineage.json) nor an "
                     "optimisation (summary.json, trials.csv); expected a folder written by `harness backtest` "
                     "or `harness run`")


def run_report(run_id: str, path: str | Path | None = None) -> Path:
    """Write the report of a logged MLflow run (backtest, sweep, optimisation, experiment run or
    retrain: its ``harness.kind`` tag); also logged as an artifact of the run."""
    from harness.report._runs import run_report as _run_report

    return _run_report(run_id, path)


def deployment_report(name: str, path: str | Path | None = None) -> Path:
    """Write the report of deployment ``name``: its story so far; returns its path.

    Panels: the state (aliases, counts), the timeline of retrains, decisions, promotions,
    rollbacks and paper events (the audit trail), each gate decision's check table, the
    paper equity over the engine's backtest of the versions the ledger traded on the same
    bars, alerts (paper ledger, risk events, monitor), regime bands from the deployment's
    own detector, and the champion's lineage. A panel whose data does not exist yet says
    so. An unknown name is a :class:`~harness.errors.UnknownDeploymentError`. The default
    path is ``<home>/reports/deployment-<name>-<UTC stamp>.html``.
    """
    from harness.report._deployment import deployment_data, deployment_page

    page = deployment_page(deployment_data(name))
    return page.write(Path(path) if path is not None else default_report_path("deployment", name))
