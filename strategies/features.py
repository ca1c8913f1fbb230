"""Feature definitions: named, parameterised, point-in-time functions of ``Bars``.

A :class:`Definition` is a name, a kernel (a function of ``Bars`` built on this
package's Numba kernels), its parameters and a declared lookback. Its identity
(:attr:`Definition.hash`) is a hash of the name, the parameters, the output it takes
from the kernel and the *source* of the kernel and of every function, class and
constant of this package the kernel reaches (found by walking the code objects), not
the repository's commit: an unrelated commit leaves every hash unchanged, an edit of
``features_nb`` changes the hashes of every feature computed with it.

The existing inputs are definitions, computed by the very functions the strategies
call (no second implementation, so values are bit for bit those of
:func:`strategies.inputs.compute_inputs`):

- feature set ``mlp``: the model's features (:func:`strategies.ml.features.compute_features`);
- feature set ``base``: the common inputs (:func:`strategies.inputs.base_inputs`);
- one set per rule strategy (its name, default params; :func:`strategy_set` for
  others): the strategy's ``inputs(bars, params)``.

Lookback contract (what incremental materialisation relies on, tested for every
definition): computed on ``bars[s:]`` with ``s`` a multiple of :attr:`Definition.align`,
the values of rows ``t >= s + lookback - 1`` equal those computed on all bars, bit for
bit. The rolling kernels of :mod:`strategies.indicators.nb` recompute their running
sums every ``window`` rows, hence the alignment. ``lookback=None``: unknown, every
materialisation recomputes everything.

Storage lives in :mod:`market_data.features` (``FeatureStore``); :func:`materialise`
and :func:`read` join the two.
"""

from __future__ import annotations

import contextlib
import contextvars
import dis
import functools
import hashlib
import importlib
import inspect
import json
import math
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from market_data import Bars
from market_data.errors import InputError

__all__ = ["Definition", "FeatureSet", "compute", "feature_set", "feature_sets", "strategy_set", "source_of",
           "check_definition_no_lookahead", "check_lookback", "check_per_symbol", "materialise", "read", "inputs_from_store",
           "feature_lineage", "check_feature_lineage", "use_store", "FeatureUsage", "DEFAULT_SETS"]

_PACKAGE = "strategies"


# ----------------------------------------------------------------------- identity
def _candidates(code: types.CodeType, g: Mapping[str, Any]) -> list[Any]:
    """Objects a code object (and its nested code) may use: globals it names, and attributes of modules it
    imports or names (``from strategies.x import f`` inside a function; ``nb.f``)."""
    names: set[str] = set()
    modules: list[Any] = []
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        for ins in dis.get_instructions(c):
            if ins.opname == "IMPORT_NAME" and str(ins.argval).startswith(_PACKAGE):
                try:
                    modules.append(importlib.import_module(str(ins.argval)))
                except ImportError:
                    pass
    out = []
    for n in sorted(names):
        if n in g:
            obj = g[n]
            if isinstance(obj, types.ModuleType):
                modules.append(obj)
            else:
                out.append(obj)
    for mod in modules:
        if mod.__name__.startswith(_PACKAGE):
            out.extend(getattr(mod, n) for n in sorted(names) if hasattr(mod, n)
                       and not isinstance(getattr(mod, n), types.ModuleType))
    return out


def _ours(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "") or "").split(".")[0] == _PACKAGE


