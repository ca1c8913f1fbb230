"""``FeatureStore``: materialised features inside the bar store's Icechunk repository.

Layout (beside the bars, versioned by the same snapshots)::

    /features/<frequency>/<feature set>/
                         attrs: format, feature_set, frequency, symbols, source_snapshot,
                                definitions {name: hash}, lookback {name: ...}, align {...}
        timestamps       int64 ns UTC (T,): the source bars' timestamps
        <feature name>   float64 (T, N), chunked and sharded like the bar fields

Every :meth:`FeatureStore.materialise` is exactly one Icechunk commit on ``main``
whose metadata records ``kind="features"``, the feature set, the frequency, the
source snapshot id and the definition hashes; an exception before the commit leaves
nothing behind. Reading ``as_of=S`` finds the commit that materialised the set from
snapshot ``S`` (or the feature commit ``S`` itself) in the branch history; a feature
commit of another set counts as the bar commit before it (same bars); so later
corrections of the bars (``on_conflict="replace"``) and later materialisations never
change what ``as_of=S`` returns.

This module stores arrays and hashes; it computes nothing itself (``market_data``
imports nothing of ours above it): the caller passes the definitions' specs
(:class:`FeatureSpec`: name, hash, lookback, align) and a ``compute(names, bars)``
callable. :mod:`strategies.features` does that for the feature definitions.

Incremental: when the set was last materialised, with the same definition hashes
and symbols, from a snapshot whose bars are a prefix of the new source's bars (every
commit in between only appended rows: no replaced bars, no new symbols, no bar at
or before the old last timestamp), only the new rows are computed, each definition
from the row its lookback and alignment need; the recomputed overlap is compared
with the stored values, and any difference falls back to a full recompute.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from market_data.bars import Bars, _did_you_mean, to_ns
from market_data.errors import (
    ConflictError,
    FeatureDefinitionChangedError,
    FeaturesNotMaterialisedError,
    InputError,
    StoreError,
)
from market_data.frequency import canonical_frequency

__all__ = ["FeatureStore", "FeatureSpec", "Features", "FEATURES_GROUP"]

FEATURES_GROUP = "features"
_FORMAT = "harness-features"
_VIEWS_LOCK = threading.Lock()

_SET_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


@dataclass(frozen=True)
class FeatureSpec:
    """What the store needs of a definition: its name, identity hash, lookback, alignment and whether
    its values are per-symbol (each column from that symbol's bars only: materialise may then
    compute it on a subset of the symbols at a time)."""

    name: str
    hash: str
    lookback: int | None = None
    align: int = 1
    per_symbol: bool = False


@dataclass(frozen=True, eq=False)
class Features:
    """``values[t, n, f]`` is feature ``names[f]`` of ``symbols[n]`` at ``timestamps[t]``."""

    names: tuple[str, ...]
    values: np.ndarray
    timestamps: np.ndarray
    symbols: tuple[str, ...]
    feature_set: str
    frequency: str
    source_snapshot: str
    snapshot_id: str
    hashes: dict[str, str]

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[:, :, self.names.index(name)]
        except ValueError:
            raise InputError(f"no feature named {name!r}; these are {', '.join(self.names)}") from None

    def frame(self, symbol: str | None = None):
        """One symbol's features (default: the first) as a pandas DataFrame indexed by time (UTC)."""
        import pandas as pd

        sym = self.symbols[0] if symbol is None else symbol
        if sym not in self.symbols:
            raise InputError(f"symbol {sym!r} is not in these features ({', '.join(self.symbols)})")
        return pd.DataFrame(self.values[:, self.symbols.index(sym), :], index=pd.to_datetime(self.timestamps, utc=True),
                            columns=list(self.names))


@dataclass(frozen=True)
class MaterialisedSet:
    """One materialisation found in the history (``FeatureStore.list``)."""

    feature_set: str
    frequency: str
    snapshot_id: str
    source_snapshot: str
    time: str
    definitions: dict[str, str]
    rows: int
    symbols: int
    computed_rows: int
    incremental: bool


def _check_specs(specs: Sequence[FeatureSpec]) -> list[FeatureSpec]:
    import re

    specs = list(specs)
    if not specs:
        raise InputError("materialise needs at least one feature definition")
    names = [s.name for s in specs]
    for s in specs:
        if not isinstance(s, FeatureSpec):
            raise InputError(f"materialise expects FeatureSpec objects, got {type(s).__name__}")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", s.name) or s.name == "timestamps":
            raise InputError(f"feature name {s.name!r} is invalid: a letter, then letters, digits or '_' "
                             "(and not 'timestamps')")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"duplicate feature names: {', '.join(dup)}")
    return specs


