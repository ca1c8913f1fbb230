"""Bar store benchmark: BarStore (several layouts) vs Parquet (two layouts) vs ArcticDB (LMDB).

Data: ``--symbols`` x ``--bars`` minute bars of OHLCV float64 from
``market_data.synthetic.regime_switching``, prices rounded to the cent and volumes to
whole shares as quoted data is (default 500 x 100,000 = 2 GB raw). For
each system it measures, side by side in one run:

* write (everything, one go) and the compressed size on disk;
* read (a) one symbol's full history, (b) all symbols over a 10,000-bar window,
  (c) everything (median of ``--repeat`` runs, warm OS cache);
* for BarStore layouts: appending one bar for every symbol and committing (median of
  ``--appends``), and the bytes a one-symbol read fetches against the store's size.

It prints one table and the ratios against the best Parquet layout per read. Peers
read into NumPy column arrays (no pivot to a wide frame), which favours them.

    .venv/bin/python benchmarks/bench_store.py                      # full size
    .venv/bin/python benchmarks/bench_store.py --bars 20000 --symbols 100 --quick
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from market_data.bars import FIELDS, Bars

# name -> StoreLayout fields; the first is the default layout of BarStore
LAYOUTS: dict[str, dict] = {
    "ticks, lz4, shard 8192x128 / chunk 4096x1 (default)": dict(),
    "ticks, lz4, shard 16384x128 / chunk 4096x1": dict(shard_bars=16384),
    "float64, zstd, shard 4096x128 / chunk 4096x1 (previous default)":
        dict(chunk_bars=4096, shard_bars=4096, shard_symbols=128, cname="zstd", clevel=3, encoding="float"),
    "ticks, zstd, shard 8192x128 / chunk 4096x1": dict(cname="zstd", clevel=3),
    "chunk 10000x50 (no shards, zarr)": dict(chunk_bars=10000, shard_bars=10000, shard_symbols=1, _plain=(10000, 50)),
}
WINDOW = 10_000


def _window(n_bars: int) -> tuple[int, int]:
    """First and last row of the (up to) 10,000-bar window in the middle of the data."""
    width = min(WINDOW, max(1, n_bars // 2))
    lo = n_bars // 2 - width // 2
    return lo, lo + width - 1


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_bars(n_bars: int, n_symbols: int, seed: int = 0) -> Bars:
    from market_data.synthetic import regime_switching

    bars, _ = regime_switching(n_bars, n_symbols, seed=seed, frequency="1min", start="2000-01-03")
    # quoted prices are whole ticks (cents here) and volumes whole shares; rounding keeps OHLC consistent
    fields = {f: np.round(getattr(bars, f), 2) for f in ("open", "high", "low", "close")}
    return Bars(timestamps=bars.timestamps, symbols=bars.symbols, frequency=bars.frequency,
                volume=np.round(bars.volume), **fields)


def bench_barstore(bars: Bars, root: Path, name: str, spec: dict, repeat: int, appends: int) -> dict:
    from market_data.store import BarStore, StoreLayout

    spec = dict(spec)
    plain = spec.pop("_plain", None)
    path = root / f"barstore-{len(os.listdir(root))}"
    store = BarStore.open(path, create=True, layout=StoreLayout(**spec))
    if plain is not None:  # the reference layout: plain 2-D chunks, no sharding
        _force_plain_chunks(store, bars.frequency, plain)
    T, N = bars.shape
    body = bars[: T - appends]
    t0 = time.perf_counter()
    store.write(body, message="bench: bulk write")
    write_s = time.perf_counter() - t0
    size = _du(path)
    rng = np.random.default_rng(1)
    picks = list(rng.choice(N, size=repeat, replace=repeat > N))
    # cold: a store object that has read nothing (as a new process): metadata, timestamps and
    # shard indexes are fetched too
    fresh = iter([(BarStore.open(path), bars.symbols[int(j)]) for j in picks])
    lo, hi = _window(T - appends)
    start, end = int(bars.timestamps[lo]), int(bars.timestamps[hi])
    out = {"system": f"BarStore {name}", "write_s": write_s, "size_mb": size / 1e6,
           "one_symbol_s": _median(lambda: (lambda st, sym: st.read(sym, frequency=bars.frequency))(*next(fresh)),
                                   repeat),
           "window_s": _median(lambda: store.read(start=start, end=end, frequency=bars.frequency), repeat),
           "all_s": _median(lambda: store.read(frequency=bars.frequency), max(1, repeat // 2))}
    # warm: the same store object has already read a neighbouring symbol (same shard column)
    warm = []
    for j in picks:
        reader = BarStore.open(path)
        reader.read(bars.symbols[int(j) ^ 1], frequency=bars.frequency)
        gc.collect()
        t0 = time.perf_counter()
        reader.read(bars.symbols[int(j)], frequency=bars.frequency)
        warm.append(time.perf_counter() - t0)
    out["one_symbol_warm_s"] = statistics.median(warm)
    check = store.read(frequency=bars.frequency)
    assert check.equals(body), "BarStore read back differs from what was written"
    times = []
    for i in range(T - appends, T):
        one = bars[i:i + 1]
        t0 = time.perf_counter()
        store.write(one, message=f"bench: append bar {i}")
        times.append(time.perf_counter() - t0)
    out["append_s"] = statistics.median(times)
    out["one_symbol_fetch_mb"] = _fetched_bytes(store, bars.symbols[N // 2], bars.frequency) / 1e6
    out["size_after_mb"] = _du(path) / 1e6
    # worst case: the append rewrites the whole last shard row, so fill it up to a few bars short
    # of its end (synthetic continuation of the same walk) and append there
    shard = StoreLayout(**{k: v for k, v in spec.items() if not k.startswith("_")}).shard_bars
    end = -(-T // shard) * shard
    if plain is None and end - appends > T:
        more = make_bars(end - T, N, seed=7)
        scale = bars.close[-1] / more.close[0]
        more = Bars(timestamps=bars.timestamps[-1] + (more.timestamps - more.timestamps[0] + 60_000_000_000),
                    symbols=bars.symbols, frequency=bars.frequency, volume=more.volume,
                    **{f: np.round(getattr(more, f) * scale, 2) for f in ("open", "high", "low", "close")})
        store.write(more[: end - T - appends], message="bench: fill the last shard row")
        times = []
        for i in range(end - T - appends, end - T):
            t0 = time.perf_counter()
            store.write(more[i:i + 1], message=f"bench: append bar {T + i}")
            times.append(time.perf_counter() - t0)
        out["append_full_s"] = statistics.median(times)
    shutil.rmtree(path, ignore_errors=True)
    return out


def _force_plain_chunks(store, frequency: str, chunks: tuple[int, int]) -> None:
    """Create the frequency group with plain (unsharded) chunks of ``chunks`` shape."""
    import zarr
    from zarr.codecs import BloscCodec

    session = store._repo.writable_session("main")
    root = zarr.open_group(session.store, mode="r+")
    group = root.create_group(frequency)
    group.attrs["symbols"] = []
    group.create_array("timestamps", shape=(0,), dtype="int64", chunks=(131072,), fill_value=0,
                       compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")])
    for f in FIELDS:
        group.create_array(f, shape=(0, 0), dtype="float64", chunks=chunks, fill_value=np.nan,
                           compressors=[BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")])
    session.commit("bench: plain layout")


def _fetched_bytes(store, symbol: str, frequency: str) -> int:
    """Bytes the store hands to Zarr while reading one symbol's whole history."""
    from zarr.abc.store import ByteRequest  # noqa: F401  (only to fail early if the API moved)
    from zarr.storage import WrapperStore

    counter = [0]

    class Counting(WrapperStore):
        async def get(self, key, prototype, byte_range=None):
            buf = await self._store.get(key, prototype, byte_range)
            if buf is not None and not key.endswith("zarr.json"):
                counter[0] += len(buf)
            return buf

    store._zarr_store = lambda session: Counting(session.store)  # the store's one seam for its Zarr store
    try:
        store.read(symbol, frequency=frequency)
    finally:
        del store._zarr_store
    if counter[0] == 0:
        raise RuntimeError("the byte counter saw no fetches: BarStore no longer reads through _zarr_store")
    return counter[0]


