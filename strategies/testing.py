"""The look-ahead guard and the contract suite every strategy is held to.

:func:`check_no_lookahead` is the prefix test of ``DESIGN.md``: weights computed on
``bars[:k]`` must equal the first ``k`` rows of the weights computed on all bars, bit
for bit, and scrambling the bars from ``k`` on must not change rows before ``k``. It
raises :class:`LookAheadError` naming the first offending bar.

:func:`check_strategy` runs the whole contract (protocol, parameter validation, TOML
round trip, weights, warmup, leverage, missing bars, determinism, kernel reuse,
look-ahead) on one strategy; :class:`StrategyContract` is the same suite as a pytest
class to subclass (like ``optuna.testing`` or zarr's ``StoreTests``)::

    # tests/test_my_strategy.py
    from strategies.testing import StrategyContract

    class TestMyStrategy(StrategyContract):
        strategy = "my_momentum"          # a registered name or the module itself

:func:`make_bars` builds small ``Bars`` from a list of closes, for examples and tests.

>>> import numpy as np
>>> from strategies.testing import make_bars, check_no_lookahead
>>> bars = make_bars(100 + np.arange(60.0) % 7)
>>> check_no_lookahead("sma_crossover", bars, {"fast": 2, "slow": 5}).n_cuts > 5
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from market_data.bars import Bars, _fmt_ts, to_ns
from market_data.errors import HarnessError

__all__ = [
    "LookAheadError",
    "ContractError",
    "LookaheadReport",
    "check_no_lookahead",
    "check_strategy",
    "contract_bars",
    "make_bars",
    "random_walk_bars",
    "StrategyContract",
]

_DAY_NS = 86_400_000_000_000


class ContractError(HarnessError, AssertionError):
    """A strategy breaks the strategy contract; the message says which rule and where."""


class LookAheadError(ContractError):
    """Weights at some bar depend on data after that bar.

    ``bar`` is the first offending row, ``timestamp`` its time, ``symbol`` the column,
    ``cut`` the prefix length that exposed it and ``kind`` ``"prefix"`` or ``"perturbation"``.
    """

    def __init__(self, message: str, *, bar: int, timestamp: str, symbol: str, cut: int, kind: str) -> None:
        super().__init__(message)
        self.bar = bar
        self.timestamp = timestamp
        self.symbol = symbol
        self.cut = cut
        self.kind = kind


@dataclass(frozen=True)
class LookaheadReport:
    """What :func:`check_no_lookahead` verified."""

    strategy: str
    n_bars: int
    cuts: tuple[int, ...]

    @property
    def n_cuts(self) -> int:
        return len(self.cuts)


# ----------------------------------------------------------------------------- helpers
def make_bars(close: Any, *, high: Any = None, low: Any = None, open: Any = None,  # noqa: A002
              volume: Any = None, symbols: Sequence[str] | None = None,
              start: Any = "2020-01-01", frequency: str = "1d") -> Bars:
    """Small ``Bars`` from closes (1-D for one symbol, ``(T, N)`` for many).

    Missing ``open`` is the previous close (the first bar opens at its close), missing
    ``high``/``low`` are the max/min of open and close, ``volume`` defaults to 1.
    Timestamps are consecutive calendar days from ``start`` (or ``frequency`` steps).

    >>> make_bars([1.0, 2.0, 3.0]).shape
    (3, 1)
    """
    from market_data.frequency import frequency_ns

    c = np.asarray(close, dtype=np.float64)
    if c.ndim == 1:
        c = c.reshape(-1, 1)

    def _field(x: Any, default: np.ndarray) -> np.ndarray:
        if x is None:
            return default
        arr = np.asarray(x, dtype=np.float64)
        return arr.reshape(-1, 1) if arr.ndim == 1 else arr

    o = np.vstack([c[:1], c[:-1]]) if c.shape[0] else c.copy()
    o = np.where(np.isnan(o), c, o)
    o = _field(open, o)
    h = _field(high, np.fmax(o, c))
    lo = _field(low, np.fmin(o, c))
    v = _field(volume, np.where(np.isnan(c), np.nan, 1.0))
    T, N = c.shape
    names = tuple(symbols) if symbols is not None else (("X",) if N == 1 else tuple(f"S{i}" for i in range(N)))
    ts = to_ns(start, name="start") + np.arange(T, dtype=np.int64) * frequency_ns(frequency)
    return Bars(timestamps=ts, symbols=names, open=o, high=h, low=lo, close=c, volume=v, frequency=frequency)


def contract_bars(n_bars: int = 600, n_symbols: int = 4, *, seed: int = 7) -> Bars:
    """Synthetic bars for the contract suite: regime-switching prices, one symbol listed
    late (NaN before), one with a gap of missing bars and one delisted early."""
    from market_data.synthetic import regime_switching

    bars, _ = regime_switching(n_bars, n_symbols, seed=seed, min_duration=50, mean_duration=150)
    fields = {f: np.array(getattr(bars, f)) for f in ("open", "high", "low", "close", "volume")}
    T = n_bars
    for arr in fields.values():
        if n_symbols >= 2:
            arr[: T // 5, 1] = np.nan  # listed late
        if n_symbols >= 3:
            arr[T // 2: T // 2 + 7, 2] = np.nan  # halted for a week
        if n_symbols >= 4:
            arr[4 * T // 5:, 3] = np.nan  # delisted
    return dataclasses.replace(bars, **fields, _digest=[])


def random_walk_bars(n_bars: int, n_symbols: int = 1, *, seed: int = 0, ar: float = 0.0,
                     sigma: float = 0.01) -> Bars:
    """Daily OHLCV bars from log returns ``r[t] = ar * r[t-1] + eps`` (``ar < 0``: mean reversion).

    The open of each bar is the previous close, so the next close-to-close return is what a
    position decided at close ``t`` and filled at open ``t+1`` earns (a planted edge for
    trainable strategies and attributions to find).
    """
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, sigma, size=(n_bars, n_symbols))
    r = np.zeros((n_bars, n_symbols))
    for t in range(1, n_bars):
        r[t] = ar * r[t - 1] + eps[t]
    close = 100.0 * np.exp(np.cumsum(r, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    spread = np.abs(rng.normal(0.0, sigma / 2, size=close.shape))
    high = np.maximum(open_, close) * np.exp(spread)
    low = np.minimum(open_, close) * np.exp(-spread)
    volume = rng.lognormal(10.0, 0.3, size=close.shape)
    symbols = tuple(f"S{i}" for i in range(n_symbols))
    return Bars(timestamps=np.arange(n_bars, dtype=np.int64) * _DAY_NS + 1_600_000_000 * 10**9 // _DAY_NS * _DAY_NS,
                symbols=symbols, open=open_, high=high, low=low, close=close, volume=volume)


def _strategy(strategy: Any) -> Any:
    from strategies import get

    return get(strategy)


def _params(strat: Any, params: Any) -> Any:
    from strategies._base import coerce_params

    return coerce_params(strat.Params, params)


def _weights(strat: Any, bars: Bars, params: Any, what: str) -> np.ndarray:
    w = strat.target_weights(bars, params)
    if not isinstance(w, np.ndarray) or w.shape != bars.shape:
        shape = getattr(w, "shape", None)
        raise ContractError(f"{strat.name}: target_weights on {what} returned shape {shape}, "
                            f"expected {bars.shape} (bars x symbols)")
    return w


def _default_cuts(n: int, warmup: int, rng: np.random.Generator, count: int) -> list[int]:
    special = {1, 2, warmup - 1, warmup, warmup + 1, warmup + 2, n // 2, n - 1}
    cuts = {k for k in special if 0 < k < n}
    if n > 2:
        cuts.update(int(k) for k in np.linspace(1, n - 1, num=min(count, n - 1)).round())
        cuts.update(int(k) for k in rng.integers(1, n, size=max(0, count // 2)))
    return sorted(cuts)


def _perturbed(bars: Bars, k: int, rng: np.random.Generator, scale: float) -> Bars:
    """Bars whose rows from ``k`` on follow another random path, first jumping by ``scale``
    (OHLC stay consistent, volume is rescaled at random)."""
    T, N = bars.shape
    factor = np.ones((T, N))
    steps = rng.normal(0.0, 0.01, size=(T - k, N))
    walk = np.exp(np.cumsum(steps, axis=0)) * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        factor[k:] = bars.close[k - 1] * walk / bars.close[k:]  # a new path from the close before k
    bad = ~np.isfinite(factor[k:])
    factor[k:][bad] = walk[bad]
    fields = {f: getattr(bars, f) * factor for f in ("open", "high", "low", "close")}
    fields["volume"] = bars.volume * np.where(np.arange(T)[:, None] >= k, rng.uniform(0.1, 10, size=(T, N)), 1.0)
    return dataclasses.replace(bars, **fields, _digest=[])


def _first_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, int] | None:
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    bad = np.argwhere(~same)
    if bad.size == 0:
        return None
    return int(bad[0, 0]), int(bad[0, 1])


# ----------------------------------------------------------------------- look-ahead
def check_no_lookahead(strategy: Any, bars: Bars, params: Any = None, cuts: int | Sequence[int] | None = None,
                       *, perturb: bool = True, seed: int = 0) -> LookaheadReport:
    """The prefix test: raise :class:`LookAheadError` if any weight uses future bars.

    For each cut ``k`` (default: about 16, including both sides of the warmup, plus
    random ones; an int asks for about that many; a sequence gives them exactly):
    ``target_weights(bars[:k])`` must equal the first ``k`` rows of
    ``target_weights(bars)`` exactly, and (``perturb=True``) weights computed on bars
    whose rows ``>= k`` were replaced by another random path must keep their first
    ``k`` rows. The error names the first offending bar, its timestamp and symbol.
    """
    strat = _strategy(strategy)
    p = _params(strat, params)
    n = bars.n_bars
    rng = np.random.default_rng(seed)
    if cuts is None or isinstance(cuts, (int, np.integer)):
        count = 12 if cuts is None else int(cuts)
        cut_list = _default_cuts(n, int(strat.warmup(p)), rng, count)
    else:
        cut_list = sorted({int(k) for k in cuts})
        bad = [k for k in cut_list if not 0 < k <= n]
        if bad:
            from market_data.errors import InputError

            raise InputError(f"cuts must lie in 1..{n} (the number of bars), got {bad[0]}")
    full = _weights(strat, bars, p, "all bars")
    for i, k in enumerate(cut_list):
        part = _weights(strat, bars[:k], p, f"bars[:{k}]")
        diff = _first_difference(part, full[:k])
        if diff is not None:
            _raise_lookahead(strat, bars, k, diff, part, full, "prefix")
        if perturb and k < n:
            scale = 0.5 if i % 2 == 0 else 2.0  # the future crashes or soars, in turn
            other = _weights(strat, _perturbed(bars, k, rng, scale), p, f"perturbed bars (cut {k})")
            diff = _first_difference(other[:k], full[:k])
            if diff is not None:
                _raise_lookahead(strat, bars, k, diff, other, full, "perturbation")
    return LookaheadReport(strategy=str(getattr(strat, "name", strat)), n_bars=n, cuts=tuple(cut_list))


def _raise_lookahead(strat: Any, bars: Bars, k: int, diff: tuple[int, int], got: np.ndarray,
                     full: np.ndarray, kind: str) -> None:
    t, j = diff
    ts = _fmt_ts(bars.timestamps[t])
    sym = bars.symbols[j]
    if kind == "prefix":
        how = f"computed on bars[:{k}] gives {got[t, j]!r} but on all {bars.n_bars} bars gives {full[t, j]!r}"
    else:
        how = f"changes from {full[t, j]!r} to {got[t, j]!r} when bars from {k} on are replaced"
    kind_of, noun = getattr(strat, "lookahead_words", ("strategy", "weight"))  # a feature definition says its own
    raise LookAheadError(
        f"look-ahead in {kind_of} {getattr(strat, 'name', strat)!r}: {noun} at bar {t} ({ts}, symbol {sym!r}) "
        f"{how}; row {t} must use bars up to {t} only",
        bar=t, timestamp=ts, symbol=sym, cut=k, kind=kind,
    )


# ------------------------------------------------------------------- contract checks
def check_protocol(strategy: Any) -> None:
    """Protocol attributes, Params type, defaults, search space, warmup."""
    from strategies._base import REQUIRED_ATTRIBUTES
    from strategies.params import Params

    strat = _strategy(strategy)
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(strat, a)]
    if missing:
        raise ContractError(f"{strat!r} lacks {', '.join(missing)} (the strategy protocol)")
    name = strat.name
    if not isinstance(strat.Params, type) or not issubclass(strat.Params, Params):
        raise ContractError(f"{name}: Params must subclass strategies.params.Params")
    p = strat.Params()
    space = strat.search_space()
    if not isinstance(space, dict):
        raise ContractError(f"{name}: search_space() must return a dict, got {type(space).__name__}")
    from optuna.distributions import BaseDistribution

    fields = set(strat.Params.field_names())
    for key, dist in space.items():
        if key not in fields:
            raise ContractError(f"{name}: search_space() names {key!r}, which is not a Params field")
        if not isinstance(dist, BaseDistribution):
            raise ContractError(f"{name}: search_space()[{key!r}] is not an optuna distribution")
    w = strat.warmup(p)
    if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0:
        raise ContractError(f"{name}: warmup(params) must be a non-negative int, got {w!r}")
    for f in strat.Params.describe():
        if not f["doc"]:
            raise ContractError(f"{name}: Params.{f['name']} has no doc= (shown by `harness strategies show`)")


def check_param_validation(strategy: Any) -> None:
    """Unknown names, wrong types and out-of-bounds values raise ParamError naming the field."""
    from strategies.params import ParamError

    strat = _strategy(strategy)
    P = strat.Params

    def expect_error(kwargs: dict[str, Any], field: str, what: str) -> None:
        try:
            P(**kwargs)
        except ParamError as exc:
            if field not in str(exc):
                raise ContractError(f"{strat.name}: {what} raised ParamError without naming {field!r}: {exc}") from None
            return
        except Exception as exc:  # noqa: BLE001 - any other type is the failure we report
            raise ContractError(f"{strat.name}: {what} raised {type(exc).__name__} instead of ParamError: {exc}") from None
        raise ContractError(f"{strat.name}: {what} was accepted; expected ParamError")

    expect_error({"no_such_param": 1}, "no_such_param", "an unknown parameter")
    for f in P.describe():
        name, typ, low, high = f["name"], f["type"], f["low"], f["high"]
        if typ in ("int", "float"):
            expect_error({name: "abc"}, name, f"{name}='abc'")
            step = 1 if typ == "int" else max(abs(low or high or 1.0) * 0.01, 1e-6)
            if low is not None:
                expect_error({name: (low - step) if typ == "float" else int(math.floor(low)) - 1}, name,
                             f"{name} below its lower bound {low}")
            if high is not None:
                expect_error({name: (high + step) if typ == "float" else int(math.ceil(high)) + 1}, name,
                             f"{name} above its upper bound {high}")
        elif typ == "bool":
            expect_error({name: "yes"}, name, f"{name}='yes'")


def check_toml_round_trip(strategy: Any, params: Any = None) -> None:
    """``Params.from_toml(p.to_toml()) == p`` and the same through ``to_dict``/``from_dict``."""
    strat = _strategy(strategy)
    p = _params(strat, params)
    back = strat.Params.from_toml(p.to_toml())
    if back != p:
        raise ContractError(f"{strat.name}: params do not survive TOML: {p!r} -> {p.to_toml()!r} -> {back!r}")
    if strat.Params.from_dict(p.to_dict()) != p:
        raise ContractError(f"{strat.name}: params do not survive to_dict/from_dict")
    if strat.warmup(back) != strat.warmup(p):
        raise ContractError(f"{strat.name}: warmup changes after a TOML round trip")


def max_leverage(strategy: Any, params: Any = None) -> float:
    """Gross leverage bound ``sum |w|`` of a strategy: its ``max_leverage(params)`` or 1."""
    strat = _strategy(strategy)
    fn = getattr(strat, "max_leverage", None)
    return float(fn(_params(strat, params))) if fn is not None else 1.0


def check_weights(strategy: Any, bars: Bars, params: Any = None) -> np.ndarray:
    """Shape, dtype, finiteness, warmup, missing bars, leverage and determinism; returns weights."""
    strat = _strategy(strategy)
    p = _params(strat, params)
    name = strat.name
    w = _weights(strat, bars, p, "the bars")
    if w.dtype != np.float64:
        raise ContractError(f"{name}: weights must be float64, got {w.dtype}")
    bad = np.argwhere(~np.isfinite(w))
    if bad.size:
        t, j = bad[0]
        raise ContractError(f"{name}: weight at bar {t} ({_fmt_ts(bars.timestamps[t])}, symbol "
                            f"{bars.symbols[j]!r}) is {w[t, j]!r}; weights must be finite (0 when there is no signal)")
    warm = int(strat.warmup(p))
    early = np.argwhere(w[:warm] != 0.0)
    if early.size:
        t, j = early[0]
        raise ContractError(f"{name}: weight at bar {t} is {w[t, j]!r} but warmup(params) is {warm}; "
                            f"rows before warmup must be 0")
    missing = np.argwhere(np.isnan(bars.close) & (w != 0.0))
    if missing.size:
        t, j = missing[0]
        raise ContractError(f"{name}: symbol {bars.symbols[j]!r} has no bar at {t} ({_fmt_ts(bars.timestamps[t])}) "
                            f"but weight {w[t, j]!r}; missing bars must get weight 0")
    lev = max_leverage(strat, p)
    gross = np.abs(w).sum(axis=1)
    over = np.flatnonzero(gross > lev * (1 + 1e-9) + 1e-12)
    if over.size:
        t = over[0]
        raise ContractError(f"{name}: gross leverage sum|w| = {gross[t]!r} at bar {t} "
                            f"({_fmt_ts(bars.timestamps[t])}) exceeds {lev}")
    again = _weights(strat, bars, p, "the bars (second call)")
    if again is w or not np.array_equal(again, w):
        raise ContractError(f"{name}: two calls with the same bars and params differ (or share memory)")
    return w


def check_kernel(strategy: Any, bars: Bars, params: Any = None, *, from_njit: bool = True) -> None:
    """The kernel writes every cell of a dirty ``out`` and agrees with ``target_weights``;
    it can be called from other Numba code (as a fused sweep does)."""
    strat = _strategy(strategy)
    kernel = getattr(strat, "kernel", None)
    if kernel is None:
        return
    p = _params(strat, params)
    expected = _weights(strat, bars, p, "the bars")
    out = np.full(bars.shape, 7.0)  # garbage: a sweep reuses scratch buffers
    args = (bars.open, bars.high, bars.low, bars.close, bars.volume, p.to_array())
    kernel(*args, out)
    diff = _first_difference(out, expected)
    if diff is not None:
        t, j = diff
        raise ContractError(f"{strat.name}: kernel on a reused out buffer gives {out[t, j]!r} at bar {t}, symbol "
                            f"{bars.symbols[j]!r}, target_weights gives {expected[t, j]!r}; "
                            "the kernel must write every cell")
    if from_njit:
        out2 = np.full(bars.shape, -3.0)
        _call_from_njit()(kernel, *args, out2)
        if not np.array_equal(out2, expected):
            raise ContractError(f"{strat.name}: kernel called from njit code differs from target_weights")


_NJIT_CALLER: list[Any] = []


def _call_from_njit() -> Any:
    if not _NJIT_CALLER:
        from numba import njit

        @njit
        def call(kernel, o, h, lo, c, v, p, out):  # pragma: no cover - compiled
            kernel(o, h, lo, c, v, p, out)

        _NJIT_CALLER.append(call)
    return _NJIT_CALLER[0]


def check_activity(strategy: Any, bars: Bars, params: Any = None) -> None:
    """Some weight after warmup is non-zero (a strategy that never trades is broken)."""
    strat = _strategy(strategy)
    p = _params(strat, params)
    warm = int(strat.warmup(p))
    if bars.n_bars <= warm + 50:
        return
    w = _weights(strat, bars, p, "the bars")
    if not np.any(w[warm:] != 0.0):
        raise ContractError(f"{strat.name}: every weight after warmup ({warm}) is 0 on {bars!r}")


def check_strategy(strategy: Any, bars: Bars | Sequence[Bars] | None = None, params: Any = None, *,
                   cuts: int | Sequence[int] | None = None, from_njit: bool = True,
                   require_activity: bool = True) -> None:
    """Run the whole contract on a strategy (raises :class:`ContractError` on the first
    broken rule). ``bars`` defaults to :func:`contract_bars`; ``params`` to the defaults."""
    strat = _strategy(strategy)
    check_protocol(strat)
    check_param_validation(strat)
    check_toml_round_trip(strat, params)
    if bars is None:
        bars_list: Sequence[Bars] = [contract_bars()]
    elif isinstance(bars, Bars):
        bars_list = [bars]
    else:
        bars_list = list(bars)
    for b in bars_list:
        check_weights(strat, b, params)
        check_kernel(strat, b, params, from_njit=from_njit)
        check_no_lookahead(strat, b, params, cuts=cuts)
        if require_activity:
            check_activity(strat, b, params)


class StrategyContract:
    """The contract suite as a pytest class: subclass it and set ``strategy``.

    Optional class attributes: ``params`` (a Params instance or dict; default the
    defaults), ``cuts`` (see :func:`check_no_lookahead`) and ``bars()`` (override to
    test on other data; default :func:`contract_bars`).
    """

    strategy: Any = None
    params: Any = None
    cuts: int | Sequence[int] | None = None

    def bars(self) -> Bars:
        return contract_bars()

    def _bars_cached(self) -> Bars:
        cache = type(self).__dict__.get("_bars_cache")
        if cache is None:
            cache = self.bars()
            type(self)._bars_cache = cache
        return cache

    def test_protocol(self) -> None:
        check_protocol(self.strategy)

    def test_param_validation(self) -> None:
        check_param_validation(self.strategy)

    def test_toml_round_trip(self) -> None:
        check_toml_round_trip(self.strategy, self.params)

    def test_weights_finite_warmup_leverage_missing_bars_deterministic(self) -> None:
        check_weights(self.strategy, self._bars_cached(), self.params)

    def test_kernel_reusable_and_callable_from_njit(self) -> None:
        check_kernel(self.strategy, self._bars_cached(), self.params)

    def test_no_lookahead(self) -> None:
        check_no_lookahead(self.strategy, self._bars_cached(), self.params, cuts=self.cuts)

    def test_trades_after_warmup(self) -> None:
        check_activity(self.strategy, self._bars_cached(), self.params)
