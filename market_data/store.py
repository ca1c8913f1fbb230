"""``BarStore``: versioned OHLCV bars in a Zarr v3 hierarchy inside an Icechunk repository.

Layout (one Icechunk repository, one Zarr group per frequency)::

    /                    attrs: format, version, layout (the chunking below)
    /1d/                 attrs: symbols (list of names, column order)
        timestamps       int64 ns UTC, shape (T,)
        open high low close volume
                         shape (T, N), sharded: inner chunks (chunk_bars x 1) so one
                         symbol's history never touches another symbol's bytes; shards
                         (shard_bars x shard_symbols) keep the object count small,
                         and inside a shard each symbol's chunks are contiguous (one
                         byte range per shard for a one-symbol read); Blosc LZ4 +
                         bitshuffle by default. Stored as int64 tick counts (attrs
                         ``decimals``: per symbol, value = ticks / 10**decimals; fill
                         int64 min = no bar) while every value written sits exactly on
                         a decimal grid of at most 8 places, else float64 (fill NaN);
                         see ``market_data._ticks``. Reads always return float64, bit
                         for bit what was written. See benchmarks/README.md for the
                         measurements.

Every successful :meth:`BarStore.write` is exactly one Icechunk commit on branch
``main``; its snapshot id is the lineage id downstream results record. Writes are
serialised by an ``fcntl`` lock file (local repositories) *and* Icechunk's own
optimistic concurrency: a writer that loses the race re-plans its write against the
new tip (so no data is lost or interleaved) and gives up with :class:`ConflictError`
after a few tries. Readers use read-only sessions and see committed snapshots only;
each store object keeps the opened metadata, timestamps and shard indexes of the
last few snapshots it read (up to 8, within 256 MB of timestamps; snapshots are
immutable, so these never go stale).
A writer killed mid-write leaves only unreferenced chunk objects behind: the branch
still points at the previous snapshot.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from market_data import _ticks
from market_data._shards import (
    IndexCache,
    ShardSpec,
    fetch_objects,
    read_blocks,
    read_vector,
    submit_read_vector,
    write_block,
)
from market_data.bars import FIELDS, Bars, _did_you_mean, _fmt_ts, to_ns
from market_data.config import Config, param
from market_data.errors import ConflictError, InputError, SnapshotNotFoundError, StoreError
from market_data.frequency import canonical_frequency, frequency_ns
from market_data.validation import validate_bars

__all__ = ["BarStore", "StoreLayout", "StoreTransaction", "SnapshotRecord", "SymbolInfo"]

_FORMAT = "harness-bars"
_FORMAT_VERSION = 1
_BRANCH = "main"
_LOCK_NAME = "harness-writer.lock"
_TS_CHUNK = 131_072
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SYMBOL_RE = re.compile(r"^[^\s\x00-\x1f/\\]{1,64}$")
_COMMIT_TRIES = 3
# Without a local writer lock (object storage: writers on other machines) every writer races on
# Icechunk's optimistic commit; a loser replans on the new tip after a jittered, growing pause.
_COMMIT_TRIES_UNLOCKED = 16
_BACKOFF_S = 0.02
_BACKOFF_MAX_S = 1.0
_VIEW_CACHE = 8
_VIEW_CACHE_BYTES = 256 * 2**20


class StoreLayout(Config):
    """Chunking and compression of the field arrays, fixed when a store is created.

    ``chunk_bars x 1`` inner chunks inside ``shard_bars x shard_symbols`` shards (set
    ``shard_bars == chunk_bars`` and ``shard_symbols == 1`` for plain, unsharded chunks).
    """

    chunk_bars: int = param(4096, low=1, high=10_000_000, doc="bars per inner chunk (one symbol wide)")
    shard_bars: int = param(8192, low=1, high=10_000_000, doc="bars per shard (a multiple of chunk_bars)")
    shard_symbols: int = param(128, low=1, high=100_000, doc="symbols per shard")
    cname: str = param("lz4", choices=("lz4", "zstd", "lz4hc", "blosclz", "zlib"),
                       doc="Blosc compressor (lz4 decodes ~2x faster than zstd at ~4% more bytes on ticks)")
    clevel: int = param(5, low=1, high=9, doc="compression level")
    shuffle: str = param("bitshuffle", choices=("bitshuffle", "shuffle", "noshuffle"), doc="Blosc filter")
    encoding: str = param("ticks", choices=("ticks", "float"),
                          doc="'ticks': int64 tick counts while the data is on a decimal grid (lossless, "
                              "about twice as compact), else float64; 'float': always float64")

    def check(self) -> None:
        if self.shard_bars % self.chunk_bars:
            self.fail("shard_bars", f"must be a multiple of chunk_bars ({self.chunk_bars}), got {self.shard_bars}")

    @property
    def sharded(self) -> bool:
        return not (self.shard_bars == self.chunk_bars and self.shard_symbols == 1)



# Icechunk's messages for a snapshot id that names nothing (or is not an id at all)
_NOT_FOUND_MESSAGES = ("snapshot not found", "invalid snapshot id")


def _is_not_found(exc: BaseException) -> bool:
    """True when Icechunk says the snapshot does not exist (anything else is a real failure)."""
    return type(exc).__module__.startswith("icechunk") and any(m in str(exc) for m in _NOT_FOUND_MESSAGES)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return next((ln.strip(" x|") for ln in text.splitlines() if ln.strip(" x|")), text) or repr(exc)

class _FrequencyView:
    """One frequency group of one snapshot, opened: what every read needs before touching bars.

    A read of whole histories needs only the timestamps' count to plan its fetches, so it
    starts their fetch (:meth:`prefetch`, a future on Zarr's I/O loop) before it fetches the
    bars and waits for it at the end. The read that starts a fetch always waits for it
    (:meth:`settle` on its error path): no task outlives the read, because a task still
    pending when the interpreter exits and Zarr closes its loop is "destroyed but pending".
    """

    def __init__(self, *, name: str, symbols: tuple[str, ...], n_rows: int, start_fetch: Any, reread: Any,
                 fields: dict[str, Any], indexes: IndexCache) -> None:
        self.name = name
        self.symbols = symbols
        #: number of bars (rows) of the group, known from the metadata
        self.n_rows = n_rows
        self.fields = fields
        #: parsed shard indexes by object key (immutable within a snapshot)
        self.indexes = indexes
        self._start_fetch = start_fetch  # () -> a future of the timestamps, or None for other layouts
        self._pending: Any = None  # that future while it is in flight
        self._reread = reread  # reads them synchronously: without a future, or after it failed
        self._timestamps: np.ndarray | None = None
        self._lock = threading.Lock()

    def prefetch(self) -> None:
        """Start fetching the timestamps in the background, unless they are here or on their way."""
        with self._lock:
            if self._timestamps is None and self._pending is None:
                self._pending = self._start_fetch()

    def settle(self) -> None:
        """Wait until no fetch of the timestamps is in flight (its outcome is kept for the next access)."""
        pending = self._pending
        if pending is not None:
            import concurrent.futures

            concurrent.futures.wait([pending])

    @property
    def timestamps(self) -> np.ndarray:
        """The group's timestamps (read-only), waiting for their fetch if it is still running."""
        with self._lock:
            if self._timestamps is None:
                pending, self._pending = self._pending, None  # a failed fetch is retried next time
                ts = pending.result() if pending is not None else self._reread()
                ts.flags.writeable = False
                self._timestamps = ts
            return self._timestamps


@dataclass(frozen=True)
class SnapshotRecord:
    """One commit of the store (newest first in :meth:`BarStore.history`)."""

    id: str
    time: str
    message: str
    metadata: dict[str, Any]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SymbolInfo:
    """What :meth:`BarStore.info` reports per symbol."""

    symbol: str
    frequency: str
    first: str | None
    last: str | None
    bars: int
    gaps: int  # timeline rows between first and last where the symbol has no bar
    #: per field, the decimals of its integer ticks (value = ticks / 10**d), or None for float64
    decimals: dict[str, int | None] = field(default_factory=dict)

    def storage(self) -> str:
        """How the fields are stored, e.g. ``"ticks of 0.01 (open, high, low, close), ticks of 1 (volume)"``."""
        if not self.decimals:
            return "unknown"
        groups: dict[int | None, list[str]] = {}
        for f, d in self.decimals.items():
            groups.setdefault(d, []).append(f)
        parts = [("float64" if d is None else f"ticks of {10.0 ** -d:.{d}f}") + f" ({', '.join(fs)})"
                 for d, fs in groups.items()]
        return ", ".join(parts)


def _quiet_icechunk() -> None:
    """Silence icechunk's start-up warning about local storage: we serialise commits ourselves."""
    if not os.environ.get("ICECHUNK_LOG"):
        import icechunk

        icechunk.set_logs_filter("error")


def _s3_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Icechunk S3 settings from ``s3=`` (endpoint_url, region, allow_http, force_path_style, anonymous).

    Unset options fall back to the environment: ``AWS_ENDPOINT_URL`` (an ``http://`` endpoint
    also allows plain HTTP), ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and
    ``HARNESS_S3_PATH_STYLE=1``. Credentials always come from the environment (the usual
    ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``), never from
    arguments, so they are not written into lineage or logs.
    """
    known = ("endpoint_url", "region", "allow_http", "force_path_style", "anonymous")
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise InputError(f"unknown S3 option {unknown[0]!r}; expected one of {', '.join(known)}")
    endpoint = opts.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = opts.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    allow_http = opts.get("allow_http")
    if allow_http is None:
        allow_http = bool(endpoint and endpoint.startswith("http://"))
    path_style = opts.get("force_path_style")
    if path_style is None:
        path_style = os.environ.get("HARNESS_S3_PATH_STYLE", "").lower() in ("1", "true", "yes")
    out: dict[str, Any] = {"region": region, "endpoint_url": endpoint, "allow_http": bool(allow_http),
                           "force_path_style": bool(path_style)}
    if opts.get("anonymous"):
        out["anonymous"] = True
    else:
        out["from_env"] = True
    return out


def _storage(uri: str, s3: Mapping[str, Any] | None = None):
    import icechunk

    _quiet_icechunk()
    if s3 and not uri.startswith("s3://"):
        raise InputError(f"s3= options were given but {uri!r} is not an s3:// URI")
    if uri.startswith("memory://"):
        return icechunk.in_memory_storage(), None
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[5:].partition("/")
        if not bucket:
            raise InputError(f"store URI {uri!r} names no bucket; expected s3://BUCKET/PREFIX")
        return icechunk.s3_storage(bucket=bucket, prefix=prefix.strip("/") or None, **_s3_options(s3)), None
    if "://" in uri and not uri.startswith("file://"):
        raise InputError(f"unsupported store URI {uri!r}; expected a folder path, file://, s3:// or memory://")
    path = Path(uri.removeprefix("file://")).expanduser().absolute()
    return icechunk.local_filesystem_storage(str(path)), path


class BarStore:
    """A versioned bar store; open it with :meth:`BarStore.open`."""

    def __init__(self, repo: Any, uri: str, path: Path | None, *, lock_timeout: float = 120.0) -> None:
        self._repo = repo
        self.uri = uri
        self.path = path
        self.lock_timeout = lock_timeout
        # (snapshot id, frequency, Zarr-store seam) -> _FrequencyView; snapshots are immutable, so an
        # opened view (Zarr metadata, symbols, timestamps) stays valid; bounded LRU
        self._views: OrderedDict[tuple, _FrequencyView] = OrderedDict()
        self._views_lock = threading.Lock()

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, path_or_uri: str | os.PathLike[str], *, create: bool = False,
             layout: StoreLayout | None = None, lock_timeout: float = 120.0,
             s3: Mapping[str, Any] | None = None) -> BarStore:
        """Open the store at a folder (or ``s3://bucket/prefix``, ``memory://``).

        ``create=True`` creates an empty store when none exists (with ``layout`` or the
        default :class:`StoreLayout`); otherwise a missing store raises ``StoreError``.
        ``s3`` sets object-storage options for ``s3://`` URIs: ``endpoint_url`` (an
        S3-compatible server such as MinIO or moto), ``region``, ``allow_http``,
        ``force_path_style`` and ``anonymous``; see :func:`_s3_options` for their
        environment defaults. Credentials come from the environment only.
        """
        import icechunk

        uri = str(path_or_uri)
        storage, path = _storage(uri, s3)
        exists = icechunk.Repository.exists(storage) if path is None or path.exists() else False
        if not exists:
            if not create:
                raise StoreError(f"no bar store at {uri}; create it with BarStore.open(..., create=True) "
                                 "or run `harness data samples`")
            if path is not None:
                path.mkdir(parents=True, exist_ok=True)
            try:
                repo = icechunk.Repository.create(storage)
            except icechunk.IcechunkError:
                if not icechunk.Repository.exists(storage):  # not a concurrent creator: a foreign folder
                    raise StoreError(f"cannot create a bar store in {uri}: the folder is not empty") from None
            else:
                store = cls(repo, uri, path, lock_timeout=lock_timeout)
                with store._writer_lock():
                    store._init_root(layout or StoreLayout())
                return store
            for _ in range(100):  # another process is creating it: wait for its root commit
                store = cls(icechunk.Repository.open(storage), uri, path, lock_timeout=lock_timeout)
                with store._writer_lock():
                    if store._root(store._session()).attrs.get("format") == _FORMAT:
                        return store
                time.sleep(0.05)
        try:
            repo = icechunk.Repository.open(storage)
        except Exception as exc:  # icechunk raises its own error types
            raise StoreError(f"cannot open bar store at {uri}: {exc}") from None
        store = cls(repo, uri, path, lock_timeout=lock_timeout)
        store._check_format()
        return store

    def _init_root(self, layout: StoreLayout) -> None:
        import zarr

        session = self._repo.writable_session(_BRANCH)
        root = zarr.open_group(session.store, mode="w")
        root.attrs.update({"format": _FORMAT, "version": _FORMAT_VERSION, "layout": layout.to_dict()})
        session.commit("create bar store", metadata={"kind": "create"})

    def _zarr_store(self, session: Any) -> Any:
        """The Zarr store of ``session`` (one seam: tests wrap it to watch the requests)."""
        return session.store

    def _root(self, session: Any, mode: str = "r"):
        import zarr

        return zarr.open_group(self._zarr_store(session), mode=mode)

    def _check_format(self) -> None:
        attrs = self._root(self._session()).attrs
        if attrs.get("format") != _FORMAT:
            raise StoreError(f"{self.uri} is an Icechunk repository but not a bar store (format {attrs.get('format')!r})")

    @property
    def layout(self) -> StoreLayout:
        return StoreLayout.from_dict(self._root(self._session()).attrs["layout"])

    def __repr__(self) -> str:
        return f"BarStore({self.uri!r})"

    # -------------------------------------------------------------- sessions
    def resolve(self, snapshot: str | None = None) -> str:
        """The snapshot id for ``snapshot`` (an id, a tag name, or None for the latest)."""
        return self._session(snapshot).snapshot_id

    def _session(self, snapshot: str | None = None):
        if snapshot is None:
            return self._repo.readonly_session(branch=_BRANCH)
        tags = self._repo.list_tags()
        if snapshot in tags:
            return self._repo.readonly_session(tag=snapshot)
        try:
            return self._repo.readonly_session(snapshot_id=snapshot)
        except Exception as exc:
            if not _is_not_found(exc):  # I/O errors, damage, permissions: say so, with the cause
                raise StoreError(f"{self.uri}: cannot open snapshot {snapshot!r}: "
                                 f"{_first_line(exc)} [{type(exc).__name__}]") from exc
            raise SnapshotNotFoundError(
                f"unknown snapshot or tag {snapshot!r}{_did_you_mean(snapshot, tags)}; "
                "see `harness data history`") from None

    # ----------------------------------------------------------------- reads
    def frequencies(self, *, snapshot: str | None = None) -> list[str]:
        """The frequencies (groups) present, e.g. ``["1d", "1min"]``."""
        return sorted(name for name, _ in self._root(self._session(snapshot)).groups() if name != "features")

    def symbols(self, frequency: str = "1d", *, snapshot: str | None = None) -> list[str]:
        """The symbols stored at ``frequency`` (column order)."""
        return list(self._view(self._session(snapshot), frequency).symbols)

    def _group(self, session: Any, frequency: str):
        freq = canonical_frequency(frequency)
        root = self._root(session)
        try:
            return root[freq]
        except KeyError:
            have = sorted(name for name, _ in root.groups() if name != "features")
            raise InputError(f"the store has no {freq!r} bars (frequencies: {', '.join(have) or 'none'}); "
                             "ingest some with `harness data ingest` or `harness data samples`") from None

    def _view(self, session: Any, frequency: str) -> _FrequencyView:
        """The opened arrays, symbols and timestamps of one frequency in one snapshot (cached)."""
        key = (session.snapshot_id, canonical_frequency(frequency), self._zarr_store)
        with self._views_lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
                return view
        group, arrays = self._open_arrays(session, frequency, ("timestamps", *FIELDS))
        ts_array = arrays["timestamps"]
        view = _FrequencyView(name=group.basename, symbols=tuple(group.attrs["symbols"]), n_rows=int(ts_array.shape[0]),
                              start_fetch=lambda: submit_read_vector(ts_array),
                              reread=lambda: _read_timestamps(ts_array),
                              fields={f: arrays[f] for f in FIELDS}, indexes=IndexCache(1024))
        with self._views_lock:
            self._views[key] = view
            # bounded by count and by the bytes of the timestamps kept (the newest view always stays)
            while len(self._views) > 1 and (len(self._views) > _VIEW_CACHE or sum(
                    8 * v.n_rows for v in self._views.values()) > _VIEW_CACHE_BYTES):  # int64 timestamps
                self._views.popitem(last=False)
        return view

    def _open_arrays(self, session: Any, frequency: str, names: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
        """The frequency group and its arrays ``names``.

        Their ``zarr.json`` documents are fetched in one batched request and built into
        nodes with Zarr's own metadata parsers (``_build_metadata_v3`` / ``_build_node``,
        what ``Group.__getitem__`` does for each node after its own fetch): one native
        request instead of seven, about 3 ms of a cold read on local storage.
        """
        import json

        import zarr
        from zarr.core.group import AsyncGroup, _build_metadata_v3, _build_node

        freq = canonical_frequency(frequency)
        store = self._zarr_store(session)
        paths = [freq, *(f"{freq}/{n}" for n in names)]
        docs = fetch_objects(store, [f"{p}/zarr.json" for p in paths])
        if docs[0] is None:
            self._group(session, frequency)  # raises the error that lists the frequencies present
            raise StoreError(f"{self.uri}: the group {freq!r} has no readable zarr.json in snapshot "
                             f"{session.snapshot_id}; the store is damaged")
        lacking = [n for n, doc in zip(names, docs[1:], strict=True) if doc is None]
        if lacking:
            raise StoreError(f"{self.uri}: frequency {freq!r} has no {', '.join(lacking)} array(s) in snapshot "
                             f"{session.snapshot_id}; the store is damaged (see `harness data history` for an "
                             "older snapshot)")
        nodes = []
        for p, doc in zip(paths, docs, strict=True):
            try:
                nodes.append(_build_node(store=store, path=p, metadata=_build_metadata_v3(json.loads(doc.tobytes()))))
            except (ValueError, TypeError, KeyError) as exc:
                raise StoreError(f"{self.uri}: the Zarr metadata of {p!r} is unreadable ({exc}); the store is "
                                 "damaged") from None
        group, *arrays = nodes
        if not isinstance(group, AsyncGroup) or any(isinstance(a, AsyncGroup) for a in arrays):
            raise StoreError(f"{self.uri}: {freq!r} is not laid out as a bar store frequency (a group of arrays)")
        return zarr.Group(group), {n: zarr.Array(a) for n, a in zip(names, arrays, strict=True)}

    def read(self, symbols: str | Iterable[str] | None = None, *, start: Any = None, end: Any = None,
             frequency: str = "1d", snapshot: str | None = None) -> Bars:
        """Read bars (all symbols when ``symbols`` is None) between ``start`` and ``end`` (inclusive).

        ``snapshot`` is a snapshot id or tag (None: the latest commit); the returned
        ``Bars.snapshot_id`` names the snapshot actually read. Rows where none of the
        requested symbols has a bar are dropped.
        """
        session = self._session(snapshot)
        view = self._view(session, frequency)
        stored = view.symbols
        if symbols is None:
            wanted = list(stored)
        else:
            wanted = [symbols] if isinstance(symbols, str) else list(symbols)
            index = {s: i for i, s in enumerate(stored)}
            for s in wanted:
                if s not in index:
                    raise InputError(f"symbol {s!r} is not in the store at frequency {view.name!r}"
                                     f"{_did_you_mean(s, stored)}; ingest it first (e.g. `harness data samples`)")
        if start is None and end is None:
            view.prefetch()  # whole histories need only the number of bars: timestamps arrive meanwhile
        try:
            lo = 0 if start is None else int(np.searchsorted(view.timestamps, to_ns(start, name="start"), "left"))
            hi = view.n_rows if end is None else int(np.searchsorted(view.timestamps, to_ns(end, name="end"), "right"))
            hi = max(lo, hi)
            cols = np.asarray([index[s] for s in wanted], dtype=np.intp) if symbols is not None \
                else np.arange(len(stored))
            arrays = dict(zip(FIELDS, _read_rects([view.fields[f] for f in FIELDS], lo, hi, cols, view.indexes),
                              strict=True))
            ts = view.timestamps[lo:hi]
        finally:
            view.settle()  # a fetch this read started never outlives it, error or not
        if wanted and ts.size:
            keep = ~np.all(np.isnan(arrays["close"]), axis=1)
            if not keep.all():
                ts = ts[keep]
                arrays = {f: a[keep] for f, a in arrays.items()}
        return Bars(timestamps=ts, symbols=tuple(wanted), frequency=view.name,
                    snapshot_id=session.snapshot_id, **arrays)

    def info(self, symbols: str | Iterable[str] | None = None, *, frequency: str | None = None,
             snapshot: str | None = None) -> list[SymbolInfo]:
        """Per symbol: first and last timestamp, bar count and gaps (for every frequency by default)."""
        session = self._session(snapshot)
        freqs = [canonical_frequency(frequency)] if frequency else self.frequencies(snapshot=snapshot)
        wanted = None if symbols is None else ({symbols} if isinstance(symbols, str) else set(symbols))
        out: list[SymbolInfo] = []
        for freq in freqs:
            view = self._view(session, freq)
            stored = list(view.symbols)
            if not stored:
                continue
            ts = view.timestamps
            cols = [j for j, s in enumerate(stored) if wanted is None or s in wanted]
            present_cols: dict[int, np.ndarray] = {}
            for b0 in range(0, len(cols), 64):  # 64 symbols at a time bounds the memory
                part = np.asarray(cols[b0:b0 + 64], dtype=np.intp)
                block = ~np.isnan(_read_rects([view.fields["close"]], 0, ts.size, part, view.indexes)[0])
                present_cols.update({int(j): block[:, k] for k, j in enumerate(part)})
            for j in cols:
                s = stored[j]
                rows = np.flatnonzero(present_cols[j])
                if rows.size == 0:
                    out.append(SymbolInfo(s, freq, None, None, 0, 0, decimals=_field_decimals(view, j)))
                    continue
                n = int(rows.size)
                gaps = int(rows[-1] - rows[0] + 1 - n)
                out.append(SymbolInfo(s, freq, _fmt_ts(ts[rows[0]]), _fmt_ts(ts[rows[-1]]), n, gaps,
                                      decimals=_field_decimals(view, j)))
        if wanted is not None:
            found = {i.symbol for i in out}
            missing = sorted(wanted - found)
            if missing:
                all_syms = {s for f in freqs for s in self._group(session, f).attrs["symbols"]}
                raise InputError(f"symbol {missing[0]!r} is not in the store{_did_you_mean(missing[0], all_syms)}")
        return out

    # --------------------------------------------------------------- history
    def history(self) -> list[SnapshotRecord]:
        """The commits of branch ``main``, newest first, with their tags."""
        tags: dict[str, list[str]] = {}
        for t in self._repo.list_tags():
            tags.setdefault(self._repo.lookup_tag(t), []).append(t)
        out = []
        for snap in self._repo.ancestry(branch=_BRANCH):
            out.append(SnapshotRecord(id=snap.id, time=snap.written_at.isoformat(), message=snap.message,
                                      metadata=dict(snap.metadata), tags=tuple(sorted(tags.get(snap.id, ())))))
        return out

    def tags(self) -> dict[str, str]:
        """``{tag: snapshot_id}``."""
        return {t: self._repo.lookup_tag(t) for t in sorted(self._repo.list_tags())}

    def tag(self, name: str, snapshot_id: str | None = None) -> str:
        """Tag a snapshot (default: the latest) so it can be read with ``snapshot=name``; returns its id."""
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InputError(f"tag name {name!r} is invalid; use letters, digits, '.', '_' and '-' "
                             "(starting with a letter or digit)")
        target = self.resolve(snapshot_id)
        if name in self._repo.list_tags():
            raise ConflictError(f"tag {name!r} already exists (on snapshot {self._repo.lookup_tag(name)}); "
                                "tags are immutable, pick another name")
        self._repo.create_tag(name, target)
        return target

    # ----------------------------------------------------------------- write
    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        fd = os.open(self.path / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() > deadline:
                        raise ConflictError(f"another writer has held the store lock {self.path / _LOCK_NAME} for "
                                            f"more than {self.lock_timeout:.0f} s; try again later") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def write(self, bars: Bars, *, message: str, on_conflict: str = "reject",
              metadata: dict[str, Any] | None = None) -> str:
        """Validate and write ``bars`` as one commit; returns the new snapshot id.

        New timestamps are appended (or inserted), new symbols widen the arrays. A bar
        for a (timestamp, symbol) that already holds one is an overlap: rejected with
        ``ConflictError`` naming the first overlap (``on_conflict="reject"``), or
        written as a correction (``on_conflict="replace"``); older snapshots keep the
        old values. Nothing is written when validation or the overlap check fails.
        """
        import icechunk

        _check_write_args(message, on_conflict)
        _check_bars(bars)
        last: Exception | None = None
        tries = _COMMIT_TRIES if self.path is not None else _COMMIT_TRIES_UNLOCKED
        with self._writer_lock():
            for attempt in range(tries):
                if attempt and self.path is None:
                    time.sleep(random.uniform(0.0, min(_BACKOFF_MAX_S, _BACKOFF_S * 2 ** attempt)))
                session = self._repo.writable_session(_BRANCH)
                summary = self._apply(session, bars, on_conflict)
                meta = {**summary, **(metadata or {})}
                hook = getattr(self, "_before_commit", None)
                if hook is not None:  # test seam: simulate a concurrent writer
                    hook()
                try:
                    return session.commit(message, metadata=meta)
                except icechunk.ConflictError as exc:
                    last = exc  # someone committed meanwhile: re-plan against the new tip
        raise ConflictError(f"write {message!r} lost {tries} races against concurrent writers "
                            f"({last}); nothing was written, try again")

    @contextlib.contextmanager
    def transaction(self, message: str, *, on_conflict: str = "reject",
                    metadata: dict[str, Any] | None = None) -> Iterator[StoreTransaction]:
        """Several writes (e.g. the batches of a big file) as one commit.

        ``with store.transaction("ingest x.csv") as tx: tx.write(batch)``; the commit
        happens when the block exits normally (``tx.snapshot_id`` then holds its id); an
        exception inside the block commits nothing. ``tx.check(bars)`` runs the
        validation and overlap checks without writing.
        """
        import icechunk

        _check_write_args(message, on_conflict)
        with self._writer_lock():
            session = self._repo.writable_session(_BRANCH)
            tx = StoreTransaction(self, session, on_conflict)
            yield tx
            if not tx.summaries:
                raise InputError("nothing to write: the transaction wrote no bars")
            meta = _merge_summaries(tx.summaries)
            meta.update(metadata or {})
            try:
                tx.snapshot_id = session.commit(message, metadata=meta)
            except icechunk.ConflictError as exc:
                raise ConflictError(f"write {message!r} conflicts with a concurrent commit ({exc}); nothing was "
                                    "written, try again") from None

    def _apply(self, session: Any, bars: Bars, on_conflict: str, *, dry_run: bool = False) -> dict[str, Any]:
        import zarr

        root = self._root(session, "r" if dry_run else "r+")
        freq = bars.frequency
        if freq not in root:
            if dry_run:
                return {}
            self._create_group(root, freq)
        group = root[freq]
        stored: list[str] = list(group.attrs["symbols"])
        E = _read_timestamps(group["timestamps"])
        B = bars.timestamps
        new_syms = [s for s in bars.symbols if s not in stored]
        all_syms = stored + new_syms
        col_of = {s: i for i, s in enumerate(all_syms)}
        colB = np.asarray([col_of[s] for s in bars.symbols], dtype=np.intp)
        T_old, N_old = E.size, len(stored)
        U = np.union1d(E, B) if T_old else B
        T_new, N_new = U.size, len(all_syms)
        inserted = np.setdiff1d(B, E, assume_unique=True) if T_old else B
        k = T_old  # first row of E whose position changes (rows inserted before it)
        if T_old and inserted.size and inserted[0] < E[-1]:
            k = int(np.searchsorted(E, inserted[0]))
        rowB = np.searchsorted(U, B)
        present_B = ~np.isnan(bars.close)
        # ---- overlap check on existing (timestamp, symbol) cells
        old_mask = colB < N_old
        in_E = np.zeros(B.size, dtype=bool)
        if T_old:
            pos = np.minimum(np.searchsorted(E, B), T_old - 1)
            in_E = E[pos] == B
        n_replaced = 0
        if old_mask.any() and in_E.any():
            rows_e = pos[in_E]
            cols_o = colB[old_mask]
            r_lo, r_hi = int(rows_e[0]), int(rows_e[-1]) + 1
            uniq = np.unique(cols_o)
            stored_close = _read_rect(group["close"], r_lo, r_hi, uniq)
            sub = stored_close[rows_e - r_lo][:, np.searchsorted(uniq, cols_o)]
            overlap = ~np.isnan(sub) & present_B[np.ix_(in_E, old_mask)]
            if overlap.any():
                n_replaced = int(overlap.sum())
                if on_conflict == "reject":
                    i, j = np.argwhere(overlap)[0]
                    t = B[np.flatnonzero(in_E)[i]]
                    sym = np.asarray(bars.symbols, dtype=object)[old_mask][j]
                    raise ConflictError(
                        f"symbol {sym!r} at {_fmt_ts(t)}: the store already has this bar ({n_replaced} overlapping "
                        f"bar(s) in total); write with on_conflict='replace' (CLI: --replace) to correct it")
        if dry_run:
            return {}
        # ---- region to rewrite: rows [r0, T_new) x cols [c0, c1) (a field may widen it, below)
        r0 = min(k, int(rowB[0]))
        if k < T_old:
            c0, c1 = 0, N_new
        else:
            c0, c1 = int(colB.min()), int(colB.max()) + 1
        lay = StoreLayout.from_dict(root.attrs["layout"])

        def rewrite(f: str) -> None:
            arr = group[f]
            new = getattr(bars, f)  # NaN exactly where a bar is missing (validated: no partial bars)
            fr0, fc0, fc1 = r0, c0, c1
            decs = None
            recreate = False
            held = _held_decimals(arr, N_new)
            if held is not None:
                need = _ticks.decimals(new, at_least=held[colB])
                if (need < 0).any():  # off every decimal grid: the field becomes float64
                    recreate, fr0, fc0, fc1 = True, 0, 0, N_new
                else:
                    decs = held.copy()
                    decs[colB] = need
                    grown = np.flatnonzero(decs[:N_old] != held[:N_old])
                    if grown.size:  # a finer grid for stored bars: re-encode those symbols' whole history
                        fr0, fc0, fc1 = 0, min(c0, int(grown[0])), max(c1, int(grown[-1]) + 1)
            oc1 = min(fc1, N_old)
            has_old = fr0 < T_old and oc1 > fc0
            if (not has_old and new.shape == (T_new - fr0, fc1 - fc0) and rowB[0] == fr0 and colB[0] == fc0
                    and np.all(np.diff(colB) == 1)):
                block = new  # the bars are the whole region (rows are consecutive: rowB is strictly increasing)
            else:
                block = np.full((T_new - fr0, fc1 - fc0), np.nan)
                if has_old:
                    e_src = np.arange(fr0, T_old)  # E[:k] == U[:k], fr0 <= k: rows keep their place or move down
                    e_dst = np.searchsorted(U, E[e_src]) - fr0
                    block[e_dst, :oc1 - fc0] = _read_rect(arr, fr0, T_old, np.arange(fc0, oc1))
                ix = np.ix_(rowB - fr0, colB - fc0)
                block[ix] = np.where(present_B, new, block[ix])
            if recreate:
                arr = _create_field(group, f, lay, dtype="float64", shape=(T_new, N_new), overwrite=True)
            elif decs is not None and decs.tolist() != arr.attrs.get("decimals"):
                arr.attrs["decimals"] = decs.tolist()
            _write_rect(arr, fr0, fc0, block)

        # ---- resize and write
        if T_new != T_old:
            group["timestamps"].resize((T_new,))
        if T_new != T_old or N_new != N_old:
            for f in FIELDS:
                group[f].resize((T_new, N_new))
        if T_new != T_old:
            group["timestamps"][k:T_new] = U[k:]
        with zarr.config.set({"async.concurrency": 64}), ThreadPoolExecutor(len(FIELDS)) as pool:
            list(pool.map(rewrite, FIELDS))
        if new_syms:
            group.attrs["symbols"] = all_syms
        return {"kind": "write", "frequency": freq, "digest": bars.digest(), "bars": int(bars.n_bars),
                "symbols": int(bars.n_symbols), "new_symbols": len(new_syms),
                "first": _fmt_ts(B[0]), "last": _fmt_ts(B[-1]), "replaced": n_replaced,
                "on_conflict": on_conflict}

    def _create_group(self, root: Any, freq: str) -> None:
        """The arrays of one frequency (fields start as ticks unless the layout says float)."""
        from zarr.codecs import BloscCodec

        lay = StoreLayout.from_dict(root.attrs["layout"])
        frequency_ns(freq)
        group = root.create_group(freq)
        group.attrs["symbols"] = []
        group.create_array("timestamps", shape=(0,), dtype="int64", chunks=(_TS_CHUNK,), fill_value=0,
                           compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")])
        for f in FIELDS:
            _create_field(group, f, lay, dtype="int64" if lay.encoding == "ticks" else "float64", shape=(0, 0))


def _create_field(group: Any, name: str, lay: StoreLayout, *, dtype: str, shape: tuple[int, int],
                  overwrite: bool = False) -> Any:
    """One field array: float64 with fill NaN (zarr's default 0.0 would read as a price), or int64
    ticks with fill :data:`market_data._ticks.MISSING` and per-symbol ``decimals``."""
    from zarr.codecs import BloscCodec

    kwargs: dict[str, Any] = {"chunks": (lay.chunk_bars, 1)}
    if lay.sharded:
        kwargs["shards"] = (lay.shard_bars, lay.shard_symbols)
    ticks = dtype == "int64"
    arr = group.create_array(name, shape=shape, dtype=dtype, fill_value=int(_ticks.MISSING) if ticks else np.nan,
                             compressors=[BloscCodec(cname=lay.cname, clevel=lay.clevel, shuffle=lay.shuffle)],
                             dimension_names=("time", "symbol"), overwrite=overwrite,
                             attributes={"decimals": [0] * shape[1]} if ticks else None, **kwargs)
    return arr


def _held_decimals(arr: Any, n: int | None = None) -> np.ndarray | None:
    """The ``decimals`` of a tick array, one per symbol column (``n`` of them, 0 for columns the
    attribute does not cover yet), or None for a float64 array."""
    if arr.dtype.kind != "i":
        return None
    held = np.asarray(arr.attrs.get("decimals", []), dtype=np.int64)
    out = np.zeros(arr.shape[1] if n is None else n, dtype=np.int64)
    k = min(out.size, held.size)
    out[:k] = held[:k]
    return out


def _field_decimals(view: _FrequencyView, col: int) -> dict[str, int | None]:
    """Per field: the tick decimals of symbol column ``col``, or None where the field is float64."""
    out: dict[str, int | None] = {}
    for f, arr in view.fields.items():
        held = _held_decimals(arr)
        out[f] = None if held is None else int(held[col])
    return out


def _divisors(arr: Any, cols: np.ndarray) -> np.ndarray | None:
    """``10**decimals`` of ``cols`` for a tick array (None for float64)."""
    held = _held_decimals(arr)
    return None if held is None else _ticks.divisors(held[cols])


def _read_timestamps(arr: Any) -> np.ndarray:
    """All of a frequency's ``timestamps`` array (one batched fetch for our layout, else Zarr)."""
    got = read_vector(arr)
    return arr[:] if got is None else got


def _read_rect(arr: Any, r0: int, r1: int, cols: np.ndarray) -> np.ndarray:
    """Rows ``[r0, r1)`` x ``cols`` of a field array as float64 (fast path for our sharded layout)."""
    return _read_rects([arr], r0, r1, cols)[0]


def _read_rects(arrs: list[Any], r0: int, r1: int, cols: np.ndarray,
                indexes: IndexCache | None = None) -> list[np.ndarray]:
    """:func:`_read_rect` of several field arrays, fetched together when they share our sharded layout."""
    cols = np.asarray(cols, dtype=np.intp)
    if cols.size == 0 or r1 <= r0:
        return [np.full((max(0, r1 - r0), cols.size), np.nan) for _ in arrs]
    uniq, inverse = np.unique(cols, return_inverse=True)
    divs = [_divisors(arr, uniq) for arr in arrs]
    specs = [ShardSpec.from_array(arr) for arr in arrs]
    if all(spec is not None for spec in specs) and len({s.shape for s in specs}) == 1:
        blocks = read_blocks(arrs[0].store_path.store, specs, r0, r1, uniq, divs, indexes)
    else:
        blocks = []
        for arr, div in zip(arrs, divs, strict=True):
            if uniq.size == uniq[-1] - uniq[0] + 1:
                block = arr[r0:r1, int(uniq[0]):int(uniq[-1]) + 1]
            else:
                block = arr.get_orthogonal_selection((slice(r0, r1), uniq))
            blocks.append(block if div is None else _ticks.from_ticks(block, div))
    if inverse.size == uniq.size and np.array_equal(inverse, np.arange(uniq.size)):
        return blocks
    return [block[:, inverse] for block in blocks]


def _write_rect(arr: Any, r0: int, c0: int, block: np.ndarray) -> None:
    """Write a float64 block (NaN = no bar) at ``(r0, c0)``, as ticks when the array holds ticks."""
    if arr.dtype.kind == "i":
        decs = np.asarray(arr.attrs["decimals"], dtype=np.int64)[c0:c0 + block.shape[1]]
        block = _ticks.to_ticks(block, decs)
    spec = ShardSpec.from_array(arr)
    if spec is not None:
        write_block(arr.store_path.store, spec, r0, c0, block)
    else:
        arr[r0:r0 + block.shape[0], c0:c0 + block.shape[1]] = block


class StoreTransaction:
    """The handle of :meth:`BarStore.transaction`."""

    def __init__(self, store: BarStore, session: Any, on_conflict: str) -> None:
        self._store = store
        self._session = session
        self._on_conflict = on_conflict
        self.summaries: list[dict[str, Any]] = []
        self.snapshot_id: str | None = None

    def check(self, bars: Bars) -> None:
        """Validate ``bars`` and check overlaps with what the store (and this transaction) holds."""
        _check_bars(bars)
        self._store._apply(self._session, bars, self._on_conflict, dry_run=True)

    def write(self, bars: Bars) -> None:
        """Validate and stage ``bars`` (committed when the transaction ends)."""
        _check_bars(bars)
        self.summaries.append(self._store._apply(self._session, bars, self._on_conflict))


def _check_write_args(message: str, on_conflict: str) -> None:
    if on_conflict not in ("reject", "replace"):
        raise InputError(f"on_conflict must be 'reject' or 'replace', got {on_conflict!r}")
    if not isinstance(message, str) or not message.strip():
        raise InputError("write needs a non-empty commit message")


def _check_bars(bars: Bars) -> None:
    if not isinstance(bars, Bars):
        raise InputError(f"write expects Bars, got {type(bars).__name__}")
    if bars.n_bars == 0 or bars.n_symbols == 0:
        raise InputError("nothing to write: the bars are empty")
    for s in bars.symbols:
        if not _SYMBOL_RE.match(s):
            raise InputError(f"symbol {s!r} is invalid: 1-64 characters, no spaces, slashes or control characters")
    validate_bars(bars)


def _merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    if len(summaries) == 1:
        return dict(summaries[0])
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for s in summaries:
        h.update(s["digest"].encode())
    return {"kind": "write", "frequency": ",".join(dict.fromkeys(s["frequency"] for s in summaries)),
            "digest": h.hexdigest(), "batches": len(summaries), "bars": sum(s["bars"] for s in summaries),
            "symbols": max(s["symbols"] for s in summaries), "new_symbols": sum(s["new_symbols"] for s in summaries),
            "first": min(s["first"] for s in summaries), "last": max(s["last"] for s in summaries),
            "replaced": sum(s["replaced"] for s in summaries), "on_conflict": summaries[0]["on_conflict"]}
