"""``backtest()``: run target weights (or a strategy) through the Numba fill model."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from harness._lineage import code_version
from harness.engine import nb
from harness.engine.config import BacktestConfig
from harness.engine.enums import order_dt
from harness.engine.result import BacktestResult
from market_data.bars import Bars, _fmt_ts
from market_data.errors import InputError

__all__ = ["backtest", "code_version", "prepare_weights"]

_DEFAULT_CONFIG = BacktestConfig()


def prepare_weights(bars: Bars, weights: Any, config: BacktestConfig = _DEFAULT_CONFIG) -> np.ndarray:
    """Validate target weights against ``bars`` and return a C-contiguous ``(T, N)`` float64 copy.

    A 1-D array is accepted for one symbol. NaN means "no new decision"; infinite values
    are refused; with ``allow_short=False`` negative weights are clipped to 0.
    """
    return _prepare_weights(bars, weights, config, copy=True)


def _prepare_weights(bars: Bars, weights: Any, config: BacktestConfig, *, copy: bool) -> np.ndarray:
    """:func:`prepare_weights`; ``copy=False`` validates (and clips) a float64 C-contiguous
    array in place: only for an array that nothing else references."""
    w = np.asarray(weights)
    if w.dtype.kind not in "fiub":
        raise InputError(f"weights must be numeric, got dtype {w.dtype}")
    given = w.shape
    if w.ndim == 1 and bars.n_symbols == 1:
        w = w.reshape(-1, 1)  # before the copy, so that the copy owns its data
    w = np.array(w, dtype=np.float64, order="C", copy=True if copy else None)
    if w.shape != bars.shape:
        raise InputError(f"weights have shape {given}, expected {bars.shape} (bars x symbols)")
    first_inf = int(nb.check_weights_nb(w, not config.allow_short))  # also clips when long-only
    if first_inf >= 0:
        t, n = divmod(first_inf, w.shape[1])
        raise InputError(f"weights must be finite (NaN = no new decision): weight {w[t, n]} for symbol "
                         f"{bars.symbols[n]!r} at row {t} ({_fmt_ts(bars.timestamps[t])})")
    return w


def _resolve_strategy(strategy: Any, params: Any) -> tuple[Any, Any]:
    import strategies
    from strategies.params import Params

    strat = strategies.get(strategy)
    if params is None:
        p = strat.Params()
    elif isinstance(params, Params):
        if not isinstance(params, strat.Params):
            raise InputError(f"params are {type(params).__name__}, expected {strat.Params.__name__} "
                             f"for strategy {strat.name!r}")
        p = params
    elif isinstance(params, dict):
        p = strat.Params.from_dict(params)
    else:
        raise InputError(f"params must be None, a dict or a {strat.Params.__name__}, got {type(params).__name__}")
    return strat, p


def backtest(bars: Bars, strategy: Any = None, params: Any = None, *, weights: Any = None,
             config: BacktestConfig = _DEFAULT_CONFIG, track: bool = False) -> BacktestResult:
    """Backtest a strategy (by name or object) or explicit target weights on ``bars``.

    Exactly one of ``strategy`` / ``weights`` is given. ``params`` is ``None`` (the
    strategy's defaults), a dict or a ``Params`` instance. ``weights[t, n]`` is the target
    fraction of equity in symbol ``n`` decided at the close of bar ``t`` (negative =
    short, NaN = keep the previous target); with ``fill="next_open"`` it fills at the open
    of ``t + 1``. See :mod:`harness.engine.nb` for the fill model and costs.

    ``track=True`` logs the backtest as an MLflow run in the home store
    (:func:`harness.registry.log_backtest`); its id is ``result.run_id`` (None when
    not tracked, or when tracking failed: one warning, the result is kept).

    Example::

        from harness import backtest, BacktestConfig
        res = backtest(bars, "sma_crossover", {"fast": 10, "slow": 50},
                       config=BacktestConfig(fee_rate=0.001))
        res.stats["Sharpe Ratio"], res.trades.head()
    """
    if not isinstance(bars, Bars):
        raise InputError(f"bars must be a market_data.Bars, got {type(bars).__name__}")
    if not isinstance(config, BacktestConfig):
        raise InputError(f"config must be a BacktestConfig, got {type(config).__name__}")
    if (strategy is None) == (weights is None):
        raise InputError("give exactly one of strategy= or weights=")
    strat_name = None
    params_dict: dict[str, Any] | None = None
    if strategy is not None:
        strat, p = _resolve_strategy(strategy, params)
        strat_name = strat.name
        params_dict = p.to_dict()
        weights = strat.target_weights(bars, p)
        # a fresh array that owns its data and that nobody else references (the local
        # name and getrefcount's argument) cannot be seen elsewhere: no defensive copy.
        # Python 3.14 may borrow references without counting them, so copy there.
        private = (sys.version_info < (3, 14) and isinstance(weights, np.ndarray)
                   and weights.flags.owndata and sys.getrefcount(weights) <= 2)
    elif params is not None:
        raise InputError("params= needs strategy=; with weights= there is nothing to parametrise")
    else:
        private = False
    w = _prepare_weights(bars, weights, config, copy=not private)
    w.flags.writeable = False  # the result keeps it (and may re-run the simulation from it)
    res = _simulate(bars, w, config)
    lineage = {
        "snapshot_id": bars.snapshot_id,
        "symbols": list(bars.symbols),
        "frequency": bars.frequency,
        "start": _fmt_ts(bars.timestamps[0]) if bars.n_bars else None,
        "end": _fmt_ts(bars.timestamps[-1]) if bars.n_bars else None,
        "strategy": strat_name,
        "params": params_dict,
        "config": config.to_dict(),
        "seed": (params_dict or {}).get("seed"),
        "code_version": code_version(),
    }
    result = BacktestResult(bars=bars, config=config, weights=w, lineage_fields=lineage, **res)
    if track:
        from harness.registry._tracking import log_backtest, track_or_warn

        result._cache["run_id"] = track_or_warn(log_backtest, result)
    return result


def _simulate(bars: Bars, w: np.ndarray, config: BacktestConfig, *, keep_state: bool = False) -> dict[str, np.ndarray]:
    """Run the kernel; per-bar cash and positions only with ``keep_state`` (the result asks lazily)."""
    T, N = bars.shape
    rebalance = int(config.rebalance_every or 0)
    if T * N <= 4_000_000:
        # an upper bound without a pass over the weights: np.empty only reserves address
        # space, the pages of records never written are never touched
        cap = 2 * T * N + N
    else:
        cap = int(nb.order_capacity_nb(w, rebalance))
    orders = np.empty(cap, dtype=order_dt)
    equity = np.empty(T)
    cash = np.empty(T if keep_state else 0)
    pos = np.empty((T if keep_state else 0, N))
    # the result keeps ``w`` read-only, but Numba compiles read-only and writeable arrays
    # apart; sweeps, optimisation and the paper runner pass writeable weights, so the
    # kernel gets the writeable form of this array we own (never written by it): one
    # compilation serves all of them, and a first run compiles simulate_nb once
    flip = not w.flags.writeable and w.flags.owndata
    if flip:
        w.flags.writeable = True
    try:
        fp = config.fill_params()
        n = int(nb.simulate_kernel(N, fp)(bars.open, bars.high, bars.low, bars.close, w, config.fill_at_open,
                                          rebalance, float(config.init_cash), fp, equity, cash, pos, orders))
    finally:
        if flip:
            w.flags.writeable = False
    if n > cap:  # cannot happen by construction; guard against a silent truncation
        raise RuntimeError(f"order capacity {cap} exceeded ({n} orders)")
    orders = orders[:n].copy()  # release the reserved buffer
    last_px = _last_valid(bars.close)
    trades = nb.trades_from_orders_nb(orders, N, last_px, max(T - 1, 0))
    out = {"equity_values": equity, "order_records": orders, "trade_records": trades}
    if keep_state:
        out.update(cash_values=cash, position_values=pos)
    return out


def _last_valid(close: np.ndarray) -> np.ndarray:
    if close.shape[0] and not np.isnan(close[-1]).any():
        return close[-1].copy()
    out = np.full(close.shape[1], np.nan)
    for n in range(close.shape[1]):
        ok = np.flatnonzero(~np.isnan(close[:, n]))
        if ok.size:
            out[n] = close[ok[-1], n]
    return out
