"""``sweep()``: every combination of a parameter grid through one fused, parallel Numba kernel."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from harness.engine.config import BacktestConfig
from harness.engine.enums import order_dt
from harness.sweep import nb
from harness.sweep._grid import GridError, expand_grid
from market_data.bars import Bars, _fmt_ts
from market_data.errors import InputError
from strategies.params import ParamError

__all__ = ["sweep", "METRICS", "SweepInterrupted"]

#: Metric names ``sweep`` can return (fractions, not percent): the engine's ``metrics_nb``
#: values plus ``n_orders`` (orders filled, as ``len(backtest(...).orders)``).
METRICS: tuple[str, ...] = nb.SWEEP_METRICS

_DEFAULT_METRICS = ("sharpe", "total_return", "max_drawdown", "cagr", "ann_volatility", "sortino", "calmar",
                    "max_drawdown_duration", "n_orders")
_INT_METRICS = ("max_drawdown_duration", "n_orders")
_DEFAULT_CONFIG = BacktestConfig()
#: Default work per chunk (bars x symbols x combinations) between progress updates.
_CHUNK_WORK = 20_000_000


class SweepInterrupted(RuntimeWarning):
    """Warned when Ctrl-C stops a sweep: the returned table holds the rows done so far."""


def _n_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _resolve(strategy: Any) -> Any:
    import strategies

    strat = strategies.get(strategy)
    if getattr(strat, "kernel", None) is None:
        raise InputError(f"strategy {strat.name!r} has no Numba kernel (kernel = None; trainable strategies "
                         f"need fitting per combination), so it cannot be swept; use harness.optimize instead")
    return strat


def _validate(strat: Any, combos: list[dict[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
    valid, skipped = [], []
    for c in combos:
        try:
            valid.append(strat.Params(**c))
        except ParamError as exc:
            skipped.append({"params": c, "error": str(exc)})
    return valid, skipped


def sweep(bars: Bars, strategy: Any, grid: Any, *, config: BacktestConfig = _DEFAULT_CONFIG,
          metrics: tuple[str, ...] | list[str] = _DEFAULT_METRICS, progress: bool = True,
          chunk_size: int | None = None, dask: Any = None, numba_threads: int | None = None,
          track: bool = False) -> pd.DataFrame:
    """Backtest every parameter combination of ``grid`` and return one row of metrics each.

    Args:
        bars: the data (all symbols traded together, as :func:`harness.backtest`).
        strategy: a registered name or strategy object with a Numba ``kernel``
            (trainable strategies, ``kernel = None``, are refused with :class:`InputError`).
        grid: ``{name: [values...]}`` (cartesian product, last name varies fastest) or a
            list of param dicts; parameters left out keep the strategy's defaults.
        config: the fill model and costs (:class:`harness.BacktestConfig`).
        metrics: columns to return, from :data:`METRICS` (fractions: ``total_return=0.12``
            is +12 %, ``max_drawdown`` is negative). They equal
            ``backtest(bars, strategy, params, config=config).stats`` (percent fields / 100).
        progress: show a rich progress bar when the sweep runs in more than one chunk.
        chunk_size: combinations per kernel call (default: about 2e7 bar-combinations);
            progress and Ctrl-C are handled between chunks. With ``dask``: combinations per
            task (default: enough for at least 0.1 s of work, about 4 tasks per worker).
        dask: run the chunks on a Dask cluster: a ``distributed.Client``, ``"local"``,
            ``"local:N"`` or ``"tcp://HOST:PORT"``. The bars are scattered to the workers
            once; the rows are ``np.array_equal`` to the in-process sweep's, in grid order,
            each combination evaluated exactly once (``df.attrs["dask"]`` has the tasks,
            chunk size and task times).
        numba_threads: Numba threads per Dask task (default 1: one worker per core).
        track: log the sweep as an MLflow run (:func:`harness.registry.log_sweep`, best
            row by ``sharpe``); its id is ``df.attrs["run_id"]`` (None when tracking
            failed: one warning, the table is kept).

    Returns:
        A DataFrame with one column per strategy parameter and one per metric, one row per
        valid combination in grid order. Invalid combinations (``Params`` refuses them,
        e.g. ``fast >= slow``) are skipped with a warning and listed in
        ``df.attrs["skipped"]``; if none is valid a :class:`ParamError` is raised.
        ``df.attrs`` also holds ``lineage`` (data snapshot, strategy, grid, config, code
        version), ``interrupted`` (True after Ctrl-C: the rows done so far, with a
        :class:`SweepInterrupted` warning), ``n_combinations`` and ``elapsed_s``.

    Memory: the kernel keeps one ``(T, N)`` weight and two ``(T,)`` scratch rows per
    thread and a ``(C, 9)`` result; it never holds (combinations x bars).

    Example::

        from harness import sweep
        df = sweep(bars, "sma_crossover", {"fast": range(5, 55, 5), "slow": range(60, 260, 20)})
        df.sort_values("sharpe", ascending=False).head()
    """
    from harness._lineage import source_lineage
    from market_data.frequency import periods_per_year

    t_start = time.perf_counter()
    if not isinstance(bars, Bars):
        raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
    if bars.n_bars == 0:
        raise InputError("bars are empty: nothing to sweep")
    if not isinstance(config, BacktestConfig):
        raise InputError(f"config must be a BacktestConfig, got {type(config).__name__}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise InputError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}" if unknown
                         else f"metrics must name at least one of {', '.join(METRICS)}")
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise InputError(f"chunk_size must be a positive integer (or None), got {chunk_size!r}")
    strat = _resolve(strategy)
    fields = strat.Params.field_names()
    combos = expand_grid(grid, fields)
    params, skipped = _validate(strat, combos)
    if skipped:
        if not params:
            raise ParamError(f"no valid parameter combination in the grid ({len(skipped)} rejected); "
                             f"first: {skipped[0]['error']}")
        warnings.warn(f"skipped {len(skipped)} of {len(combos)} parameter combinations that "
                      f"{strat.Params.__qualname__} rejects (see df.attrs['skipped']); first: {skipped[0]['error']}",
                      stacklevel=2)
    P = np.ascontiguousarray(np.vstack([p.to_array() for p in params]), dtype=np.float64)
    C = P.shape[0]
    T, N = bars.shape
    threads = _n_threads()
    task_size = chunk_size  # as given: a Dask sweep sizes its own tasks
    if chunk_size is None:
        chunk_size = max(threads, min(C, _CHUNK_WORK // max(T * N, 1)))
    chunk_size = int(chunk_size)

    dask_info = None
    if dask is not None:
        from harness.sweep._dask import sweep_on_dask

        rows_d, done, dask_info = sweep_on_dask(bars, strat, params, config=config, metrics=tuple(metrics), dask=dask,
                                                progress=progress, chunk_size=task_size,
                                                numba_threads=int(numba_threads or 1))
        out = np.full((C, nb.N_METRICS), np.nan)
        for i, m in enumerate(metrics):
            out[:, METRICS.index(m)] = rows_d[:, i]
        interrupted = False
    else:
        fp = config.fill_params()
        fn = _kernel(strat.kernel, N, fp)
        out = np.full((C, nb.N_METRICS), np.nan)
        threads = max(1, min(threads, chunk_size))
        scratch = (np.zeros((threads, T, N)), np.zeros((threads, T)), np.zeros((threads, T)))
        empties = (np.empty(0, dtype=order_dt), np.empty(0), np.empty((0, N)))
        want = np.array([m in metrics for m in METRICS], dtype=np.bool_)
        args = (float(config.init_cash), fp, float(periods_per_year(bars.frequency)), bool(config.allow_short), want)
        done = 0
        interrupted = False
        bar = _progress(progress and C > chunk_size, C)
        pool = _Pool(threads)
        try:
            while done < C:
                stop = min(C, done + chunk_size)
                _run_chunk(fn, strat.kernel, bars, P[done:stop], config, args, scratch, empties, out[done:stop],
                           pool=pool)
                done = stop
                if bar is not None:
                    bar[0].update(bar[1], completed=done)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            pool.close()  # waits for blocks still running: nothing writes into out or scratch after this
            if bar is not None:
                bar[0].stop()
        if interrupted:
            warnings.warn(f"sweep interrupted after {done} of {C} combinations; returning the rows done so far "
                          f"(df.attrs['interrupted'] is True)", SweepInterrupted, stacklevel=2)

    rows = [p.to_dict() for p in params[:done]]
    df = pd.DataFrame(rows, columns=list(fields))
    for m in metrics:
        col = out[:done, METRICS.index(m)]
        df[m] = col.astype(np.int64) if m in _INT_METRICS else col
    df.attrs.update({
        "strategy": strat.name,
        "metrics": list(metrics),
        "n_combinations": len(combos),
        "n_valid": C,
        "n_done": done,
        "skipped": skipped,
        "interrupted": interrupted,
        "elapsed_s": time.perf_counter() - t_start,
        "dask": dask_info,
        "lineage": {
            "snapshot_id": bars.snapshot_id,
            "data_digest": bars.digest(),
            "symbols": list(bars.symbols),
            "frequency": bars.frequency,
            "start": _fmt_ts(bars.timestamps[0]),
            "end": _fmt_ts(bars.timestamps[-1]),
            "strategy": strat.name,
            "grid": _jsonable_grid(grid),
            "config": config.to_dict(),
            **source_lineage(),
        },
    })
    if track:
        from harness.registry._tracking import log_sweep, track_or_warn

        sort = "sharpe" if "sharpe" in metrics else metrics[0]
        df.attrs["run_id"] = track_or_warn(log_sweep, df, sort=sort)
    return df


def _kernel(kernel: Any, n_symbols: int, fp: Any) -> Any:
    from harness.engine.nb import simulate_kernel, simulate_signals_1_nb
    from harness.sweep._fused import fused_kernel

    light = simulate_kernel(n_symbols, fp) is simulate_signals_1_nb
    return fused_kernel(kernel, "sweep_finish_signals_1_nb" if light else "sweep_finish_nb")


class _Pool:
    """Runs the blocks of a chunk on ``n`` threads (the fused kernels release the GIL);
    with one thread, in the calling thread."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._ex = None
        self._pending: list[Any] = []

    def map(self, fn: Any, blocks: list[tuple]) -> None:
        if self.n == 1 or len(blocks) == 1:
            for b in blocks:
                fn(*b)
            return
        if self._ex is None:
            from concurrent.futures import ThreadPoolExecutor

            self._ex = ThreadPoolExecutor(max_workers=self.n, thread_name_prefix="harness-sweep")
        self._pending = [self._ex.submit(fn, *b) for b in blocks]
        for f in self._pending:  # in order; re-raises a block's error here
            f.result()
        self._pending = []

    def close(self) -> None:
        if self._ex is not None:
            from concurrent.futures import wait

            wait(self._pending)
            self._ex.shutdown(wait=True)
            self._ex = None


