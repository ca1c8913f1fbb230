"""``harness demo`` steps for the closed loop: a live replay of 2008 through ``harness watch``,
then a clearly labelled synthetic market with a planted edge.

Both run in a fresh home of their own (``<home>/loop``): its bar store holds the S&P 500
and NASDAQ samples up to the deployment date, and the feed appends the rest one bar, one
commit at a time, as a live feed would. The gate's decisions are real ones under the
default thresholds of the shipped spec; nothing is loosened to make a promotion happen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPLOY_END = "2008-06-30"  # the store holds this much when the deployment is made
REPLAY_START, REPLAY_END = "2008-07-01", "2009-12-31"


@contextlib.contextmanager
def _home(path: Path) -> Iterator[Path]:
    old = os.environ.get("HARNESS_HOME")
    os.environ["HARNESS_HOME"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("HARNESS_HOME", None)
        else:
            os.environ["HARNESS_HOME"] = old


def _spec_text(ctx: dict, name: str, mode: str) -> str:
    text = (REPO / "experiments" / "deployments" / "spx_sma.toml").read_text()
    text = text.replace('name = "spx-sma"', f'name = "{name}"').replace('mode = "auto"', f'mode = "{mode}"')
    if ctx.get("fast", True):
        text = text.replace("trials = 40", "trials = 15")
    return text


def loop_home(ctx: dict) -> Path:
    from harness.config import paths

    return paths().home / "loop"


def demo_step(ctx: dict) -> str:
    """Replay 2008-2009 into a live store and let ``harness watch`` run the loop on ``spx-sma``."""
    from harness.config import paths
    from harness.paper._feed import append_bars
    from harness.retrain._flow import deploy
    from harness.watch import watch
    from market_data import BarStore

    console = ctx.get("console")
    echo = (lambda m: console.print(f"      {m}", highlight=False, soft_wrap=True)) if console else (lambda m: None)
    main_data = paths().data
    source = BarStore.open(main_data)
    snap = source.resolve()
    symbols = [s for s in ("SPX", "NASDAQ") if s in source.symbols("1d")]
    home = loop_home(ctx)
    shutil.rmtree(home, ignore_errors=True)
    mode = "governed" if ctx.get("governed") else "auto"
    with _home(home):
        from harness._bars import home_store

        store = home_store(create=True)
        store.write(source.read(symbols, end=DEPLOY_END, snapshot=snap).with_snapshot(None),
                    message=f"history up to {DEPLOY_END}")
        spec = home / "spx_sma.toml"
        spec.write_text(_spec_text(ctx, "spx-sma", mode))
        out = deploy(spec, by="demo-deployer")
        echo(f"deployed spx-sma ({mode}): " + "; ".join(m for m in out.messages if m.startswith(("candidate 0",
                                                                                                   "gate:"))))
        n = append_bars(symbols, start=REPLAY_START, end=REPLAY_END, source_store=main_data, source_snapshot=snap)
        echo(f"feed: appended {n} bars of {', '.join(symbols)} ({REPLAY_START} .. {REPLAY_END}), one commit each")
        res = watch("spx-sma", until=REPLAY_END, echo=echo)
        ctx["loop"] = {"home": home, "result": res, "mode": mode, "pending": _pending_version("spx-sma")}
        from harness import audit

        ok = audit.trail().verify()
    regime = [r for r in res.retrains if r["reason"] == "regime_change"]
    first = regime[0]["time"] if regime else "none"
    if res.state == "NO_CHAMPION":
        tail = ("every candidate rejected by the gate under the spec's default thresholds, so the baseline "
                "(buy and hold) stays champion and nothing is paper-traded: the gate doing its job")
    elif mode == "governed":
        tail = f"governed: nothing promoted without `harness --home {home} approve spx-sma VERSION --by YOU`"
    else:
        tail = f"{len(res.swaps)} champion swaps"
    return (f"watched to {REPLAY_END}: {res.bars} bars paper-traded, {len(res.retrains)} retrains (first regime "
            f"change {first}), {tail}; "
            f"{len(res.alerts)} monitor alerts; audit {'verified' if ok.ok else 'FAILED'} ({ok.count} records); "
            f"look: harness --home {home} status")


def edge_step(ctx: dict) -> str:
    """SYNTHETIC market with a planted edge: trends the SMA crossover can ride, regime by regime."""
    import numpy as np

    from harness.retrain._flow import deploy
    from harness.watch import watch
    from market_data.synthetic import Regime, regime_switching

    console = ctx.get("console")
    echo = (lambda m: console.print(f"      {m}", highlight=False, soft_wrap=True)) if console else (lambda m: None)
    home = loop_home(ctx)
    regimes = [Regime(vol=0.006, drift=0.0012, name="calm uptrend"),
               Regime(vol=0.018, drift=-0.0025, name="stressed downtrend")]
    bars, truth = regime_switching(1800, 1, regimes=regimes, schedule=[(0, 0), (1250, 1), (1500, 0)], seed=11,
                                   symbols=["EDGE"], start="2001-01-01")
    cut = 1200
    text = _spec_text(ctx, "synthetic-edge", "auto").replace('symbols = ["SPX"]', 'symbols = ["EDGE"]')
    text = text.replace('start = "1999-01-01"', 'start = "2001-01-01"').replace("long_short = false",
                                                                                   "long_short = true")
    text = text.replace('baseline = "buy_and_hold"', 'baseline = "cash"').replace('max_age = "180d"\n', "")
    text = text.replace('window = "trailing:8y"', 'window = "expanding"').replace('holdout = "1y"', 'holdout = "6m"')
    text = text.replace('train = "3y"', 'train = "2y"').replace('test = "1y"', 'test = "6m"')
    with _home(home):
        from harness._bars import home_store

        store = home_store(create=True)
        store.write(bars[:cut], message="SYNTHETIC edge market: history")
        spec = home / "synthetic_edge.toml"
        spec.write_text("# SYNTHETIC market with a planted edge (market_data.synthetic)\n" + text)
        out = deploy(spec, by="demo-deployer")
        echo("deployed synthetic-edge: " + "; ".join(m for m in out.messages if m.startswith("gate:")))
        store.write(bars[cut:], message="SYNTHETIC edge market: live")
        res = watch("synthetic-edge", until=int(bars.timestamps[-1]), echo=echo)
        ctx["edge"] = res
    changes = ", ".join(str(int(c)) for c in np.asarray(truth.change_points))
    outcome = (f"{len(res.swaps)} champion swaps, {res.bars} bars paper-traded" if res.state != "NO_CHAMPION"
               else "the gate refused every candidate under its default thresholds, so nothing was promoted")
    return (f"SYNTHETIC (planted edge, regime changes at bars {changes}): {len(res.retrains)} retrains; "
            f"{outcome}")


def _pending_version(name: str) -> int | None:
    """The newest version whose decision waits for an approval (governed mode), if any."""
    from harness.registry import Registry

    waiting = [d for d in Registry.open().decisions(name)
               if d.get("outcome") == "pending_approval" and not d.get("consumed_by")]
    return int(waiting[-1]["version"]) if waiting else None
