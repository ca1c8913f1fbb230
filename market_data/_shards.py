"""Fast reads and writes of the store's sharded field arrays, bypassing Zarr's per-chunk overhead.

The field arrays are sharded with one-symbol-wide inner chunks, so a read of all
symbols touches tens of thousands of inner chunks. Zarr 3.1 decodes each through its
async codec pipeline at roughly half a millisecond of Python overhead apiece, which made
a full read 10-20x slower than the bytes justify and a one-bar append (500 chunks per
field) take seconds. This module reads and writes exactly the same bytes Zarr's
``ShardingCodec`` does (index at the end: ``(offset, nbytes)`` uint64 little-endian
per inner chunk in C order, ``2**64-1`` for an empty chunk, then a CRC32C; inner chunks
``BytesCodec(little)`` + Blosc) but drives Blosc directly, in a loop. Reads fetch each
array in two batched rounds (shard indexes, then the wanted chunks' byte ranges; Icechunk's
native ``get_partial_values`` serves a whole batch in one call, about 2x cheaper per
request than one ``get`` each); the arrays' fetches run concurrently on Zarr's I/O loop
and each array is decoded as soon as its bytes arrive. Writes store every object
concurrently through the Zarr store API (so Icechunk sees ordinary chunk reads and
writes). Field arrays are float64 (NaN = no bar) or int64 ticks (``market_data._ticks``;
reads decode them to float64).
Arrays of any other layout return ``None`` from :meth:`ShardSpec.from_array` and the
caller falls back to Zarr. Round trips in both directions are tested against Zarr itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from market_data._ticks import MISSING, from_ticks

__all__ = ["IndexCache", "ShardSpec", "fetch_objects", "read_block", "read_blocks", "read_vector", "submit_read_vector",
           "write_block"]

MAX_U64 = np.uint64(2**64 - 1)
_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}
_DTYPES = (np.dtype("<f8"), np.dtype("<i8"))


@dataclass(frozen=True)
class _Blosc:
    """Blosc through numcodecs' low-level functions (the codec object's checks cost ~30 us a call)."""

    cname: bytes
    clevel: int
    shuffle: int
    blocksize: int

    def encode(self, arr: np.ndarray) -> bytes:
        from numcodecs import blosc

        return blosc.compress(arr, self.cname, self.clevel, self.shuffle, self.blocksize, 8)

    @staticmethod
    def decode(data: Any, out: np.ndarray) -> None:
        from numcodecs import blosc

        blosc.decompress(data, out)


#: the codec of a chunk still being filled: LZ4 + bitshuffle at level 1 (18 us per 4096 int64
#: values, against 60 us for zstd level 3 and 79 us for an uncompressed Blosc frame, measured);
#: Blosc frames name their own codec, so any Blosc decoder reads it
_TAIL = _Blosc(b"lz4", 1, 2, 0)


@dataclass(frozen=True)
class ShardSpec:
    """Geometry, dtype and codec of one sharded 2-D field array with ``(Tc, 1)`` inner chunks."""

    path: str
    shape: tuple[int, int]
    shard: tuple[int, int]
    chunk_rows: int
    codec: _Blosc
    dtype: np.dtype = _DTYPES[0]

    @property
    def ticks(self) -> bool:
        return self.dtype.kind == "i"

    @property
    def missing(self) -> Any:
        """The stored value of a cell without a bar (NaN, or the int64 minimum for ticks)."""
        return MISSING if self.ticks else np.nan

    def is_missing(self, a: np.ndarray) -> np.ndarray:
        return a == MISSING if self.ticks else np.isnan(a)

    @classmethod
    def from_array(cls, arr: Any) -> ShardSpec | None:
        from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ShardingCodec

        meta = arr.metadata
        try:
            (sharding,) = meta.codecs
            shard = tuple(meta.chunk_grid.chunk_shape)
            sep = meta.chunk_key_encoding.separator
            name = meta.chunk_key_encoding.name
        except (AttributeError, ValueError, TypeError):
            return None
        if not isinstance(sharding, ShardingCodec) or len(shard) != 2 or sep != "/" or name != "default":
            return None
        inner = tuple(sharding.chunk_shape)
        codecs, index_codecs = sharding.codecs, sharding.index_codecs
        dtype = np.dtype(arr.dtype)
        fill = meta.fill_value
        fill_ok = (dtype == _DTYPES[0] and np.isnan(fill)) or (dtype == _DTYPES[1] and int(fill) == MISSING)
        ok = (inner[1] == 1 and shard[0] % inner[0] == 0 and fill_ok
              and sharding.index_location.value == "end" and len(codecs) == 2
              and isinstance(codecs[0], BytesCodec) and codecs[0].endian.value == "little"
              and isinstance(codecs[1], BloscCodec) and len(index_codecs) == 2
              and isinstance(index_codecs[0], BytesCodec) and index_codecs[0].endian.value == "little"
              and isinstance(index_codecs[1], Crc32cCodec))
        if not ok:
            return None
        b = codecs[1]
        codec = _Blosc(b.cname.value.encode(), int(b.clevel), _SHUFFLE[b.shuffle.value], int(b.blocksize))
        return cls(path=arr.path, shape=tuple(arr.shape), shard=shard, chunk_rows=inner[0], codec=codec, dtype=dtype)

    @property
    def chunks_per_shard(self) -> tuple[int, int]:
        return (self.shard[0] // self.chunk_rows, self.shard[1])

    @property
    def index_nbytes(self) -> int:
        a, b = self.chunks_per_shard
        return 16 * a * b + 4

    def key(self, sr: int, sc: int) -> str:
        return f"{self.path}/c/{sr}/{sc}"


class IndexCache:
    """Parsed shard indexes of one snapshot by object key, least recently used dropped first.

    Objects never change within a snapshot, so an index fetched once stays right for every
    later read of that snapshot; only give one cache to reads of a single snapshot.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            got = self._d.get(key)
            if got is not None:
                self._d.move_to_end(key)
            return got

    def put(self, key: str, index: np.ndarray) -> None:
        with self._lock:
            self._d[key] = index
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)