def _long_table(bars: Bars):
    import pyarrow as pa

    T, N = bars.shape
    sym = np.repeat(np.arange(N, dtype=np.int32), T)
    cols = {"symbol": pa.DictionaryArray.from_arrays(pa.array(sym), pa.array(list(bars.symbols))),
            "timestamp": pa.array(np.tile(bars.timestamps, N).view("datetime64[ns]"))}
    for f in FIELDS:
        cols[f] = pa.array(np.ascontiguousarray(getattr(bars, f).T).ravel())
    return pa.table(cols)


def bench_parquet_single(bars: Bars, root: Path, repeat: int) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = root / "single.parquet"
    T, N = bars.shape
    table = _long_table(bars)
    t0 = time.perf_counter()
    pq.write_table(table, path, row_group_size=T, compression="zstd")
    write_s = time.perf_counter() - t0
    del table
    picks = iter(np.random.default_rng(1).choice(bars.symbols, size=repeat))
    lo, hi = _window(T)
    t_lo, t_hi = bars.timestamps[lo].view("datetime64[ns]"), bars.timestamps[hi].view("datetime64[ns]")

    def arrays(t):
        return {c: t.column(c).to_numpy() for c in ("timestamp", *FIELDS)}

    def one():
        s = next(picks)
        return arrays(pq.read_table(path, filters=[("symbol", "==", s)]))

    def window():
        return arrays(pq.read_table(path, filters=[("timestamp", ">=", t_lo), ("timestamp", "<=", t_hi)]))

    out = {"system": "Parquet, one file sorted by symbol", "write_s": write_s, "size_mb": path.stat().st_size / 1e6,
           "one_symbol_s": _median(one, repeat), "window_s": _median(window, repeat),
           "all_s": _median(lambda: arrays(pq.read_table(path)), max(1, repeat // 2))}
    assert pc.sum(pq.read_table(path, columns=["close"]).column("close")).as_py() is not None
    path.unlink()
    return out


def bench_parquet_per_symbol(bars: Bars, root: Path, repeat: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "per_symbol"
    folder.mkdir()
    T, N = bars.shape
    ts = pa.array(bars.timestamps.view("datetime64[ns]"))
    t0 = time.perf_counter()
    for j, s in enumerate(bars.symbols):
        t = pa.table({"timestamp": ts, **{f: pa.array(np.ascontiguousarray(getattr(bars, f)[:, j])) for f in FIELDS}})
        pq.write_table(t, folder / f"{s}.parquet", row_group_size=WINDOW, compression="zstd")
    write_s = time.perf_counter() - t0
    picks = iter(np.random.default_rng(1).choice(bars.symbols, size=repeat))
    lo, hi = _window(T)
    t_lo, t_hi = bars.timestamps[lo].view("datetime64[ns]"), bars.timestamps[hi].view("datetime64[ns]")

    def arrays(t):
        return {c: t.column(c).to_numpy() for c in ("timestamp", *FIELDS)}

    def window():
        return [arrays(pq.read_table(folder / f"{s}.parquet",
                                     filters=[("timestamp", ">=", t_lo), ("timestamp", "<=", t_hi)]))
                for s in bars.symbols]

    out = {"system": "Parquet, one file per symbol", "write_s": write_s, "size_mb": _du(folder) / 1e6,
           "one_symbol_s": _median(lambda: arrays(pq.read_table(folder / f"{next(picks)}.parquet")), repeat),
           "window_s": _median(window, repeat),
           "all_s": _median(lambda: [arrays(pq.read_table(folder / f"{s}.parquet")) for s in bars.symbols],
                            max(1, repeat // 2))}
    shutil.rmtree(folder)
    return out


def bench_arcticdb(bars: Bars, root: Path, repeat: int) -> dict | None:
    try:
        import arcticdb
    except ImportError:
        print("ArcticDB is not installed (pip install arcticdb): skipped")
        return None
    import pandas as pd

    folder = root / "arctic"
    ac = arcticdb.Arctic(f"lmdb://{folder}?map_size=20GB")
    lib = ac.get_library("bench", create_if_missing=True)
    T, N = bars.shape
    idx = pd.DatetimeIndex(bars.timestamps.view("datetime64[ns]"))
    t0 = time.perf_counter()
    for j, s in enumerate(bars.symbols):
        lib.write(s, pd.DataFrame({f: getattr(bars, f)[:, j] for f in FIELDS}, index=idx))
    write_s = time.perf_counter() - t0
    picks = iter(np.random.default_rng(1).choice(bars.symbols, size=repeat))
    lo, hi = _window(T)
    rng = (idx[lo], idx[hi])
    syms = list(bars.symbols)

    def arrays(df):
        return {c: df[c].to_numpy() for c in FIELDS}

    def window():
        return [arrays(r.data) for r in lib.read_batch([arcticdb.ReadRequest(s, date_range=rng) for s in syms])]

    def everything():
        return [arrays(r.data) for r in lib.read_batch(syms)]

    out = {"system": f"ArcticDB {arcticdb.__version__} LMDB, one symbol each", "write_s": write_s,
           "size_mb": _du(folder) / 1e6,
           "one_symbol_s": _median(lambda: arrays(lib.read(next(picks)).data), repeat),
           "window_s": _median(window, repeat), "all_s": _median(everything, max(1, repeat // 2))}
    ac.delete_library("bench")
    shutil.rmtree(folder, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--appends", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="only the default layout, no ArcticDB")
    ap.add_argument("--layouts", type=int, default=2, help="how many of LAYOUTS to run, in order (5: all)")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        bars = make_bars(args.bars + args.appends, args.symbols)
        raw_mb = bars.n_bars * bars.n_symbols * 8 * len(FIELDS) / 1e6
        print(f"data: {args.symbols} symbols x {args.bars:,} bars (+{args.appends} appended), "
              f"{raw_mb:,.0f} MB raw; generated in {time.perf_counter() - t0:.1f}s")
        rows = []
        layouts = list(LAYOUTS.items())[:1 if args.quick else args.layouts]
        for name, spec in layouts:
            rows.append(bench_barstore(bars, root, name, spec, args.repeat, args.appends))
            print(_fmt_row(rows[-1], raw_mb), flush=True)
        body = bars[: bars.n_bars - args.appends]
        peers = [bench_parquet_single(body, root, args.repeat), bench_parquet_per_symbol(body, root, args.repeat)]
        if not args.quick:
            peers.append(bench_arcticdb(body, root, args.repeat))
        for p in peers:
            if p is not None:
                rows.append(p)
                print(_fmt_row(p, raw_mb), flush=True)
        _print_table(rows, raw_mb)
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fmt_row(r: dict, raw_mb: float) -> str:
    extra = ""
    if "append_s" in r:
        extra = (f" one symbol warm {r['one_symbol_warm_s']:.4f}s, append {r['append_s']:.3f}s, "
                 f"one-symbol read fetched {r['one_symbol_fetch_mb']:.2f} MB")
        if "append_full_s" in r:
            extra += f", append into a nearly full shard row {r['append_full_s']:.3f}s"
    return (f"  {r['system']}: write {r['write_s']:.2f}s, size {r['size_mb']:.0f} MB "
            f"({raw_mb / r['size_mb']:.2f}x), one {r['one_symbol_s']:.4f}s, window {r['window_s']:.3f}s, "
            f"all {r['all_s']:.2f}s{extra}")


def _print_table(rows: list[dict], raw_mb: float) -> None:
    parquet = [r for r in rows if r["system"].startswith("Parquet")]
    best = {k: min(r[k] for r in parquet) for k in ("one_symbol_s", "window_s", "all_s")} if parquet else {}
    print()
    print("| system | write s | size MB (ratio) | one symbol s (warm) | 10k-bar window s | everything s | "
          "append 1 bar s (worst case) | one-symbol fetch MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["system"], f"{r['write_s']:.2f}", f"{r['size_mb']:.0f} ({raw_mb / r['size_mb']:.2f}x)"]
        for k, digits in (("one_symbol_s", 4), ("window_s", 3), ("all_s", 2)):
            ratio = f" ({r[k] / best[k]:.2f}x)" if best else ""
            warm = f" ({r['one_symbol_warm_s']:.4f})" if k == "one_symbol_s" and "one_symbol_warm_s" in r else ""
            cells.append(f"{r[k]:.{digits}f}{ratio}{warm}")
        worst = f" ({r['append_full_s']:.3f})" if "append_full_s" in r else ""
        cells.append(f"{r['append_s']:.3f}{worst}" if "append_s" in r else "-")
        cells.append(f"{r['one_symbol_fetch_mb']:.2f}" if "one_symbol_fetch_mb" in r else "-")
        print("| " + " | ".join(cells) + " |")
    print("\n(ratios: time / best Parquet layout for that read; < 1 is faster)")


if __name__ == "__main__":
    main()