def source_of(fn: Callable[..., Any], extra: Sequence[Callable[..., Any]] = ()) -> dict[str, str]:
    """``{qualified name: source}`` of ``fn``, ``extra`` and everything of this package they reach.

    Numba dispatchers count by their Python function; simple constants (numbers,
    strings, tuples of them) by their ``repr``.
    """
    seen: dict[str, str] = {}
    todo: list[Any] = [fn, *extra]
    while todo:
        obj = todo.pop()
        obj = getattr(obj, "py_func", obj)  # a Numba dispatcher
        if getattr(obj, "__feature_identity__", True) is False:
            continue  # plumbing that returns the same values (e.g. reading materialised features)
        if isinstance(obj, (int, float, str, tuple)) and not isinstance(obj, bool):
            continue  # constants are resolved with their module below
        if not (inspect.isfunction(obj) or inspect.isclass(obj)) or not _ours(obj):
            continue
        key = f"{obj.__module__}.{obj.__qualname__}"
        if key in seen:
            continue
        if inspect.isfunction(obj) and obj.__code__.co_filename.startswith("<"):
            continue  # generated (a dataclass's __init__ ...): the class's source covers it
        try:
            seen[key] = _value_neutral(inspect.getsource(obj))
        except (OSError, TypeError):
            raise InputError(f"feature kernel {key}: its source is not available, so it has no identity") from None
        if inspect.isfunction(obj):
            g = obj.__globals__
            for cand in _candidates(obj.__code__, g):
                if isinstance(cand, (int, float, str, tuple)) and not isinstance(cand, bool):
                    for n, v in g.items():
                        if v is cand and not n.startswith("__"):
                            seen.setdefault(f"{obj.__module__}.{n}", repr(v))
                else:
                    todo.append(cand)
        else:
            home = inspect.getsourcefile(obj)
            for member in vars(obj).values():
                member = getattr(member, "__func__", member)
                # methods written in the class body (not those a decorator such as @dataclass generated)
                if inspect.isfunction(member) and member.__code__.co_filename == home \
                        and member.__qualname__.startswith(obj.__qualname__ + "."):
                    todo.append(member)
    return dict(sorted(seen.items()))


#: Numba flags that change how a kernel runs, never what it returns: ``nogil=True`` is dropped
#: from decorator lines before hashing, so releasing the GIL keeps every identity (``cache=True``
#: is on every kernel; ``fastmath`` and ``parallel`` can change values and count).
_NEUTRAL_FLAG = re.compile(r",\s*nogil\s*=\s*True\b|\bnogil\s*=\s*True\s*,\s*|\bnogil\s*=\s*True\b")
_EMPTY_CALL = re.compile(r"\(\)(?=\s*$)")  # the decorator's parentheses once nothing is left in them


def _value_neutral(source: str) -> str:
    """``source`` with the value-neutral Numba flags removed from its decorator lines."""
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("@"):
            break
        if "nogil" in line:  # `@njit(nogil=True)` becomes `@njit`, `@njit(cache=True, nogil=True)` `@njit(cache=True)`
            lines[i] = _EMPTY_CALL.sub("", _NEUTRAL_FLAG.sub("", line))
    return "".join(lines)


@functools.lru_cache(maxsize=256)
def _cached_sources(fn: Callable[..., Any], extra: tuple[Callable[..., Any], ...]) -> tuple[tuple[str, str], ...]:
    """:func:`source_of`, once per kernel per process (the definitions of a set share a kernel)."""
    return tuple(source_of(fn, extra).items())


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in sorted(params.items()):
        if isinstance(v, np.generic):
            v = v.item()
        if not isinstance(v, (bool, int, float, str)) and v is not None:
            raise InputError(f"feature parameter {k!r} must be a bool, int, float or str, got {type(v).__name__}")
        out[k] = v
    return out