def _sync(coro):
    from zarr.core.sync import sync

    return sync(coro)


def _submit(coro) -> Any:
    """Start ``coro`` on Zarr's I/O event loop (the one :func:`_sync` uses) and return a
    ``concurrent.futures.Future`` for its result, so several fetches run while this thread works."""
    from zarr.core.sync import _get_loop

    return asyncio.run_coroutine_threadsafe(coro, _get_loop())


def _parse_index(spec: ShardSpec, raw: np.ndarray) -> np.ndarray:
    import google_crc32c

    body, crc = raw[:-4], raw[-4:]
    if np.uint32(google_crc32c.value(body.tobytes())).tobytes() != crc.tobytes():
        raise ValueError(f"shard index checksum mismatch in {spec.path}")
    return np.frombuffer(body.tobytes(), dtype="<u8").reshape(*spec.chunks_per_shard, 2)


async def _get_many(store: Any, requests: list[tuple[str, Any]]) -> list[np.ndarray | None]:
    """Fetch ``(key, byte_request or None)`` pairs as uint8 arrays (None: no such object), in one batch.

    Icechunk's store answers a whole batch in one native call; its Python wrapper can't
    return a missing key (it converts ``None``), so the native method is called directly
    when there is one, and other stores get concurrent ``get`` calls.
    """
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer import default_buffer_prototype

    if not requests:
        return []
    native = getattr(store, "_store", None)
    if type(store).__module__.startswith("icechunk") and hasattr(native, "get_partial_values"):
        def as_tuple(r: Any) -> tuple[int | None, int | None]:
            if r is None:
                return (None, None)
            if isinstance(r, RangeByteRequest):
                return (r.start, r.end)
            if isinstance(r, SuffixByteRequest):
                return (None, r.suffix)
            if isinstance(r, OffsetByteRequest):
                return (r.offset, None)
            raise TypeError(f"unexpected byte request {r!r}")

        got = await native.get_partial_values([(k, as_tuple(r)) for k, r in requests])
        return [None if b is None else np.frombuffer(b, dtype=np.uint8) for b in got]
    proto = default_buffer_prototype()
    got = await asyncio.gather(*(store.get(k, proto, byte_range=r) for k, r in requests))
    return [None if b is None else b.as_numpy_array() for b in got]


def fetch_objects(store: Any, keys: list[str]) -> list[np.ndarray | None]:
    """Whole objects ``keys`` as uint8 arrays (None where there is no such object), in one batch."""
    return _sync(_get_many(store, [(k, None) for k in keys]))


def read_block(store: Any, spec: ShardSpec, r0: int, r1: int, cols: np.ndarray,
               divisors: np.ndarray | None = None) -> np.ndarray:
    """Rows ``[r0, r1)`` of columns ``cols`` (sorted, unique) as a C-ordered float64 array.

    Tick arrays are decoded with ``divisors`` (``10**decimals`` per column of ``cols``).
    """
    return read_blocks(store, [spec], r0, r1, cols, [divisors])[0]


