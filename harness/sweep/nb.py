"""Numba kernels of the fused parameter sweep.

One combination = strategy kernel -> target weights -> :func:`harness.engine.nb.simulate_nb`
in metrics-only mode -> the engine's metric reductions. :func:`sweep_finish_nb` does the last two
(after the strategy kernel) into caller-provided scratch (:func:`sweep_finish_signals_1_nb`
for one symbol without stops: the same results, far less to compile); the fused kernels
run it over the rows of a ``(C, P)`` parameter matrix without the GIL, one block of
combinations per thread (each with its own scratch rows), and write only a
``(C, n_metrics)`` result.
Memory is ``O(threads x T x N)`` whatever the number of combinations (plus the
strategy kernel's own per-call temporaries, which are freed after each call).

The strategy kernel is a first-class argument. Numba compiles one specialisation per
kernel but cannot cache a function whose signature holds a dispatcher type, so
:func:`sweep_nb` (generic, compiled in every process) is the fallback;
:mod:`harness.sweep._fused` generates a small module per importable kernel whose
``fused_sweep_nb`` calls the kernel as a global (passing a dispatcher as a value also
embeds a dynamic pointer) and is cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from harness.engine.enums import METRIC_NAMES as _ENGINE_METRICS
from harness.engine.nb import (
    ann_volatility_nb,
    cagr_nb,
    max_drawdown_nb,
    sharpe_nb,
    simulate_nb,
    simulate_signals_1_nb,
    sortino_nb,
    total_return_nb,
)

#: Columns of the result matrix: the engine's metrics (``metrics_nb`` order) + orders filled.
SWEEP_METRICS: tuple[str, ...] = (*_ENGINE_METRICS, "n_orders")
N_METRICS = len(SWEEP_METRICS)


@njit(cache=True)
def metrics_into_nb(equity, init_cash, periods_per_year, r, want, out):
    """:func:`harness.engine.nb.metrics_nb` with the returns written into scratch ``r`` ``(T,)``.

    Same reductions in the same order, so the values are bit-identical; nothing is
    allocated. ``want`` ``(N_METRICS,)`` bool: metrics not wanted (and not needed by a
    wanted one) are skipped and left NaN, so a sweep that asks for total return and
    Sharpe does not pay for drawdowns and Sortino.
    """
    T = equity.shape[0]
    if want[2] or want[3] or want[4]:
        prev = init_cash
        for t in range(T):
            r[t] = equity[t] / prev - 1.0 if prev != 0.0 else np.nan
            prev = equity[t]
    out[0] = total_return_nb(equity, init_cash) if want[0] else np.nan
    out[1] = cagr_nb(equity, init_cash, periods_per_year) if (want[1] or want[5]) else np.nan
    out[2] = ann_volatility_nb(r, periods_per_year) if want[2] else np.nan
    out[3] = sharpe_nb(r, periods_per_year) if want[3] else np.nan
    out[4] = sortino_nb(r, periods_per_year) if want[4] else np.nan
    if want[5] or want[6] or want[7]:
        mdd, dur = max_drawdown_nb(equity, init_cash)
        out[5] = out[1] / abs(mdd) if mdd != 0.0 else np.nan
        out[6] = mdd
        out[7] = dur
    else:
        out[5] = np.nan
        out[6] = np.nan
        out[7] = np.nan


@njit(cache=True)
def sweep_finish_nb(open_, high, low, close, w, fill_at_open, rebalance_every, init_cash, fp, periods_per_year,
                    allow_short, want, equity, r, orders, no_cash, no_pos, out):
    """Simulate the weights ``w`` ``(T, N)`` of one combination and write its metrics into ``out``.

    Args:
        w: target weights from the strategy kernel (clipped in place at 0 when not
            ``allow_short``, as ``prepare_weights`` does).
        fill_at_open, rebalance_every, init_cash, fp: as :func:`harness.engine.nb.simulate_nb`
            (``fp`` a :class:`~harness.engine.enums.FillParams`).
        want: ``(N_METRICS,)`` bool, the metrics to compute (see :func:`metrics_into_nb`).
        equity, r: ``(T,)`` scratch (the caller's per-thread rows).
        orders, no_cash, no_pos: zero-length ``order_dt`` records, ``(0,)`` and ``(0, N)``
            arrays: the metrics-only mode of ``simulate_nb``.
        out: ``(N_METRICS,)`` row written in :data:`SWEEP_METRICS` order.
    """
    if not allow_short:
        T, N = w.shape
        for t in range(T):
            for n in range(N):
                if w[t, n] < 0.0:
                    w[t, n] = 0.0
    n_orders = simulate_nb(open_, high, low, close, w, fill_at_open, rebalance_every, init_cash, fp,
                           equity, no_cash, no_pos, orders)
    metrics_into_nb(equity, init_cash, periods_per_year, r, want, out)
    out[N_METRICS - 1] = n_orders


@njit(cache=True)
def sweep_finish_signals_1_nb(open_, high, low, close, w, fill_at_open, rebalance_every, init_cash, fp,
                              periods_per_year, allow_short, want, equity, r, orders, no_cash, no_pos, out):
    """:func:`sweep_finish_nb` for one symbol without stops, through
    :func:`harness.engine.nb.simulate_signals_1_nb` (the path ``simulate_nb`` takes for
    such a run, bit for bit), so the fused kernel compiles without the general step."""
    if not allow_short:
        T, N = w.shape
        for t in range(T):
            for n in range(N):
                if w[t, n] < 0.0:
                    w[t, n] = 0.0
    n_orders = simulate_signals_1_nb(open_, high, low, close, w, fill_at_open, rebalance_every, init_cash, fp,
                                     equity, no_cash, no_pos, orders)
    metrics_into_nb(equity, init_cash, periods_per_year, r, want, out)
    out[N_METRICS - 1] = n_orders


@njit(nogil=True)  # no cache: a dispatcher-typed argument cannot be cached across processes
def sweep_nb(kernel, open_, high, low, close, volume, P, fill_at_open, rebalance_every, init_cash, fp,
             periods_per_year, allow_short, want, w, eq, r, orders, no_cash, no_pos, out):
    """Sweep over the rows of ``P`` ``(C, P)``, results into ``out`` ``(C, N_METRICS)``.

    Per combination: ``kernel(open, high, low, close, volume, P[c], w)`` on zeroed
    scratch ``w`` ``(T, N)``, then :func:`sweep_finish_nb` with the scratch rows ``eq``
    and ``r`` ``(T,)``. Runs without the GIL: the caller runs one block of combinations
    (rows of ``P`` and ``out``) per thread, each with its own scratch.
    """
    for c in range(P.shape[0]):
        w[:, :] = 0.0
        kernel(open_, high, low, close, volume, P[c], w)
        sweep_finish_nb(open_, high, low, close, w, fill_at_open, rebalance_every, init_cash, fp,
                        periods_per_year, allow_short, want, eq, r, orders, no_cash, no_pos, out[c])
