"""The backtests and sweeps whose results are pinned bit for bit (stats) or to 1e-9 (sweeps).

``tests/harness/engine/data/pinned_results.json`` holds what they gave when the engine's
speed work started; the tests in ``test_engine_pinned.py`` and
``tests/harness/sweep/test_sweep_pinned.py`` recompute them and compare. Regenerate the
file only for a deliberate change of results:
``PYTHONPATH=. python -m tests.harness.engine._pinned_cases``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.engine import BacktestConfig
from market_data import Bars

PINNED = Path(__file__).parent / "data" / "pinned_results.json"
_HOUR = 3_600_000_000_000


def pinned_bars(T: int, N: int, seed: int, holes: bool = False) -> Bars:
    """Seeded random-walk hourly bars; ``holes`` puts NaN bars (a late listing, a halt) in symbol 1."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 4e-3, (T, N)), axis=0)) * rng.uniform(0.5, 2.0, N)
    open_ = np.empty_like(close)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0, 1e-3, (T - 1, N)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 2e-3, (T, N))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 2e-3, (T, N))))
    if holes and N > 1:
        for a in (open_, high, low, close):
            a[: T // 10, 1] = np.nan
            a[T // 2: T // 2 + 37, 1] = np.nan
    return Bars(timestamps=1_600_000_000 * 10**9 + np.arange(T, dtype=np.int64) * _HOUR,
                symbols=tuple(f"S{i}" for i in range(N)), open=open_, high=high, low=low, close=close,
                volume=np.full((T, N), 1e5), frequency="1h")


CONFIGS: dict[str, BacktestConfig] = {
    "default": BacktestConfig(),
    "fees": BacktestConfig(fee_rate=0.001),
    "costs_units": BacktestConfig(fee_rate=0.002, fixed_fee=1.0, slippage_bps=5, size_granularity=1.0),
    "stops": BacktestConfig(fee_rate=0.001, stop_loss=0.02, take_profit=0.05, trailing_stop=0.03),
    "close_lev_longonly_rebal": BacktestConfig(fill="close", leverage=2.0, allow_short=False, rebalance_every=25,
                                               init_cash=10_000.0, fee_rate=0.0005),
}

# (name, bars (T, N, seed, holes), strategy, params, config)
BACKTESTS: list[tuple[str, tuple, str, dict[str, Any], str]] = []
for _cfg in CONFIGS:
    BACKTESTS.append((f"sma1-{_cfg}", (20_000, 1, 1, False), "sma_crossover",
                      {"fast": 10, "slow": 50, "long_short": _cfg != "default"}, _cfg))
    BACKTESTS.append((f"sma3-{_cfg}", (3_000, 3, 2, True), "sma_crossover", {"fast": 5, "slow": 30}, _cfg))
for _s, _p in (("bollinger_reversion", {"window": 20, "n_std": 1.5}), ("donchian_breakout", {"entry": 30, "exit": 10}),
               ("vol_target_momentum", {"lookback": 100, "vol_window": 30}), ("sma_reversal", {"fast": 8, "slow": 21})):
    for _cfg in ("fees", "stops"):
        BACKTESTS.append((f"{_s}1-{_cfg}", (5_000, 1, 3, False), _s, _p, _cfg))
        BACKTESTS.append((f"{_s}4-{_cfg}", (2_000, 4, 4, True), _s, _p, _cfg))
BACKTESTS.append(("xs_momentum5-fees", (2_000, 5, 5, True), "xs_momentum",
                  {"lookback": 60, "skip": 5, "top_k": 2, "long_short": True}, "fees"))
BACKTESTS.append(("xs_momentum5-close", (2_000, 5, 5, True), "xs_momentum",
                  {"lookback": 60, "skip": 5, "top_k": 2, "long_short": True}, "close_lev_longonly_rebal"))

# (name, bars, strategy, grid, config)
SWEEPS: list[tuple[str, tuple, str, dict[str, list], str]] = [
    ("sma1-fees", (20_000, 1, 1, False), "sma_crossover", {"fast": [3, 10, 20], "slow": [30, 60, 120]}, "fees"),
    ("sma1-stops", (20_000, 1, 1, False), "sma_crossover",
     {"fast": [5, 10], "slow": [40, 80], "long_short": [False, True]}, "stops"),
    ("sma1-close", (20_000, 1, 1, False), "sma_crossover", {"fast": [5, 10], "slow": [40, 80]},
     "close_lev_longonly_rebal"),
    ("sma3-costs", (3_000, 3, 2, True), "sma_crossover", {"fast": [5, 10], "slow": [30, 60]}, "costs_units"),
    ("bollinger1-fees", (5_000, 1, 3, False), "bollinger_reversion", {"window": [10, 30], "n_std": [1.5, 2.5]},
     "fees"),
    ("donchian4-stops", (2_000, 4, 4, True), "donchian_breakout", {"entry": [10, 40], "exit": [5, 20]}, "stops"),
]

SWEEP_METRICS = ("total_return", "cagr", "ann_volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                 "max_drawdown_duration", "n_orders")


def encode(v: Any) -> Any:
    """A stats value as JSON that keeps every bit (floats as ``float.hex``)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return {"f": float(v).hex()}
    if v is None:
        return None
    return {"s": str(v)}


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def run_backtest(case: tuple) -> dict[str, Any]:
    from harness.engine import backtest

    _name, spec, strategy, params, cfg = case
    res = backtest(pinned_bars(*spec), strategy, params, config=CONFIGS[cfg])
    return {"stats": {k: encode(v) for k, v in res.stats.items()},
            "equity": digest(res.equity_values), "orders": digest(res.order_records),
            "trades": digest(res.trade_records)}


def run_sweep(case: tuple, **kwargs) -> dict[str, list]:
    """The case's metrics; ``kwargs`` go to ``sweep`` (``dask=client``: the same case on Dask)."""
    from harness.sweep import sweep

    _name, spec, strategy, grid, cfg = case
    df = sweep(pinned_bars(*spec), strategy, grid, config=CONFIGS[cfg], metrics=SWEEP_METRICS, progress=False,
               **kwargs)
    return {m: [float(x) for x in df[m]] for m in SWEEP_METRICS}


def main() -> None:
    out = {"backtests": {c[0]: run_backtest(c) for c in BACKTESTS},
           "sweeps": {c[0]: run_sweep(c) for c in SWEEPS}}
    PINNED.write_text(json.dumps(out, indent=1, allow_nan=True) + "\n")
    print(f"wrote {PINNED} ({len(BACKTESTS)} backtests, {len(SWEEPS)} sweeps)")


def same(a: float, b: float, rel: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


if __name__ == "__main__":
    main()
