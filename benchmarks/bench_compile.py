"""First-run compile time: ``harness backtest`` on an empty Numba cache, and the compilation in
``harness demo``'s research steps.

Run: ``.venv/bin/python benchmarks/bench_compile.py [--runs 2] [--skip-demo]``

1. A home with the sample data (``harness data samples``, not timed), then ``--runs`` times:
   ``harness backtest --strategy sma_crossover --symbols SPX`` in a fresh process with
   ``NUMBA_CACHE_DIR`` pointing at a new empty folder (so every kernel compiles), then the
   same command again on that now warm cache. Wall time, and CPU time (user + sys of the
   child, ``RUSAGE_CHILDREN``), which the machine's load inflates far less than wall time.
   (``--no-track`` is passed when the command has it; then also ``--runs`` tracked runs,
   each on a fresh home with the sample data and an empty cache: MLflow's import and its
   database set-up on top of the compilation.)
2. ``harness demo`` in one process on an empty cache and a fresh home, with a listener on
   Numba's compile events (``numba.core.event``): the CPU and wall time of every top-level
   compilation, summed per demo step, beside each step's wall and CPU time.

The load average (``uptime``) is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = r'''
import sys, time
from numba.core import event as ev
cur = ["(import)"]
stack = []
per = {}

class Listener(ev.Listener):
    def on_start(self, event):
        stack.append((time.thread_time(), time.perf_counter()))

    def on_end(self, event):
        c0, w0 = stack.pop()
        if not stack:  # top level: includes the callees it compiled
            a = per.setdefault(cur[0], [0.0, 0.0, 0])
            a[0] += time.thread_time() - c0
            a[1] += time.perf_counter() - w0
            a[2] += 1

ev.register("numba:compile", Listener())
from harness import _demo
steps = {}

def wrap(title, fn):
    def f(ctx):
        cur[0] = title
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(ctx)
        finally:
            steps[title] = (time.perf_counter() - t0, time.process_time() - c0)
    return f

_demo.STEPS[:] = [(t, wrap(t, f)) for t, f in _demo.STEPS]
try:
    _demo.run_demo()
finally:
    for k, (w, c) in steps.items():
        a = per.get(k, [0.0, 0.0, 0])
        print(f"STEP\t{k}\t{w:.2f}\t{c:.2f}\t{a[0]:.2f}\t{a[1]:.2f}\t{a[2]}", file=sys.stderr)
'''

#: the demo steps of the research column (their compilation is what the goal counts)
RESEARCH = ("backtest", "report", "parameter sweep", "walk-forward optimisation", "volatility regimes",
            "trainable strategy")


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(cmd: list[str], env: dict) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return wall, cpu, proc.returncode


def first_backtest(runs: int) -> None:
    harness = [sys.executable, "-m", "harness"]
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "HARNESS_HOME": str(home), "NUMBA_CACHE_DIR": str(Path(tmp) / "samples-cache")}
        subprocess.run([*harness, "data", "samples"], env=env, capture_output=True, check=True)
        help_text = subprocess.run([*harness, "backtest", "--help"], env=env, capture_output=True, text=True).stdout
        cmd = [*harness, "backtest", "--strategy", "sma_crossover", "--symbols", "SPX"]
        if "--no-track" in help_text:
            cmd.append("--no-track")
        print(f"1) {' '.join(cmd[2:])} (load average {_load()})")
        print("   run   cache   wall s   CPU s")
        for i in range(runs):
            cache = Path(tmp) / f"numba-{i}"
            env_i = {**env, "NUMBA_CACHE_DIR": str(cache)}
            wall, cpu, _ = _timed(cmd, env_i)
            print(f"   {i + 1:>3}   empty  {wall:7.2f} {cpu:7.2f}")
            wall, cpu, _ = _timed(cmd, env_i)
            print(f"   {i + 1:>3}   warm   {wall:7.2f} {cpu:7.2f}")
        if "--no-track" in cmd:  # with tracking: a fresh home (MLflow's import and database set-up) too
            tracked = [c for c in cmd if c != "--no-track"]
            for i in range(runs):
                fresh = Path(tmp) / f"home-tracked-{i}"
                env_t = {**env, "HARNESS_HOME": str(fresh), "NUMBA_CACHE_DIR": str(Path(tmp) / f"numba-t{i}")}
                subprocess.run([*harness, "data", "samples"], env={**env_t, "NUMBA_CACHE_DIR": str(
                    Path(tmp) / "samples-cache")}, capture_output=True, check=True)
                wall, cpu, _ = _timed(tracked, env_t)
                print(f"   {i + 1:>3}   empty, tracked, fresh home  {wall:7.2f} {cpu:7.2f}")


def demo() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-compile-demo-") as tmp:
        env = {**os.environ, "HARNESS_HOME": str(Path(tmp) / "home"), "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", DEMO], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    rows = [ln.split("\t")[1:] for ln in proc.stderr.splitlines() if ln.startswith("STEP\t")]
    if proc.returncode != 0 or not rows:
        raise SystemExit(f"harness demo failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"\n2) harness demo on an empty Numba cache and a fresh home: {wall:.0f} s wall (load average {_load()})")
    print("   | step | wall s | CPU s | compiling: CPU s | compiling: wall s | top-level compilations |")
    print("   |---|---:|---:|---:|---:|---:|")
    tot = [0.0, 0.0]
    for name, w, c, cc, cw, k in rows:
        research = name.startswith(RESEARCH)
        if research:
            tot[0] += float(cc)
            tot[1] += float(cw)
        print(f"   | {name[:60]}{' (research)' if research else ''} | {w} | {c} | {cc} | {cw} | {k} |")
    print(f"   research steps' compilation: {tot[0]:.1f} s CPU, {tot[1]:.1f} s wall")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    print(f"bench_compile: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {_load()}")
    first_backtest(args.runs)
    if not args.skip_demo:
        demo()
    print(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    main()
