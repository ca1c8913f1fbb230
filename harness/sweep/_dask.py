"""Sweeps on a Dask cluster: the grid in chunks of combinations, the bars shipped once.

Each task runs the in-process :func:`harness.sweep.sweep` (the same fused kernel) on a
contiguous chunk of the valid combinations, with ``progress=False`` and an explicit
number of Numba threads. Combinations are evaluated independently, so the result is
``np.array_equal`` to the in-process sweep, row for row, whatever the chunking or the
number of workers; every combination is in exactly one chunk.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["sweep_on_dask", "chunk_for", "MIN_TASK_S", "ASSUMED_BAR_STEPS_PER_S"]

#: Each task should run at least this long, so scheduling (about 1 ms a task) stays negligible.
MIN_TASK_S = 0.1
#: The throughput assumed when sizing chunks: the fused kernel's target per thread with
#: metrics (at or above what it reaches), so a chunk sized by it runs at least MIN_TASK_S.
ASSUMED_BAR_STEPS_PER_S = 1.0e8
#: Chunks per worker beyond the minimum size, for load balance.
CHUNKS_PER_WORKER = 4


def chunk_for(n_combinations: int, n_bars: int, n_symbols: int, n_workers: int) -> int:
    """Combinations per task.

    About ``CHUNKS_PER_WORKER`` tasks per worker for load balance, but never less than
    ``MIN_TASK_S`` of work a task (scheduling costs about 1-10 ms a task); and never so
    large that a worker gets nothing (a grid too small for 0.1 s a worker is split evenly).
    """
    floor = math.ceil(MIN_TASK_S * ASSUMED_BAR_STEPS_PER_S / max(1, n_bars * n_symbols))
    balance = math.ceil(n_combinations / (n_workers * CHUNKS_PER_WORKER))
    every_worker = math.ceil(n_combinations / n_workers)
    return max(1, min(every_worker, max(floor, balance)))


def _run_chunk(bars: Any, strategy: Any, params: list[dict], config: Any, metrics: tuple[str, ...],
               numba_threads: int) -> tuple[np.ndarray, float]:
    """On a worker: the in-process sweep of ``params``; returns (metrics matrix, seconds)."""
    import warnings

    import numba

    from harness.sweep._sweep import sweep

    numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver already validated and reported every combination
        df = sweep(bars, strategy, params, config=config, metrics=metrics, progress=False)
    if len(df) != len(params):
        raise RuntimeError(f"a sweep chunk returned {len(df)} rows for {len(params)} combinations")
    return df[list(metrics)].to_numpy(), time.perf_counter() - t0


def sweep_on_dask(bars: Any, strat: Any, params: list[Any], *, config: Any, metrics: tuple[str, ...],
                  dask: Any, progress: bool, chunk_size: int | None, numba_threads: int = 1
                  ) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Evaluate the validated ``params`` on Dask; returns (metrics rows, rows done, run info).

    ``params`` are the strategy's validated ``Params`` in grid order; the rows come back
    in the same order. The bars are scattered to every worker once.
    """
    from distributed import as_completed

    from harness._dask import connect, n_workers

    dicts = [p.to_dict() for p in params]
    C = len(dicts)
    t0 = time.perf_counter()
    with connect(dask, threads_per_worker=max(1, numba_threads)) as client:
        workers = n_workers(client)
        size = int(chunk_size) if chunk_size else chunk_for(C, bars.n_bars, bars.n_symbols, workers)
        bounds = [(lo, min(C, lo + size)) for lo in range(0, C, size)]
        bars_f = client.scatter(bars, broadcast=True, hash=False)
        name = strat.name if _registered(strat) else strat
        futures = {client.submit(_run_chunk, bars_f, name, dicts[lo:hi], config, tuple(metrics), numba_threads,
                                 key=f"harness-sweep-{id(bounds)}-{lo}", pure=False): (lo, hi)
                   for lo, hi in bounds}
        out = np.full((C, len(metrics)), np.nan)
        seen = np.zeros(C, dtype=np.int64)
        durations: list[float] = []
        bar = _progress(progress and len(bounds) > 1, C)
        done = 0
        try:
            for fut in as_completed(futures):
                lo, hi = futures[fut]
                rows, secs = fut.result()
                out[lo:hi] = rows
                seen[lo:hi] += 1
                durations.append(secs)
                done += hi - lo
                if bar is not None:
                    bar[0].update(bar[1], completed=done)
        finally:
            if bar is not None:
                bar[0].stop()
    if not (seen == 1).all():  # each combination in exactly one chunk
        raise RuntimeError("a Dask sweep evaluated some combination other than exactly once")
    info = {"workers": workers, "tasks": len(bounds), "chunk_size": size, "numba_threads": numba_threads,
            "task_s_median": float(np.median(durations)) if durations else 0.0,
            "task_s_min": float(np.min(durations)) if durations else 0.0,
            "elapsed_s": time.perf_counter() - t0}
    return out, C, info


def _registered(strat: Any) -> bool:
    import strategies

    try:
        return strategies.get(strat.name) is strat
    except Exception:
        return False


def _progress(show: bool, total: int):
    from harness.sweep._sweep import _progress as progress_bar

    return progress_bar(show, total)
