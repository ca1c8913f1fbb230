"""Feature store benchmark: materialising a feature set vs computing it in memory plus the store's write cost.

Data: ``--symbols`` x ``--bars`` daily random-walk bars (default 500 x 10,000, prices on
the cent grid), written to a fresh local BarStore. Measured in one run, side by side, in
``--rounds`` interleaved rounds (medians; each round's ratio is printed too, since this
machine's memory and disk costs drift by tens of per cent between runs):

* compute: the ``mlp`` feature set (9 features) in memory (``strategies.features.compute``), warm;
* write reference: ``BarStore.write`` of float64 bars holding the same number of float64
  values (9 x T x N values as 5 fields x T x (9N/5) symbols, float layout), one commit
  into a fresh store;
* materialise: ``strategies.features.materialise`` of the set (read the bars, compute,
  write, commit), full (each round a set of its own name); then the incremental one after
  appending one bar per symbol;
* reads: one feature of one symbol from the feature store vs one symbol's bars (all
  five fields) from the bar store (median of ``--repeat``).

    .venv/bin/python benchmarks/bench_features.py                 # 500 x 10,000
    .venv/bin/python benchmarks/bench_features.py --symbols 50 --bars 2000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from market_data.bars import Bars
from market_data.store import BarStore, StoreLayout

DAY = 86_400_000_000_000


def _bars(T: int, N: int, seed: int = 0) -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0)), 2)
    open_ = np.round(close * np.exp(rng.normal(0, 0.002, (T, N))), 2)
    high = np.maximum(open_, close) + 0.05
    low = np.minimum(open_, close) - 0.05
    vol = np.round(rng.uniform(1e5, 1e6, (T, N)))
    return Bars(timestamps=np.arange(T, dtype=np.int64) * DAY + 10_000 * DAY,
                symbols=tuple(f"S{j:04d}" for j in range(N)), open=open_, high=high, low=low, close=close,
                volume=vol, frequency="1d")


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--bars", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5, help="reads: median of this many")
    ap.add_argument("--rounds", type=int, default=5, help="compute / write / materialise: median of this many")
    args = ap.parse_args()
    import strategies.features as F
    from market_data.features import FeatureStore

    T, N = args.bars, args.symbols
    fs = F.feature_set("mlp")
    n_feat = len(fs.definitions)
    root = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        bars = _bars(T, N)
        store = BarStore.open(root / "store", create=True)
        t_bars, s1 = _timed(lambda: store.write(bars, message="bars"))
        F.compute(fs.definitions, _bars(200, 2))  # compile
        loaded = store.read(snapshot=s1)
        t_read_bars_all = _timed(lambda: store.read(snapshot=s1))[0]
        # the store's write cost for as many float64 values: 5 fields x T x (9N/5) symbols, float layout
        n_ref = -(-n_feat * N // 5)
        ref = _bars(T, n_ref, seed=1)
        ref = Bars(timestamps=ref.timestamps, symbols=ref.symbols, open=ref.open * 1.0001, high=ref.high * 1.0001,
                   low=ref.low * 1.0001, close=ref.close * 1.0001, volume=ref.volume + 0.5, frequency="1d")
        # rounds of the three, interleaved, so that the machine's drift and the process's memory
        # state fall on all of them alike; each materialise is a full one (a set of its own name)
        rounds: list[tuple[float, float, float]] = []
        for r in range(args.rounds):
            t_c = _timed(lambda: F.compute(fs.definitions, loaded))[0]
            ref_store = BarStore.open(root / f"ref{r}", create=True, layout=StoreLayout(encoding="float"))
            t_w = _timed(lambda rs=ref_store: rs.write(ref, message="float64 reference"))[0]
            one = fs if r == args.rounds - 1 else F.FeatureSet(f"mlp_round{r}", fs.definitions)
            t_m, c1 = _timed(lambda one=one: F.materialise(store, one, snapshot=s1))
            rounds.append((t_c, t_w, t_m))
            shutil.rmtree(root / f"ref{r}", ignore_errors=True)
        t_compute, t_write_ref, t_mat = (statistics.median(x) for x in zip(*rounds, strict=True))
        nxt = _bars(T + 1, N)[T:]
        s2 = store.write(nxt, message="one more bar")
        t_inc, c2 = _timed(lambda: F.materialise(store, fs, snapshot=s2))
        meta = store.history()[0].metadata
        assert meta["incremental"] and meta["computed_rows"] == 1, meta
        full = np.stack(F.compute(fs.definitions, store.read(snapshot=s2)), 2)
        got = FeatureStore(store).read(feature_set="mlp").values
        assert np.array_equal(got, full, equal_nan=True), "incremental != full"
        sym = bars.symbols[N // 2]
        fstore = FeatureStore(store)
        fstore.read("vol_20", feature_set="mlp", symbols=[sym])
        store.read(sym)
        t_read_feat = statistics.median(_timed(lambda: fstore.read("vol_20", feature_set="mlp", symbols=[sym]))[0]
                                        for _ in range(args.repeat))
        t_read_sym = statistics.median(_timed(lambda: store.read(sym))[0] for _ in range(args.repeat))

        def read_one_field():  # what store.read does for one field of one symbol: its session, view and rects
            from market_data.store import _read_rects

            session = store._session(None)
            view = store._view(session, "1d")
            try:
                col = np.asarray([list(view.symbols).index(sym)], dtype=np.intp)
                return _read_rects([view.fields["close"]], 0, view.n_rows, col, view.indexes)[0]
            finally:
                view.settle()

        assert np.array_equal(read_one_field()[:, 0], store.read(sym).close[:, 0], equal_nan=True)
        t_read_field = statistics.median(_timed(read_one_field)[0] for _ in range(args.repeat))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()
    print(f"feature set mlp ({n_feat} features) on {N} symbols x {T} bars = {n_feat * N * T:,} float64 values; "
          f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    rows = [("write the bars (reference, ticks)", t_bars), ("read all bars", t_read_bars_all),
            ("compute in memory (median)", t_compute),
            (f"write {n_feat * N * T:,} float64 values (BarStore.write, median)", t_write_ref),
            ("compute + write", t_compute + t_write_ref), ("materialise (read, compute, write, commit; median)", t_mat),
            ("materialise after appending 1 bar/symbol (incremental)", t_inc),
            ("read 1 feature of 1 symbol", t_read_feat), ("read 1 bar field (close) of 1 symbol", t_read_field),
            ("read 1 symbol's bars (5 fields)", t_read_sym)]
    for name, t in rows:
        print(f"  {name:<58s} {t:9.3f} s")
    print(f"  materialise / (compute + write), medians (goal <= 1)       {t_mat / (t_compute + t_write_ref):9.2f}")
    per = [m / (c + w) for c, w, m in rounds]
    print(f"  ... per round: {' '.join(f'{x:.2f}' for x in per)}  (compute {' '.join(f'{c:.2f}' for c, _, _ in rounds)}; "
          f"write {' '.join(f'{w:.2f}' for _, w, _ in rounds)}; materialise {' '.join(f'{m:.2f}' for _, _, m in rounds)})")
    print(f"  incremental / full materialise                             {t_inc / t_mat:9.3f}")
    print(f"  read 1 feature / read 1 bar field (goal <= 1)              {t_read_feat / t_read_field:9.2f}")
    print(f"  read 1 feature / read 1 symbol's bars                      {t_read_feat / t_read_sym:9.2f}")


if __name__ == "__main__":
    main()