def read_blocks(store: Any, specs: list[ShardSpec], r0: int, r1: int, cols: np.ndarray,
                divisors: list[np.ndarray | None], indexes: IndexCache | None = None) -> list[np.ndarray]:
    """:func:`read_block` for several arrays of one shape (the fields) at once.

    All arrays' objects are fetched in the same two batched rounds (whole shards or shard
    indexes, then chunk byte ranges), then decoded one array per thread. Shard indexes
    found in ``indexes`` (a cache for this snapshot) skip the first round.
    """
    from concurrent.futures import ThreadPoolExecutor

    from zarr.abc.store import RangeByteRequest, SuffixByteRequest

    if r1 <= r0 or cols.size == 0:
        return [np.full((max(0, r1 - r0), cols.size), np.nan) for _ in specs]
    for spec, div in zip(specs, divisors, strict=True):
        if spec.ticks and (div is None or len(div) != cols.size):
            raise ValueError(f"{spec.path} holds integer ticks: reading it needs one divisor per column")
    plans = [_read_plan(spec, r0, r1, cols) for spec in specs]

    async def fetch(a: int):
        """Array ``a``'s bytes: round 1 fetches whole shards where most of a shard is wanted, else
        the shard's index (unless cached); round 2 the wanted chunks of the other shards,
        adjacent chunks merged into one range."""
        spec, plan = specs[a], plans[a]
        cached = [indexes.get(spec.key(sr, sc)) if indexes is not None else None for sr, sc, *_ in plan]
        need = [p for p in range(len(plan)) if plan[p][4] or cached[p] is None]
        got1 = await _get_many(store, [
            (spec.key(*plan[p][:2]), None if plan[p][4] else SuffixByteRequest(spec.index_nbytes)) for p in need])
        first = dict(zip(need, got1, strict=True))
        cpt = spec.chunks_per_shard[0]
        requests, spans = [], []
        for p, (sr, sc, local, tcs, whole) in enumerate(plan):
            index = cached[p]
            if whole or (index is None and first[p] is None):
                continue
            if index is None:
                index = _parse_index(spec, first[p])
                if indexes is not None:
                    indexes.put(spec.key(sr, sc), index)
            ranges = sorted((int(index[tc - sr * cpt, lc, 0]), int(index[tc - sr * cpt, lc, 1]), lc, tc)
                            for _, lc in local for tc in tcs if index[tc - sr * cpt, lc, 0] != MAX_U64)
            runs: list[list[tuple[int, int, int, int]]] = []  # chunks that follow each other in the shard
            for off, n, lc, tc in ranges:
                if not runs or off != runs[-1][-1][2] + runs[-1][-1][3]:
                    runs.append([])
                runs[-1].append((lc, tc, off, n))
            for members in runs:
                requests.append((spec.key(sr, sc), RangeByteRequest(members[0][2], members[-1][2] + members[-1][3])))
                spans.append((p, members))
        got2 = await _get_many(store, requests)
        parts: dict[int, dict[tuple[int, int], np.ndarray]] = {}
        for (p, members), buf in zip(spans, got2, strict=True):
            d = parts.setdefault(p, {})
            base = members[0][2]
            for lc, tc, off, n in members:
                d[(lc, tc)] = buf[off - base:off - base + n]
        return first, parts

    # every array's fetch runs at once on Zarr's I/O loop; each is decoded as soon as its bytes are
    # here, while the others are still in flight
    fetches = [_submit(fetch(a)) for a in range(len(specs))]

    def decode(a: int) -> np.ndarray:
        first, parts = fetches[a].result()
        spec, div_all = specs[a], divisors[a]
        Tc = spec.chunk_rows
        cpt = spec.chunks_per_shard[0]
        out = np.empty((r1 - r0, cols.size))
        for p, (sr, _sc, local, tcs, whole) in enumerate(plans[a]):
            got = first.get(p)
            js = np.fromiter((j for j, _ in local), dtype=np.intp, count=len(local))
            dest = slice(int(js[0]), int(js[-1]) + 1) if js[-1] - js[0] + 1 == js.size else js
            index = _parse_index(spec, got[-spec.index_nbytes:]) if whole and got is not None else None
            chunks = parts.get(p, {})
            div = div_all[js] if spec.ticks else None
            # decode one time-chunk of every wanted column of the shard into a small Fortran block,
            # then copy it into the C-ordered output (a cache-sized transpose instead of a full one)
            tmp = np.empty((Tc, len(local)), dtype=spec.dtype, order="F")
            for tc in tcs:
                for k, (_j, lc) in enumerate(local):
                    data = None
                    if index is not None:
                        off, n = index[tc - sr * cpt, lc]
                        if off != MAX_U64:
                            data = got[int(off):int(off + n)]
                    else:
                        data = chunks.get((lc, tc))
                    if data is None:
                        tmp[:, k] = spec.missing
                    else:
                        spec.codec.decode(data, tmp[:, k])
                c_lo = tc * Tc
                lo, hi = max(c_lo, r0), min(c_lo + Tc, r1)
                if div is None:
                    out[lo - r0:hi - r0, dest] = tmp[lo - c_lo:hi - c_lo]
                elif isinstance(dest, slice):
                    from_ticks(tmp[lo - c_lo:hi - c_lo], div, out=out[lo - r0:hi - r0, dest])
                else:
                    out[lo - r0:hi - r0, dest] = from_ticks(tmp[lo - c_lo:hi - c_lo], div)
        return out

    try:
        if len(specs) == 1 or cols.size * (r1 - r0) < 1_000_000:  # small reads: threads cost more than they save
            return [decode(a) for a in range(len(specs))]
        with ThreadPoolExecutor(len(specs)) as pool:
            return list(pool.map(decode, range(len(specs))))
    finally:  # when one array fails to decode, the others' fetches still finish before the error leaves
        concurrent.futures.wait(fetches)