# -------------------------------------------------------------------- definitions
@dataclass(frozen=True, eq=False)
class Definition:
    """One feature: ``kernel(bars, **params)`` gives a ``(T, N)`` array, a ``(T, N, K)`` array
    (take ``output``, an int) or :class:`strategies.inputs.Inputs` (take ``output``, a name).

    ``lookback``/``align``: see the module docstring. ``depends``: functions the kernel
    calls indirectly (through a registry), hashed like the kernel. ``per_symbol``: each
    symbol's column depends on that symbol's bars only (no cross-sectional step), so the
    values on any subset of the symbols are those columns of the values on all of them,
    bit for bit (:func:`check_per_symbol`); materialising then computes and writes the
    symbols shard by shard, overlapped. Like ``lookback`` it is a declaration about the
    kernel, not part of the identity.
    """

    name: str
    kernel: Callable[..., Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    output: int | str | None = None
    lookback: int | None = None
    align: int = 1
    depends: tuple[Callable[..., Any], ...] = ()
    doc: str = ""
    per_symbol: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", self.name):
            raise InputError(f"feature name {self.name!r} is invalid: a letter, then letters, digits or '_'")
        if not callable(self.kernel):
            raise InputError(f"feature {self.name!r}: kernel must be callable, got {type(self.kernel).__name__}")
        if self.lookback is not None and (isinstance(self.lookback, bool) or not isinstance(self.lookback, int)
                                          or self.lookback < 1):
            raise InputError(f"feature {self.name!r}: lookback must be a positive int (bars) or None, "
                             f"got {self.lookback!r}")
        if isinstance(self.align, bool) or not isinstance(self.align, int) or self.align < 1:
            raise InputError(f"feature {self.name!r}: align must be a positive int, got {self.align!r}")
        if not isinstance(self.per_symbol, bool):
            raise InputError(f"feature {self.name!r}: per_symbol must be True or False, got {self.per_symbol!r}")
        object.__setattr__(self, "params", _jsonable(self.params))

    @property
    def sources(self) -> dict[str, str]:
        return dict(_cached_sources(self.kernel, self.depends))

    @property
    def hash(self) -> str:
        """The identity: blake2b of name, params, output and the sources (cached)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            doc = {"name": self.name, "params": self.params, "output": self.output, "sources": self.sources}
            cached = hashlib.blake2b(json.dumps(doc, sort_keys=True).encode(), digest_size=16).hexdigest()
            object.__setattr__(self, "_hash", cached)
        return cached

    def _group_key(self) -> tuple:
        return (id(self.kernel), json.dumps(self.params, sort_keys=True))

    def _take(self, result: Any, bars: Bars, contiguous: bool = True) -> np.ndarray:
        from strategies.inputs import Inputs

        if isinstance(result, Inputs):
            arr = result[str(self.output)] if self.output is not None else result.values[:, :, 0]
        else:
            arr = np.asarray(result)
            if arr.ndim == 3:
                arr = arr[:, :, int(self.output or 0)]
        if arr.shape != bars.shape:
            raise InputError(f"feature {self.name!r}: kernel returned shape {arr.shape}, expected {bars.shape} "
                             "(bars x symbols)")
        if not contiguous and arr.dtype == np.float64:
            return arr  # a view into the kernel's result (materialise copies it once, into storage order)
        return np.ascontiguousarray(arr, dtype=np.float64)

    def compute(self, bars: Bars) -> np.ndarray:
        """The ``(T, N)`` float64 values on ``bars``."""
        return compute([self], bars)[0]


def compute(definitions: Sequence[Definition], bars: Bars, *, contiguous: bool = True) -> list[np.ndarray]:
    """The values of ``definitions`` on ``bars``; each kernel runs once per distinct params.

    ``contiguous=False``: float64 values may be strided views into a kernel's ``(T, N, K)``
    result instead of copies (what :func:`materialise` asks for).
    """
    if not isinstance(bars, Bars):
        raise InputError(f"features are computed from market_data.Bars, got {type(bars).__name__}")
    results: dict[tuple, Any] = {}
    out = []
    for d in definitions:
        key = d._group_key()
        if key not in results:
            results[key] = d.kernel(bars, **d.params)
        out.append(d._take(results[key], bars, contiguous))
    return out


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """A named list of definitions, materialised together (one group of the feature store)."""

    name: str
    definitions: tuple[Definition, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        names = [d.name for d in self.definitions]
        if not names:
            raise InputError(f"feature set {self.name!r} has no definitions")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"feature set {self.name!r}: duplicate feature names {', '.join(dup)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.definitions)

    @property
    def hashes(self) -> dict[str, str]:
        return {d.name: d.hash for d in self.definitions}

    def __getitem__(self, name: str) -> Definition:
        for d in self.definitions:
            if d.name == name:
                return d
        raise InputError(f"feature set {self.name!r} has no feature {name!r} (it has {', '.join(self.names)})")


# --------------------------------------------------------------- built-in kernels
def mlp_features(bars: Bars) -> np.ndarray:
    """The mlp's ``(T, N, 9)`` features (:func:`strategies.ml.features.compute_features`)."""
    from strategies.ml.features import compute_features

    return compute_features(bars)


def base_features(bars: Bars) -> Any:
    """The common inputs of the rule strategies (:func:`strategies.inputs.base_inputs`)."""
    from strategies.inputs import base_inputs

    return base_inputs(bars)


def strategy_inputs(bars: Bars, *, strategy: str, **params: Any) -> Any:
    """``compute_inputs(strategy, bars, params)``: a strategy's own inputs."""
    from strategies.inputs import compute_inputs

    return compute_inputs(strategy, bars, params or None)


#: Rows of history the mlp features read: the 60-bar volatility of 1-bar log returns needs 61 closes.
_MLP_LOOKBACK = 61


def _mlp_set() -> FeatureSet:
    from strategies.ml.features import FEATURE_NAMES

    defs = tuple(Definition(n, mlp_features, output=i, lookback=_MLP_LOOKBACK, doc=f"mlp feature {n}",
                            per_symbol=True) for i, n in enumerate(FEATURE_NAMES))
    return FeatureSet("mlp", defs, doc="the mlp strategy's model features (strategies.ml.features)")


def _base_set() -> FeatureSet:
    from strategies.inputs import BASE_INPUT_NAMES

    defs = tuple(Definition(n, base_features, output=n, lookback=_MLP_LOOKBACK, doc=f"common input {n}",
                            per_symbol=True) for n in BASE_INPUT_NAMES)
    return FeatureSet("base", defs, doc="the rule strategies' common inputs (strategies.inputs.base_inputs)")


def _strategy_lookback(name: str, p: Any) -> tuple[int | None, int]:
    """(lookback, align) of a built-in rule strategy's inputs (module docstring's contract)."""
    m = _MLP_LOOKBACK  # the common inputs come from the mlp feature kernel
    if name in ("sma_crossover", "sma_reversal"):
        return max(m, p.slow), math.lcm(p.fast, p.slow)
    if name == "bollinger_reversion":
        return max(m, p.window), p.window
    if name == "donchian_breakout":
        return max(m, max(p.entry, p.exit) + 1), 1
    if name == "vol_target_momentum":  # the std of returns starts one row late in a tail: two windows
        return max(m, p.lookback + 1, 2 * p.vol_window + 1), p.vol_window
    if name == "xs_momentum":
        return max(m, p.lookback + 1), 1
    return None, 1


#: Built-in strategies whose inputs are per-symbol (tested by check_per_symbol for each).
_PER_SYMBOL_INPUTS = ("sma_crossover", "sma_reversal", "bollinger_reversion", "donchian_breakout",
                      "vol_target_momentum", "xs_momentum")


def strategy_set(strategy: Any, params: Any = None, *, name: str | None = None) -> FeatureSet:
    """The inputs of a strategy with ``params`` (default: its defaults) as a feature set
    (named ``name``, default the strategy's name)."""
    import strategies
    from strategies._base import coerce_params
    from strategies.inputs import base_inputs, compute_inputs

    strat = strategies.get(strategy)
    if getattr(strat, "name", None) == "mlp":
        return _mlp_set() if name in (None, "mlp") else FeatureSet(name, _mlp_set().definitions)
    p = coerce_params(strat.Params, params)
    pdict = p.to_dict() if hasattr(p, "to_dict") else dict(vars(p))
    fn = getattr(strat, "inputs", None)
    if fn is None:
        names = _base_set().names
    else:
        names = compute_inputs(strat, _probe_bars(), p).names
    lookback, align = _strategy_lookback(strat.name, p)
    depends = (fn,) if fn is not None else (base_inputs,)
    # the built-in strategies' inputs are per-symbol series (a cross-sectional rank, as
    # xs_momentum's, happens in target_weights); a strategy of a user's is not assumed to be
    per_symbol = strat.name in _PER_SYMBOL_INPUTS and (fn is None or _ours(fn))
    defs = tuple(Definition(n, strategy_inputs, params={"strategy": strat.name, **pdict}, output=n,
                            lookback=lookback, align=align, depends=depends,
                            doc=f"input {n} of {strat.name}", per_symbol=per_symbol) for n in names)
    return FeatureSet(name or strat.name, defs, doc=f"the inputs of strategy {strat.name} ({pdict})")


def _probe_bars() -> Bars:
    from strategies.testing import make_bars

    return make_bars(np.linspace(100.0, 101.0, 3))


_SETS: dict[str, Callable[[], FeatureSet]] = {"mlp": _mlp_set, "base": _base_set}
#: The rule strategies whose default inputs are built-in feature sets.
_RULES = ("sma_crossover", "sma_reversal", "bollinger_reversion", "donchian_breakout", "vol_target_momentum",
          "xs_momentum")
DEFAULT_SETS: tuple[str, ...] = ("mlp", "base", *_RULES)


def feature_sets() -> list[str]:
    """The names of the built-in feature sets."""
    return list(DEFAULT_SETS)


def feature_set(name: str | FeatureSet) -> FeatureSet:
    """A built-in feature set by name (a :class:`FeatureSet` is returned unchanged)."""
    if isinstance(name, FeatureSet):
        return name
    if name in _SETS:
        return _SETS[name]()
    if name in _RULES:
        return strategy_set(name)
    import difflib

    close = difflib.get_close_matches(str(name), DEFAULT_SETS, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise InputError(f"unknown feature set {name!r}{hint} (available: {', '.join(DEFAULT_SETS)})")


# ------------------------------------------------------------------------ checks
class _DefinitionAsStrategy:
    """Adapter so that the strategies' look-ahead guard runs on a definition's values."""

    def __init__(self, d: Definition) -> None:
        from strategies.params import Params

        self.name = d.name
        self.Params = Params
        self.lookahead_words = ("feature", "value")
        self._d = d

    def search_space(self) -> dict[str, Any]:
        return {}

    def warmup(self, p: Any) -> int:
        return (self._d.lookback or 2) - 1

    def target_weights(self, bars: Bars, params: Any = None) -> np.ndarray:
        return self._d.compute(bars)


def check_definition_no_lookahead(definition: Definition, bars: Bars, cuts: Any = None, *, seed: int = 0) -> Any:
    """The prefix test of :func:`strategies.testing.check_no_lookahead` on a definition's values."""
    from strategies.testing import check_no_lookahead

    return check_no_lookahead(_DefinitionAsStrategy(definition), bars, None, cuts, seed=seed)


def tail_start(definition: Definition, n_old: int) -> int | None:
    """First row to recompute from so that rows ``>= n_old`` are exact (None: recompute everything)."""
    if definition.lookback is None:
        return None
    s = n_old - definition.lookback  # as market_data.features: one stored row is recomputed and checked
    return max(0, (s // definition.align) * definition.align) if s > 0 else 0


def _first_difference(got: np.ndarray, want: np.ndarray) -> tuple[int, int] | None:
    """The first ``(row, column)`` where the two differ (NaN equals NaN), or None."""
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    return None if same.all() else tuple(int(i) for i in np.argwhere(~same)[0])


def check_lookback(definition: Definition, bars: Bars, n_old: Iterable[int]) -> None:
    """Raise ``AssertionError`` unless computing from :func:`tail_start` reproduces rows ``>= n_old`` exactly."""
    full = definition.compute(bars)
    for k in n_old:
        s = tail_start(definition, k)
        if s is None:
            continue
        part = definition.compute(bars[s:])
        got, want = part[k - s:], full[k:]
        if (bad := _first_difference(got, want)) is not None:
            t, j = bad
            raise AssertionError(f"feature {definition.name!r}: recomputed from row {s} for rows >= {k}, row "
                                 f"{k + t} symbol {j} gives {got[t, j]!r}, all bars give {want[t, j]!r}: the "
                                 f"declared lookback {definition.lookback} / align {definition.align} is too short")


def check_per_symbol(definition: Definition, bars: Bars, subsets: Iterable[Sequence[int]]) -> None:
    """Raise ``AssertionError`` unless the values on each subset of the symbols (column indices,
    in any order) equal those columns of the values on all symbols, bit for bit."""
    full = definition.compute(bars)
    for cols in subsets:
        cols = [int(c) for c in cols]
        part = definition.compute(bars.select([bars.symbols[c] for c in cols]))
        want = full[:, cols]
        if (bad := _first_difference(part, want)) is not None:
            t, j = bad
            raise AssertionError(f"feature {definition.name!r}: on symbols {cols} row {t} symbol "
                                 f"{bars.symbols[cols[j]]!r} gives {part[t, j]!r}, on all symbols "
                                 f"{want[t, j]!r}: it is not per-symbol")


# ------------------------------------------------------------------- the store
def _spec(d: Definition) -> Any:
    from market_data.features import FeatureSpec

    return FeatureSpec(name=d.name, hash=d.hash, lookback=d.lookback, align=d.align, per_symbol=d.per_symbol)


def materialise(store: Any, features: str | FeatureSet, *, snapshot: str | None = None, frequency: str = "1d",
                progress: Any = None) -> str:
    """Compute ``features`` on the bars of ``snapshot`` and write them into ``store``'s feature store
    (one commit); returns the feature commit's snapshot id. See :meth:`market_data.features.FeatureStore.materialise`."""
    from market_data.features import FeatureStore

    fs = feature_set(features)
    by_name = {d.name: d for d in fs.definitions}

    def compute_fn(names: Sequence[str], bars: Bars) -> list[np.ndarray]:
        from strategies.ml.features import _STORE

        token = _STORE.set(None)  # materialising computes, never reads back
        try:
            return compute([by_name[n] for n in names], bars, contiguous=False)
        finally:
            _STORE.reset(token)

    return FeatureStore(store).materialise([_spec(d) for d in fs.definitions], compute_fn, feature_set=fs.name,
                                           snapshot=snapshot, frequency=frequency, progress=progress)


def read(store: Any, features: str | FeatureSet, names: Sequence[str] | None = None, *, symbols: Any = None,
         start: Any = None, end: Any = None, as_of: str | None = None, frequency: str = "1d",
         check: bool = True) -> Any:
    """Read materialised features; with ``check`` (default) refuse values whose definitions changed
    since they were materialised (:class:`market_data.errors.FeatureDefinitionChangedError`)."""
    from market_data.features import FeatureStore

    fs = feature_set(features)
    wanted = list(fs.names if names is None else names)
    for n in wanted:
        fs[n]
    return FeatureStore(store).read(wanted, feature_set=fs.name, symbols=symbols, start=start, end=end,
                                    as_of=as_of, frequency=frequency,
                                    expect={n: fs[n].hash for n in wanted} if check else None)


class FeatureUsage:
    """What the consumers inside one :func:`use_store` block read: how many feature requests were served
    from the store (``stored``) or computed on the fly (``computed``, with the reasons), and which feature
    commits (snapshot ids) and definition hashes the stored values came from."""

    def __init__(self) -> None:
        self.stored = 0
        self.computed = 0
        self.head_rows = 0
        self.reasons: dict[str, int] = {}
        self.feature_snapshots: dict[str, str] = {}  # feature commit -> the bar snapshot it was materialised from
        self.definitions: dict[str, dict[str, str]] = {}  # feature set -> {name: hash} read
        self._missing: set[tuple] = set()  # (set, frequency, snapshot, hashes): not materialised, within this block

    def _hit(self, found: Any, head: int) -> None:
        self.stored += 1
        self.head_rows += int(head)
        self.feature_snapshots[found.snapshot_id] = found.source_snapshot
        self.definitions[found.feature_set] = dict(found.hashes)

    def _miss(self, why: str) -> None:
        self.computed += 1
        self.reasons[why] = self.reasons.get(why, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (what retrain, the paper runner and the monitors record)."""
        return {"stored": self.stored, "computed": self.computed, "head_rows": self.head_rows,
                "computed_because": dict(sorted(self.reasons.items())),
                "feature_snapshots": dict(sorted(self.feature_snapshots.items())),
                "definitions": {k: dict(sorted(v.items())) for k, v in sorted(self.definitions.items())}}

    def __repr__(self) -> str:
        return f"FeatureUsage(stored={self.stored}, computed={self.computed})"


_USAGE: contextvars.ContextVar[FeatureUsage | None] = contextvars.ContextVar("strategies.features.usage",
                                                                            default=None)
#: Whole materialised sets read once and sliced per request (immutable once written: keyed by the feature
#: commit, the definition hashes and the symbols). Small: a few sets of one process's deployments.
_READ_CACHE: dict[tuple, Any] = {}
_READ_CACHE_MAX = 4
#: (store, set, frequency, snapshot, hashes) -> the materialisation ``FeatureStore._find`` found with those hashes
_FOUND_CACHE: dict[tuple, Any] = {}


def _stored_set(store: Any, fs: FeatureSet, frequency: str, snapshot_id: str, symbols: tuple[str, ...],
                usage: FeatureUsage | None) -> Any:
    """The set's materialised ``Features`` (all rows, ``symbols``) from ``snapshot_id``, or a str saying why not."""
    from market_data.errors import FeatureDefinitionChangedError, FeaturesNotMaterialisedError
    from market_data.features import FeatureStore

    hashes = tuple(sorted(fs.hashes.items()))
    miss_key = (fs.name, frequency, snapshot_id, hashes)
    if usage is not None and miss_key in usage._missing:
        return "not materialised from the snapshot"
    fstore = FeatureStore(store)
    found_key = (getattr(store, "uri", id(store)), fs.name, frequency, snapshot_id, hashes)
    found = _FOUND_CACHE.get(found_key)
    try:
        if found is None:  # a walk of the branch's history, once: a materialisation with these hashes stays valid
            found = fstore._find(fs.name, frequency, snapshot_id)
            if tuple(sorted(found.definitions.items())) == hashes:
                while len(_FOUND_CACHE) >= 64:
                    _FOUND_CACHE.pop(next(iter(_FOUND_CACHE)))
                _FOUND_CACHE[found_key] = found
    except FeaturesNotMaterialisedError:
        if usage is not None:
            usage._missing.add(miss_key)
        return "not materialised from the snapshot"
    except InputError:  # e.g. a snapshot of another store
        return "not materialised from the snapshot"
    key = (getattr(store, "uri", id(store)), found.snapshot_id, fs.name, frequency, hashes, symbols)
    got = _READ_CACHE.get(key)
    if got is None:
        try:
            got = fstore.read(list(fs.names), feature_set=fs.name, symbols=list(symbols), as_of=found.snapshot_id,
                              frequency=frequency, expect=dict(fs.hashes))
        except FeatureDefinitionChangedError:
            return "materialised with other definitions"
        except InputError:  # e.g. a symbol that was not materialised
            return "a symbol was not materialised"
        got.values.flags.writeable = False
        while len(_READ_CACHE) >= _READ_CACHE_MAX:
            _READ_CACHE.pop(next(iter(_READ_CACHE)))
        _READ_CACHE[key] = got
    return got


def inputs_from_store(store: Any, features: str | FeatureSet, bars: Bars) -> Any:
    """``Inputs`` of a feature set for exactly ``bars``, read from the store's features materialised from
    ``bars.snapshot_id`` with the same definition hashes; None when they cannot be (compute them instead).

    ``bars`` may be any run of consecutive stored rows (every symbol stored: the features
    of a symbol depend on its bars only). When the run starts at stored row ``s > 0``
    its first rows have a warm-up of their own on the fly, so those rows are computed
    on ``bars`` (the prefix property: row ``t`` needs bars ``<= t`` only) and the rest
    are the stored values, which equal the on-the-fly values from row ``s + lookback - 1``
    on when ``s`` is a multiple of every definition's ``align`` (the lookback contract,
    tested for every definition). Otherwise (no lookback, a misaligned start) None.
    The values are bit for bit those :func:`compute` gives on ``bars``. Inside
    :func:`use_store` the block's :class:`FeatureUsage` counts what was read.
    """
    from strategies.inputs import Inputs

    usage = _USAGE.get()

    def miss(why: str) -> None:
        if usage is not None:
            usage._miss(why)

    if store is None or not getattr(bars, "snapshot_id", None) or bars.n_bars == 0:
        miss("no snapshot id" if store is not None else "no store")
        return None
    fs = feature_set(features)
    syms = tuple(bars.symbols)
    got = _stored_set(store, fs, bars.frequency, bars.snapshot_id, syms, usage)
    if isinstance(got, str):
        miss(got)
        return None
    ts = got.timestamps
    T = bars.n_bars
    off = int(np.searchsorted(ts, bars.timestamps[0], side="left"))
    if off + T > ts.size or not np.array_equal(ts[off:off + T], bars.timestamps):
        miss("the bars are not consecutive stored rows")
        return None
    head = 0
    if off > 0:
        if any(d.lookback is None or off % d.align for d in fs.definitions):
            miss("a window start the definitions' lookback or alignment does not cover")
            return None
        head = min(T, max(d.lookback for d in fs.definitions) - 1)
    values = np.array(got.values[off:off + T], dtype=np.float64)
    if head:
        from strategies.ml.features import _STORE

        token = _STORE.set(None)  # the head is computed, never read back
        try:
            part = compute(fs.definitions, bars[:head])
        finally:
            _STORE.reset(token)
        values[:head] = np.stack(part, axis=2)
    if usage is not None:
        usage._hit(got, head)
    return Inputs(tuple(fs.names), values, np.asarray(bars.timestamps), syms)


# ------------------------------------------------------------ model versions
def feature_lineage(strategy: Any, params: Any = None) -> dict[str, Any]:
    """What a registered version records about its inputs: ``{"feature_set": name, "definitions": {name: hash}}``
    of the strategy's feature set with ``params`` (JSON-able, e.g. for ``Registry.register(tags=...)``)."""
    fs = strategy_set(strategy, params)
    return {"feature_set": fs.name, "definitions": fs.hashes}


def check_feature_lineage(recorded: Mapping[str, Any], strategy: Any, params: Any = None) -> None:
    """Refuse (:class:`market_data.errors.FeatureDefinitionChangedError`) a version whose recorded feature
    definitions (:func:`feature_lineage` at training time) differ from today's code."""
    from market_data.errors import FeatureDefinitionChangedError

    now = feature_lineage(strategy, params)
    then = dict(recorded.get("definitions") or {})
    changed = sorted(n for n in set(then) | set(now["definitions"]) if then.get(n) != now["definitions"].get(n))
    if changed:
        raise FeatureDefinitionChangedError(
            f"feature set {now['feature_set']!r}: the definition of {', '.join(changed)} changed since this version "
            f"was trained (recorded {then.get(changed[0])}, now {now['definitions'].get(changed[0])}); retrain it, "
            "or run the code it was trained with")


@contextlib.contextmanager
def use_store(store: Any, *, usage: FeatureUsage | None = None) -> Iterator[FeatureUsage]:
    """Inside the block the mlp strategy (training, inference, weights, and every
    ``compute_features`` caller) reads its features from ``store`` when the ``mlp`` set
    was materialised there from the bars' snapshot with the same definitions; otherwise
    it computes them (same values). Yields the block's :class:`FeatureUsage`, which also
    counts the reads of :func:`strategies.inputs.compute_inputs` with ``store=``.
    ``store=None``: compute everything (the usage then counts nothing). ``usage``: add to
    this one instead of a new one (a runner counting over many blocks)."""
    from strategies.ml.features import _STORE

    usage = FeatureUsage() if usage is None else usage
    token = _STORE.set(store)
    utoken = _USAGE.set(usage)
    try:
        yield usage
    finally:
        _USAGE.reset(utoken)
        _STORE.reset(token)