class FeatureStore:
    """Materialised features of a :class:`market_data.store.BarStore` (same repository)."""

    def __init__(self, store: Any) -> None:
        from market_data.store import BarStore

        if not isinstance(store, BarStore):
            raise InputError(f"FeatureStore needs a BarStore, got {type(store).__name__}")
        self.store = store

    def __repr__(self) -> str:
        return f"FeatureStore({self.store.uri!r})"

    # ----------------------------------------------------------------- history
    def _commits(self) -> Iterable[Any]:
        return self.store._repo.ancestry(branch="main")

    def bar_snapshot(self, snapshot_id: str) -> str:
        """The commit whose bars ``snapshot_id`` holds: itself, or for a feature commit the last commit before it
        that is not one (feature commits leave the bars unchanged)."""
        for snap in self.store._repo.ancestry(snapshot_id=snapshot_id):
            if dict(snap.metadata).get("kind") != "features":
                return snap.id
        return snapshot_id

    def _iter(self, feature_set: str | None = None, frequency: str | None = None) -> Iterator[MaterialisedSet]:
        """The materialisations on ``main``, newest first, read lazily from the branch's history."""
        freq = canonical_frequency(frequency) if frequency else None
        for snap in self._commits():
            m = dict(snap.metadata)
            if m.get("kind") != "features":
                continue
            if feature_set is not None and m.get("feature_set") != feature_set:
                continue
            if freq is not None and m.get("frequency") != freq:
                continue
            yield MaterialisedSet(feature_set=m["feature_set"], frequency=m["frequency"], snapshot_id=snap.id,
                                  source_snapshot=m["source_snapshot"], time=snap.written_at.isoformat(),
                                  definitions=dict(m.get("definitions", {})), rows=int(m.get("rows", 0)),
                                  symbols=int(m.get("symbols", 0)), computed_rows=int(m.get("computed_rows", 0)),
                                  incremental=bool(m.get("incremental", False)))

    def list(self, feature_set: str | None = None, *, frequency: str | None = None) -> list[MaterialisedSet]:
        """Every materialisation on ``main``, newest first (optionally of one set / frequency)."""
        return list(self._iter(feature_set, frequency))

    def _find(self, feature_set: str, freq: str, as_of: str | None) -> MaterialisedSet:
        """The materialisation ``as_of`` names: that feature commit itself, else the newest one made from the
        bars ``as_of`` holds (None: the newest). The history is walked only as far as the answer."""
        asked = None if as_of is None else self.store.resolve(as_of)  # an unknown snapshot says so first
        newest = next(self._iter(feature_set, freq), None)
        if newest is None:
            have = sorted({f"{m.feature_set} ({m.frequency})" for m in self.list()})
            raise FeaturesNotMaterialisedError(
                f"feature set {feature_set!r} ({freq}) was never materialised in {self.store.uri}"
                f"{' (materialised: ' + ', '.join(have) + ')' if have else ''}; run "
                f"`harness features materialise --set {feature_set}`")
        if asked is None:
            return newest
        sid = self.bar_snapshot(asked)
        if sid != asked:  # a feature commit: itself when it is one of this set's
            for m in self._iter(feature_set, freq):
                if m.snapshot_id == asked:
                    return m
        for m in self._iter(feature_set, freq):
            if m.source_snapshot == sid:
                return m
        raise FeaturesNotMaterialisedError(
            f"feature set {feature_set!r} ({freq}) was not materialised from snapshot {sid} (latest: from "
            f"{newest.source_snapshot}); run `harness features materialise --set {feature_set} --snapshot {sid}`")

    # -------------------------------------------------------------------- read
    def read(self, names: str | Sequence[str] | None = None, *, feature_set: str, symbols: Any = None,
             start: Any = None, end: Any = None, as_of: str | None = None, frequency: str = "1d",
             expect: Mapping[str, str] | None = None) -> Features:
        """Features ``names`` (None: all) of ``feature_set`` between ``start`` and ``end`` (inclusive).

        ``as_of``: a bar snapshot id or tag (the features materialised from it), or a
        feature commit's id; None: the latest materialisation. ``expect``
        ``{name: hash}``: refuse (:class:`FeatureDefinitionChangedError`) values stored
        under another definition hash.
        """
        freq = canonical_frequency(frequency)
        found = self._find(feature_set, freq, as_of)
        view = self._view(found.snapshot_id, freq, feature_set)
        attrs, ts = view["attrs"], view["timestamps"]
        defs = dict(attrs["definitions"])
        wanted = list(defs) if names is None else ([names] if isinstance(names, str) else list(names))
        for n in wanted:
            if n not in defs:
                raise InputError(f"feature set {feature_set!r} has no feature {n!r}{_did_you_mean(n, list(defs))} "
                                 f"(it has {', '.join(defs)})")
        if expect:
            changed = [n for n in wanted if n in expect and expect[n] != defs[n]]
            if changed:
                raise FeatureDefinitionChangedError(
                    f"feature set {feature_set!r}: the definition of {', '.join(changed)} changed since it was "
                    f"materialised from snapshot {found.source_snapshot} (stored hash {defs[changed[0]]}, now "
                    f"{expect[changed[0]]}); materialise it again (`harness features materialise --set "
                    f"{feature_set}`)")
        stored = list(attrs["symbols"])
        if symbols is None:
            syms = stored
        else:
            syms = [symbols] if isinstance(symbols, str) else list(symbols)
            for s in syms:
                if s not in stored:
                    raise InputError(f"symbol {s!r} is not in feature set {feature_set!r}{_did_you_mean(s, stored)}")
        from market_data.store import _read_rects

        lo = 0 if start is None else int(np.searchsorted(ts, to_ns(start, name="start"), "left"))
        hi = ts.size if end is None else int(np.searchsorted(ts, to_ns(end, name="end"), "right"))
        cols = np.asarray([stored.index(s) for s in syms], dtype=np.intp)
        blocks = _read_rects([view["array"](n) for n in wanted], lo, max(lo, hi), cols, view["indexes"])
        values = np.stack(blocks, axis=2) if blocks else np.empty((max(0, hi - lo), cols.size, 0))
        return Features(names=tuple(wanted), values=values, timestamps=ts[lo:max(lo, hi)].copy(), symbols=tuple(syms),
                        feature_set=feature_set, frequency=freq, source_snapshot=found.source_snapshot,
                        snapshot_id=found.snapshot_id, hashes={n: defs[n] for n in wanted})

    def _view(self, snapshot_id: str, freq: str, feature_set: str) -> dict[str, Any]:
        """The opened group of a feature commit: its attributes, timestamps, arrays (opened on first use) and
        shard-index cache. A commit never changes, so this is built once per commit (a few kept, as
        ``BarStore`` keeps its frequency views)."""
        from market_data._shards import IndexCache
        from market_data.store import _read_timestamps

        with _VIEWS_LOCK:
            cache = getattr(self.store, "_feature_views", None)
            if cache is None:  # kept on the bar store: it lives as long as the store object
                cache = self.store._feature_views = {}
            key = (snapshot_id, freq, feature_set)
            view = cache.get(key)
        if view is None:
            session = self.store._repo.readonly_session(snapshot_id=snapshot_id)
            group = self._group(session, freq, feature_set)
            opened: dict[str, Any] = {}

            def array(name: str, _group=group, _opened=opened) -> Any:
                if name not in _opened:
                    _opened[name] = _group[name]
                return _opened[name]

            view = {"attrs": dict(group.attrs), "timestamps": _read_timestamps(group["timestamps"]),
                    "array": array, "indexes": IndexCache(1024)}
            with _VIEWS_LOCK:
                while len(cache) >= 4:
                    cache.pop(next(iter(cache)))
                cache[key] = view
        return view

    def _group(self, session: Any, freq: str, feature_set: str) -> Any:
        root = self.store._root(session)
        try:
            group = root[f"{FEATURES_GROUP}/{freq}/{feature_set}"]
        except KeyError:
            raise StoreError(f"{self.store.uri}: snapshot {session.snapshot_id} records feature set {feature_set!r} "
                             f"({freq}) but holds no group for it; the store is damaged") from None
        if group.attrs.get("format") != _FORMAT:
            raise StoreError(f"{self.store.uri}: {FEATURES_GROUP}/{freq}/{feature_set} is not a feature group")
        return group

    # ------------------------------------------------------------- materialise
    def materialise(self, definitions: Sequence[FeatureSpec], compute: Callable[[Sequence[str], Bars], Sequence[Any]],
                    *, feature_set: str, snapshot: str | None = None, frequency: str = "1d",
                    progress: Any = None) -> str:
        """Compute the features on the bars of ``snapshot`` (None: the latest) and write them as one commit.

        ``compute(names, bars)`` returns one ``(T, N)`` float64 array per name, row ``t``
        from bars ``<= t`` only. Returns the feature commit's snapshot id (unchanged
        when the set is already materialised from that snapshot with these hashes).
        """
        import re

        import icechunk

        if not isinstance(feature_set, str) or not re.match(_SET_RE, feature_set):
            raise InputError(f"feature set name {feature_set!r} is invalid; use letters, digits, '.', '_', '-'")
        specs = _check_specs(definitions)
        if not callable(compute):
            raise InputError("materialise needs a compute(names, bars) callable")
        freq = canonical_frequency(frequency)
        source = self.bar_snapshot(self.store.resolve(snapshot))
        hashes = {s.name: s.hash for s in specs}
        say = progress or (lambda msg: None)
        with self.store._writer_lock():
            prev = self._previous(feature_set, freq)
            if prev is not None and prev.source_snapshot == source and prev.definitions == hashes:
                return prev.snapshot_id
            symbols = self.store.symbols(freq, snapshot=source)
            session = self.store._repo.writable_session("main")
            root = self.store._root(session, "r+")
            plan = self._plan(root, prev, specs, hashes, source, freq, symbols)
            done = self._incremental(root, plan, compute, specs, feature_set, source, freq, say) if plan else None
            if done is None:
                say(f"features {feature_set}: full computation from snapshot {source}")
                rows = self._streamed(root, compute, specs, feature_set, source, freq, say)
                if rows is None:
                    bars = self.store.read(frequency=freq, snapshot=source)
                    group = self._new_group(root, freq, feature_set, specs, bars.timestamps, bars.symbols)
                    self._write(group, specs, self._computed(compute, [s.name for s in specs], bars), 0)
                    rows = (group, bars.n_bars)
                done = (rows[0], rows[1], rows[1], False)
            group, T, computed, incremental = done
            group.attrs.update({"source_snapshot": source, "definitions": hashes})
            meta = {"kind": "features", "feature_set": feature_set, "frequency": freq, "source_snapshot": source,
                    "definitions": hashes, "rows": int(T), "symbols": len(symbols), "computed_rows": int(computed),
                    "incremental": incremental}
            try:
                return session.commit(f"materialise features {feature_set} ({freq}) from {source}", metadata=meta)
            except icechunk.ConflictError as exc:
                raise ConflictError(f"materialising {feature_set!r} conflicts with a concurrent commit ({exc}); "
                                    "nothing was written, try again") from None

    def _incremental(self, root: Any, plan: tuple[Any, int, dict[str, int]], compute: Callable,
                     specs: list[FeatureSpec], feature_set: str, source: str, freq: str,
                     say: Callable[[str], None]) -> tuple[Any, int, int, bool] | None:
        """Compute and stage only the new rows; None when a check says a full computation is needed."""
        from market_data.store import _read_rect

        group, T_old, starts = plan
        old_ts = _read_ts(group)
        s_min = min(starts.values())
        bars = self.store.read(frequency=freq, snapshot=source, start=int(old_ts[s_min]))
        n_sym = bars.n_symbols
        if bars.n_bars < T_old - s_min or not np.array_equal(bars.timestamps[:T_old - s_min], old_ts[s_min:]):
            say(f"features {feature_set}: the stored rows moved in the new bars")
            return None
        T = s_min + bars.n_bars
        arrays: dict[str, np.ndarray] = {}
        by_start: dict[int, list[FeatureSpec]] = {}
        for s in specs:
            by_start.setdefault(starts[s.name], []).append(s)
        for s0, group_specs in sorted(by_start.items()):
            vals = self._computed(compute, [s.name for s in group_specs], bars[s0 - s_min:])
            for spec in group_specs:
                v = vals[spec.name]
                exact_from = max(s0 + (spec.lookback or 1) - 1, 0)
                if exact_from < T_old:  # the recomputed overlap must equal what is stored
                    old = _read_rect(group[spec.name], exact_from, T_old, np.arange(n_sym))
                    if not np.array_equal(old, v[exact_from - s0:T_old - s0], equal_nan=True):
                        say(f"features {feature_set}: {spec.name} differs from the stored rows")
                        return None
                arrays[spec.name] = v[T_old - s0:]
        say(f"features {feature_set}: {T - T_old} new row(s) from snapshot {source}")
        if T > T_old:
            group["timestamps"].resize((T,))
            group["timestamps"][T_old:T] = bars.timestamps[T_old - s_min:]
            for spec in specs:
                group[spec.name].resize((T, n_sym))
            self._write(group, specs, arrays, T_old)
        return group, T, T - T_old, True

    def _streamed(self, root: Any, compute: Callable, specs: list[FeatureSpec], feature_set: str, source: str,
                  freq: str, say: Callable[[str], None]) -> tuple[Any, int] | None:
        """Read, compute and stage a per-symbol set by column shards of the store's layout; None when
        the set is not per-symbol or fits in one shard (the caller computes it all at once).

        The next shard is read and computed in a worker thread (the mlp kernel releases the GIL)
        while this one is written, so the cost is near the larger of the two rather than their
        sum, and only two shards' values are in memory at once. Each shard holds every stored
        row, as ``read()`` of all symbols does when every row has a bar of some symbol; when one
        has none (``read()`` drops it, and the windows shift), the staged values are dropped and
        None is returned, for the all-at-once computation.
        """
        from market_data.bars import FIELDS
        from market_data.store import _read_rects

        names = [s.name for s in specs]
        if not all(s.per_symbol for s in specs):
            return None
        session = self.store._session(source)
        view = self.store._view(session, freq)
        try:
            ts, symbols = view.timestamps, view.symbols
            T, N = int(ts.size), len(symbols)
            if not T:
                return None
            width = self._shard_width(root)
            if N <= width:
                return None
            group = self._new_group(root, freq, feature_set, specs, ts, symbols)
            has_bar = np.zeros(T, dtype=bool)
            fields = [view.fields[f] for f in FIELDS]

            def part(c0: int) -> dict[str, np.ndarray]:
                cols = np.arange(c0, min(c0 + width, N), dtype=np.intp)
                arrays = dict(zip(FIELDS, _read_rects(fields, 0, T, cols, view.indexes), strict=True))
                has_bar[:] |= ~np.all(np.isnan(arrays["close"]), axis=1)
                bars = Bars(timestamps=ts, symbols=symbols[c0:c0 + width], frequency=view.name,
                            snapshot_id=session.snapshot_id, **arrays)
                return self._computed(compute, names, bars)

            cuts = list(range(0, N, width))
            ctx = contextvars.copy_context()  # the caller's context (compute may read context variables)
            with ThreadPoolExecutor(1, thread_name_prefix="features-compute") as pool:
                nxt = pool.submit(ctx.run, part, cuts[0])
                for k, c0 in enumerate(cuts):
                    arrays = nxt.result()
                    if k + 1 < len(cuts):
                        nxt = pool.submit(ctx.run, part, cuts[k + 1])
                    say(f"features {feature_set}: symbols {c0 + 1}-{min(c0 + width, N)} of {N}")
                    # one array at a time while the next shard is computed (measured faster on 2 cores)
                    self._write(group, specs, arrays, 0, c0, threads=1)
                    del arrays
        finally:
            view.settle()
        if not has_bar.all():
            say(f"features {feature_set}: {int((~has_bar).sum())} stored row(s) hold no bar; computing all at once")
            return None  # the staged group is replaced by the caller's
        return group, T

    @staticmethod
    def _shard_width(root: Any) -> int:
        """Symbols per materialising step: whole storage shards of the store's layout, at least 128 symbols."""
        from market_data.store import StoreLayout

        lay = StoreLayout.from_dict(root.attrs["layout"])
        unit = lay.shard_symbols if lay.sharded else 1
        return unit * -(-128 // unit)

    def _previous(self, feature_set: str, freq: str) -> MaterialisedSet | None:
        found = self.list(feature_set, frequency=freq)
        return found[0] if found else None

    def _plan(self, root: Any, prev: MaterialisedSet | None, specs: list[FeatureSpec], hashes: dict[str, str],
              source: str, freq: str, symbols: list[str]) -> tuple[Any, int, dict[str, int]] | None:
        """(the writable group, stored rows, first row to compute per feature) for an incremental run, or None."""
        if prev is None or prev.definitions != hashes or any(s.lookback is None for s in specs):
            return None
        try:
            group = root[f"{FEATURES_GROUP}/{freq}/{prev.feature_set}"]
        except KeyError:
            return None
        attrs = dict(group.attrs)
        if (attrs.get("source_snapshot") != prev.source_snapshot or list(attrs.get("symbols", [])) != symbols
                or dict(attrs.get("definitions", {})) != hashes):
            return None
        T_old = int(group["timestamps"].shape[0])
        if T_old == 0:
            return None
        last_old = int(_read_ts(group)[-1])
        # every commit between the old source and the new one only appended bars after last_old
        for snap in self.store._repo.ancestry(snapshot_id=source):
            if snap.id == prev.source_snapshot:
                break
            m = dict(snap.metadata)
            if m.get("kind") == "features":
                continue
            if m.get("kind") != "write":
                return None
            if freq in str(m.get("frequency", "")).split(","):
                if m.get("replaced", 1) or m.get("new_symbols", 1):
                    return None
                try:  # the summary's "first" is _fmt_ts text; numpy parses it without pandas
                    if int(np.datetime64(str(m["first"]).rstrip("Z"), "ns").astype(np.int64)) <= last_old:
                        return None
                except (KeyError, ValueError):
                    return None
        else:
            return None  # the old source is not an ancestor of the new one
        starts = {}
        for s in specs:
            k = T_old - s.lookback  # one row more than needed: the stored row T_old - 1 is checked
            starts[s.name] = max(0, (k // s.align) * s.align) if k > 0 else 0
        return group, T_old, starts

    @staticmethod
    def _computed(compute: Callable, names: list[str], bars: Bars) -> dict[str, np.ndarray]:
        vals = list(compute(names, bars))
        if len(vals) != len(names):
            raise InputError(f"compute returned {len(vals)} array(s) for {len(names)} feature(s)")
        out = {}
        for n, v in zip(names, vals, strict=True):
            v = np.asarray(v)
            if v.shape != bars.shape:
                raise InputError(f"feature {n!r}: compute returned shape {v.shape}, expected {bars.shape} "
                                 "(bars x symbols)")
            if v.dtype != np.float64:
                raise InputError(f"feature {n!r}: compute returned {v.dtype} values, expected float64")
            out[n] = v  # any layout: the write copies each block once, into the storage order
        return out

    def _new_group(self, root: Any, freq: str, feature_set: str, specs: list[FeatureSpec], timestamps: np.ndarray,
                   symbols: Sequence[str]) -> Any:
        from zarr.codecs import BloscCodec

        from market_data.store import StoreLayout, _create_field

        lay = StoreLayout.from_dict(root.attrs["layout"])
        top = root.require_group(FEATURES_GROUP).require_group(freq)
        if feature_set in top:
            del top[feature_set]
        group = top.create_group(feature_set)
        group.attrs.update({"format": _FORMAT, "feature_set": feature_set, "frequency": freq,
                            "symbols": list(symbols),
                            "lookback": {s.name: s.lookback for s in specs}, "align": {s.name: s.align for s in specs}})
        ts = group.create_array("timestamps", shape=(len(timestamps),), dtype="int64", chunks=(131_072,), fill_value=0,
                                compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")])
        if len(timestamps):
            ts[:] = timestamps
        for s in specs:
            _create_field(group, s.name, lay, dtype="float64", shape=(len(timestamps), len(symbols)))
        return group

    @staticmethod
    def _write(group: Any, specs: list[FeatureSpec], arrays: dict[str, np.ndarray], r0: int, c0: int = 0,
               threads: int = 5) -> None:
        import zarr

        from market_data.store import _write_rect

        def one(s: FeatureSpec) -> None:
            block = arrays[s.name]
            if block.size:
                _write_rect(group[s.name], r0, c0, block)

        # as BarStore._apply writes its fields: a few arrays at once (compression releases the GIL);
        # one at a time while the next shard is computed alongside (measured faster on 2 cores)
        with zarr.config.set({"async.concurrency": 64}), ThreadPoolExecutor(min(threads, len(specs))) as pool:
            list(pool.map(one, specs))


def _read_ts(group: Any) -> np.ndarray:
    from market_data.store import _read_timestamps

    return _read_timestamps(group["timestamps"])