def _read_plan(spec: ShardSpec, r0: int, r1: int, cols: np.ndarray) -> list:
    """Per shard touched: ``(shard row, shard col, [(out col, local col)], [time chunks], whole?)``."""
    Ts, Ns = spec.shard
    Tc = spec.chunk_rows
    n_chunks = (Ts // Tc) * Ns
    shard_cols = cols // Ns
    plan = []
    for sr in range(r0 // Ts, (r1 - 1) // Ts + 1):
        t_lo, t_hi = max(r0, sr * Ts), min(r1, (sr + 1) * Ts)
        tcs = list(range(t_lo // Tc, (t_hi - 1) // Tc + 1))
        for sc in np.unique(shard_cols):
            js = np.flatnonzero(shard_cols == sc)
            local = [(int(j), int(cols[j] - sc * Ns)) for j in js]
            plan.append((sr, int(sc), local, tcs, len(local) * len(tcs) * 4 >= n_chunks))
    return plan


def _vector_layout(arr: Any) -> tuple[int, int, np.dtype, Any] | None:
    """``(length, chunk length, dtype, fill value)`` of a 1-D ``Bytes(little) + Blosc`` array, else None."""
    from zarr.codecs import BloscCodec, BytesCodec

    meta = arr.metadata
    try:
        codecs = meta.codecs
        (chunk,) = meta.chunk_grid.chunk_shape
        sep = meta.chunk_key_encoding.separator
        name = meta.chunk_key_encoding.name
    except (AttributeError, ValueError, TypeError):
        return None
    dtype = np.dtype(arr.dtype)
    ok = (len(codecs) == 2 and isinstance(codecs[0], BytesCodec) and isinstance(codecs[1], BloscCodec)
          and (codecs[0].endian is None or codecs[0].endian.value == "little") and dtype.byteorder in "=<|"
          and sep == "/" and name == "default")
    return (int(arr.shape[0]), int(chunk), dtype, meta.fill_value) if ok else None


async def _read_vector(arr: Any, n: int, chunk: int, dtype: np.dtype, fill: Any) -> np.ndarray:
    out = np.empty(n, dtype=dtype)
    n_chunks = -(-n // chunk)
    got = await _get_many(arr.store_path.store, [(f"{arr.path}/c/{i}", None) for i in range(n_chunks)])
    buf = np.empty(chunk, dtype=dtype)
    for i, data in enumerate(got):
        lo, hi = i * chunk, min(n, (i + 1) * chunk)
        if data is None:
            out[lo:hi] = fill
        else:
            _Blosc.decode(data, buf)
            out[lo:hi] = buf[:hi - lo]
    return out


def read_vector(arr: Any) -> np.ndarray | None:
    """All of a 1-D ``Bytes(little) + Blosc`` array (the timestamps) in one batched fetch; None for other layouts."""
    layout = _vector_layout(arr)
    return None if layout is None else _sync(_read_vector(arr, *layout))


def submit_read_vector(arr: Any) -> Any:
    """:func:`read_vector` started on Zarr's I/O loop: a ``concurrent.futures.Future`` of the
    array, so the caller can fetch other objects meanwhile (None for other layouts)."""
    layout = _vector_layout(arr)
    return None if layout is None else _submit(_read_vector(arr, *layout))


def write_block(store: Any, spec: ShardSpec, r0: int, c0: int, block: np.ndarray) -> None:
    """Write ``block`` at rows ``r0..`` and columns ``c0..`` (the array must already have its new shape).

    ``block`` is in the array's dtype (int64 ticks with :data:`MISSING` for a tick array).
    """
    import google_crc32c
    from zarr.core.buffer import default_buffer_prototype

    proto = default_buffer_prototype()
    rows, ncols = block.shape
    if rows == 0 or ncols == 0:
        return
    r1, c1 = r0 + rows, c0 + ncols
    T, N = spec.shape
    Ts, Ns = spec.shard
    Tc = spec.chunk_rows
    cpt = Ts // Tc
    if block.dtype != spec.dtype:
        raise ValueError(f"{spec.path} stores {spec.dtype}, got a {block.dtype} block")
    blockF = np.asfortranarray(block)
    shards = [(sr, sc) for sr in range(r0 // Ts, (r1 - 1) // Ts + 1) for sc in range(c0 // Ns, (c1 - 1) // Ns + 1)]

    def covers_all(sr, sc) -> bool:
        return (r0 <= sr * Ts and r1 >= min(T, (sr + 1) * Ts)
                and c0 <= sc * Ns and c1 >= min(N, (sc + 1) * Ns))

    wanted = [(sr, sc) for sr, sc in shards if not covers_all(sr, sc)]
    fetched = dict(zip(wanted, _sync(_get_many(store, [(spec.key(sr, sc), None) for sr, sc in wanted])),
                       strict=True))
    olds = [fetched.get(k) for k in shards]
    col = np.empty(Tc, dtype=spec.dtype)
    encoded: list[tuple[str, bytes | None]] = []
    for (sr, sc), old in zip(shards, olds, strict=True):
        index_old = _parse_index(spec, old[-spec.index_nbytes:]) if old is not None else None
        pieces: list[Any] = []
        index = np.full((cpt, Ns, 2), MAX_U64, dtype="<u8")
        offset = 0
        # symbol-major order: one symbol's chunks of the shard are contiguous, so a
        # one-symbol read fetches them as one byte range (the index makes any order valid)
        for lc in range(Ns):
            c = sc * Ns + lc
            for lt in range(cpt):
                tc = sr * cpt + lt
                ch_lo, ch_hi = tc * Tc, (tc + 1) * Tc
                t_lo, t_hi = max(ch_lo, r0), min(ch_hi, r1)
                touched = t_lo < t_hi and c0 <= c < c1 and ch_lo < T and c < N
                data = None
                if not touched:
                    if index_old is not None and index_old[lt, lc, 0] != MAX_U64:
                        off, n = index_old[lt, lc]
                        data = old[int(off):int(off + n)]
                else:
                    full = t_lo == ch_lo and t_hi >= min(ch_hi, T)
                    had_old = index_old is not None and index_old[lt, lc, 0] != MAX_U64
                    if not full and had_old:
                        off, n = index_old[lt, lc]
                        spec.codec.decode(old[int(off):int(off + n)], col)
                    else:
                        col.fill(spec.missing)
                    col[t_lo - ch_lo:t_hi - ch_lo] = blockF[t_lo - r0:t_hi - r0, c - c0]
                    new_values = not spec.is_missing(col[t_lo - ch_lo:t_hi - ch_lo]).all()
                    if new_values or (had_old and not full and not spec.is_missing(col).all()):
                        # a chunk still being filled (the array ends inside it) gets the fast
                        # _TAIL codec (the next append rewrites it anyway); it gets the array's
                        # codec once it is full
                        data = (spec.codec if ch_hi <= T else _TAIL).encode(col)
                if data is not None:
                    nbytes = len(data)
                    index[lt, lc] = (offset, nbytes)
                    pieces.append(data)
                    offset += nbytes
        if not pieces:
            encoded.append((spec.key(sr, sc), None))
            continue
        idx_bytes = index.tobytes()
        crc = np.uint32(google_crc32c.value(idx_bytes)).tobytes()
        pieces += [idx_bytes, crc]
        encoded.append((spec.key(sr, sc), b"".join(pieces)))

    async def store_all():
        async def one(key, payload):
            if payload is None:
                try:
                    await store.delete(key)
                except (KeyError, FileNotFoundError):
                    pass
            else:
                await store.set(key, proto.buffer.from_bytes(payload))

        await asyncio.gather(*(one(k, p) for k, p in encoded))

    _sync(store_all())