def _run_chunk(fn: Any, kernel: Any, bars: Bars, P: np.ndarray, config: BacktestConfig, args: tuple,
               scratch: tuple, empties: tuple, out: np.ndarray, *, pool: _Pool | None = None) -> None:
    """Run the combinations ``P`` into ``out``: contiguous blocks, one per scratch row (thread)."""
    init_cash, fp, ppy, allow_short, want = args
    rebalance = int(config.rebalance_every or 0)
    C = P.shape[0]
    k = min(len(scratch[0]), C)
    per = (C + k - 1) // k
    prices = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    common = (config.fill_at_open, rebalance, init_cash, fp, ppy, allow_short, want)
    blocks = []
    for b in range(k):
        lo, hi = b * per, min(C, (b + 1) * per)
        if lo >= hi:
            break
        tail = (*common, scratch[0][b], scratch[1][b], scratch[2][b], *empties, out[lo:hi])
        if fn is not None:
            blocks.append((*prices, P[lo:hi], *tail))
        else:
            blocks.append((kernel, *prices, P[lo:hi], *tail))
    (pool or _Pool(1)).map(fn if fn is not None else nb.sweep_nb, blocks)


def _progress(show: bool, total: int) -> tuple[Any, Any] | None:
    if not show:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    prog = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True))
    prog.start()
    return prog, prog.add_task("sweep", total=total)


def _jsonable_grid(grid: Any) -> Any:
    def conv(v: Any) -> Any:
        if hasattr(v, "item"):
            return v.item()
        return v

    if isinstance(grid, dict):
        out = {}
        for k, v in grid.items():
            vals = list(v) if isinstance(v, (list, tuple, range)) or (hasattr(v, "ndim") and v.ndim == 1) else [v]
            out[str(k)] = [conv(x) for x in vals]
        return out
    try:
        return [{str(k): conv(v) for k, v in c.items()} for c in grid]
    except (AttributeError, TypeError):
        raise GridError(f"grid must be a dict of value lists or a list of param dicts, got {type(grid).__name__}") \
            from None


