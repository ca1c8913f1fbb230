"""Scale-out: Dask sweeps (weak scaling, 1 -> 2 workers), Optuna on PostgreSQL + Dask vs SQLite.

1. **Weak scaling of a sweep.** ``--combos-per-worker`` SMA-crossover combinations per
   worker over ``--bars`` hourly bars, on a process-based ``LocalCluster`` of 1 and then 2
   workers, each task at ``NUMBA_NUM_THREADS=1``. Efficiency = time(1 worker, W combos) /
   time(2 workers, 2W combos); 1.0 is perfect. The in-process sweep of the same 2W combos
   (both cores, Numba threads) is printed beside it, and the Dask result is checked
   ``np.array_equal`` to it. On a 2-core machine this is informational: the driver, the
   scheduler and two workers share two cores.
2. **Scheduler overhead per task**: ``--tasks`` no-op tasks through ``client.map``.
3. **A ``--trials``-trial Optuna study**: PostgreSQL with 2 Dask workers (driver-side
   ask/tell, ``batch_size`` 4) against the home default, SQLite with 1 process
   (in-process ``study.optimize``), same strategy, data, CV and seed, pruning off on
   both. Storage round trips per trial are counted with a SQLAlchemy cursor listener.

    python benchmarks/bench_scale.py                  # the full table (a few minutes)
    python benchmarks/bench_scale.py --trials 200 --bars 20000

PostgreSQL comes from ``bash .ci/services`` (or ``HARNESS_TEST_PG_URL``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # inherited by the Dask worker processes

import numpy as np

PG_DEFAULT = "postgresql+psycopg2://harness:harness@127.0.0.1:5432/harness_test"


def make_bars(n_bars: int, seed: int = 42):
    from market_data.synthetic import regime_switching

    bars, _ = regime_switching(n_bars, 1, seed=seed, frequency="1h", start="2000-01-03")
    return bars


def grid(n: int) -> dict[str, list[int]]:
    k = max(1, int(round(n ** 0.5)))
    return {"fast": list(range(2, 2 + k)), "slow": list(range(200, 200 + 2 * k, 2))}


def cluster(n: int):
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40)
    return c, Client(c)


def weak_scaling(bars, per_worker: int, repeat: int) -> dict:
    from harness.sweep import sweep

    out = {}
    for n in (1, 2):
        g = grid(per_worker * n)
        c, client = cluster(n)
        try:
            sweep(bars, "sma_crossover", {"fast": g["fast"][:2], "slow": g["slow"][:1]}, progress=False,
                  dask=client, chunk_size=1)  # compile on every worker first
            client.run(lambda: None)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                df = sweep(bars, "sma_crossover", g, progress=False, dask=client)
                times.append(time.perf_counter() - t0)
            out[n] = {"combos": len(df), "s": min(times), "info": df.attrs["dask"], "df": df, "grid": g}
        finally:
            client.close()
            c.close()
    import numba

    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    g2 = out[2]["grid"]
    local = sweep(bars, "sma_crossover", g2, progress=False)
    t0 = time.perf_counter()
    local = sweep(bars, "sma_crossover", g2, progress=False)
    out["local_s"] = time.perf_counter() - t0
    for col in local.columns:
        assert np.array_equal(local[col].to_numpy(), out[2]["df"][col].to_numpy(), equal_nan=True), col
    return out


def scheduler_overhead(n_tasks: int) -> float:
    c, client = cluster(2)
    try:
        client.gather(client.map(lambda i: i, range(100), pure=False))  # warm
        t0 = time.perf_counter()
        client.gather(client.map(lambda i: i, range(n_tasks), pure=False))
        return (time.perf_counter() - t0) / n_tasks
    finally:
        client.close()
        c.close()


class StatementCounter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *args) -> None:
        self.n += 1


def count_statements(storage) -> StatementCounter:
    import sqlalchemy

    counter = StatementCounter()
    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", counter)
    return counter


def study(bars, trials: int, storage, dask=None) -> tuple[float, int]:
    import optuna

    from harness import optimize

    t0 = time.perf_counter()
    res = optimize(bars, "sma_crossover", n_trials=trials, cv="walk-forward:train=2000,test=1000", seed=7,
                   search_space={"fast": [3, 60], "slow": [70, 250]}, progress=False, storage=storage,
                   study_name=f"bench-{uuid.uuid4().hex[:8]}", pruner=optuna.pruners.NopPruner(),
                   dask=dask, batch_size=4 if dask is not None else None)
    elapsed = time.perf_counter() - t0
    assert len(res.study.trials) == trials
    return elapsed, len(res.study.trials)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--combos-per-worker", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--study-bars", type=int, default=8000)
    args = ap.parse_args()

    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores {os.cpu_count()}")
    bars = make_bars(args.bars)

    ws = weak_scaling(bars, args.combos_per_worker, args.repeat)
    t1, t2 = ws[1]["s"], ws[2]["s"]
    steps1 = ws[1]["combos"] * args.bars
    print("\n## Sweep weak scaling (NUMBA_NUM_THREADS=1 per worker)")
    print("| workers | combinations | bars | tasks x chunk | median task | wall | bar-steps/s | efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    for n, t in ((1, t1), (2, t2)):
        i = ws[n]["info"]
        print(f"| {n} | {ws[n]['combos']:,} | {args.bars:,} | {i['tasks']} x {i['chunk_size']} | "
              f"{i['task_s_median']:.2f} s | {t:.2f} s | {ws[n]['combos'] * args.bars / t / 1e6:.0f}M | "
              f"{(t1 / t) if n == 2 else 1.0:.2f} |")
    print(f"| in-process (all cores) | {ws[2]['combos']:,} | {args.bars:,} | - | - | {ws['local_s']:.2f} s | "
          f"{ws[2]['combos'] * args.bars / ws['local_s'] / 1e6:.0f}M | - |")
    print(f"(1-worker throughput {steps1 / t1 / 1e6:.0f}M bar-steps/s; results np.array_equal to the in-process sweep)")

    per_task = scheduler_overhead(args.tasks)
    print(f"\n## Scheduler overhead: {per_task * 1e3:.2f} ms per no-op task ({args.tasks} tasks, 2 workers)")

    import optuna
    import sqlalchemy

    from harness.optimize._optimize import _sqlite_storage

    sbars = make_bars(args.study_bars, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = _sqlite_storage(f"sqlite:///{tmp}/optuna.db")
        c_sqlite = count_statements(sqlite)
        t_sqlite, n = study(sbars, args.trials, sqlite)
    pg_url = os.environ.get("HARNESS_TEST_PG_URL", PG_DEFAULT)
    db = f"harness_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{db}"'))
    try:
        url = sqlalchemy.engine.make_url(pg_url).set(database=db).render_as_string(hide_password=False)
        pg = optuna.storages.RDBStorage(url)
        c_pg = count_statements(pg)
        c, client = cluster(2)
        try:
            t_pg, _ = study(sbars, args.trials, pg, dask=client)
        finally:
            client.close()
            c.close()
        pg.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    print(f"\n## A {n:,}-trial Optuna study (sma_crossover, {args.study_bars:,} bars, walk-forward, pruning off)")
    print("| storage | evaluation | wall | per trial | SQL statements per trial |")
    print("|---|---|---|---|---|")
    print(f"| SQLite (home default, WAL) | 1 process | {t_sqlite:.1f} s | {t_sqlite / n * 1e3:.1f} ms | "
          f"{c_sqlite.n / n:.1f} |")
    print(f"| PostgreSQL 15 | Dask, 2 workers, batch 4 | {t_pg:.1f} s | {t_pg / n * 1e3:.1f} ms | {c_pg.n / n:.1f} |")
    print(f"ratio PostgreSQL+Dask / SQLite: {t_pg / t_sqlite:.2f}x")
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
