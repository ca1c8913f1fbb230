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
        _print_first_check_table(res, echo)
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


#: The SYNTHETIC edge market (bars): the deployment is made at EDGE_CUT, the volatility regime
#: changes at EDGE_CHANGE, the replay ends at EDGE_BARS.
EDGE_BARS, EDGE_CUT, EDGE_CHANGE, EDGE_SYMBOLS = 1460, 1000, 1050, 12


def edge_market(seed: int = 11):
    """A SYNTHETIC market with a planted edge that moves (``market_data.synthetic.regime_switching``).

    Twelve symbols share one drift path. Before bar ``EDGE_CHANGE`` (1.2 % a day of noise):
    trends of about 60 bars (0.5 % a day), which a fast SMA crossover rides. From then on
    (0.1 % of noise, so the detector sees the volatility fall): slower trends of about 80
    bars (0.2 % a day) under a 12-bar oscillation (0.6 % a day, 6 bars each way) that makes
    the fast crossover trade against itself, and that a 12/15 crossover averages out.
    Returns ``(bars, change_bar)``.
    """
    import numpy as np

    from market_data.synthetic import Regime, regime_switching

    regimes = [Regime(vol=0.012, drift=0.005, name="trend up"), Regime(vol=0.012, drift=-0.005, name="trend down")]
    for st in (1, -1):
        for so in (1, -1):
            regimes.append(Regime(vol=0.001, drift=st * 0.002 + so * 0.006, name=f"calm {st:+d} swing {so:+d}"))
    rng = np.random.default_rng(seed)
    sched, t, up = [], 0, True
    while t < EDGE_CHANGE:
        sched.append((t, 0 if up else 1))
        t, up = min(EDGE_CHANGE, t + max(10, int(rng.geometric(1 / 60)))), not up
    st, so, flip = 1, 1, EDGE_CHANGE + max(20, int(rng.geometric(1 / 80)))
    while t < EDGE_BARS:
        if t >= flip:
            st, flip = -st, t + max(20, int(rng.geometric(1 / 80)))
        sched.append((t, 2 + (0 if st > 0 else 2) + (0 if so > 0 else 1)))
        t, so = t + 6, -so
    bars, _ = regime_switching(EDGE_BARS, EDGE_SYMBOLS, regimes=regimes, schedule=sched, seed=seed,
                               symbols=[f"EDGE{i}" for i in range(EDGE_SYMBOLS)], start="2001-01-01")
    return bars, EDGE_CHANGE


def _edge_spec(ctx: dict, symbols: list[str]) -> str:
    import json

    text = _spec_text(ctx, "synthetic-edge", "auto").replace('symbols = ["SPX"]', f"symbols = {json.dumps(symbols)}")
    for old, new in (('start = "1999-01-01"', 'start = "2001-01-01"'), ("long_short = false", "long_short = true"),
                     ('baseline = "buy_and_hold"', 'baseline = "cash"'), ('max_age = "180d"', 'max_age = "1y"'),
                     ('search_space = { fast = [5, 60], slow = [70, 250] }',
                      'search_space = { fast = [2, 20], slow = [10, 80] }'),
                     ('window = "trailing:8y"', 'window = "regime"'), ('holdout = "1y"', 'holdout = "6m"'),
                     ('train = "3y"', 'train = "6m"'), ('test = "1y"', 'test = "3m"'),
                     ('timeout = "10min"', 'timeout = "10min"\nfallback = "trailing:2y"')):
        if old not in text:
            raise AssertionError(f"the demo's edge spec expects {old!r} in spx_sma.toml")
        text = text.replace(old, new)
    return text


def edge_step(ctx: dict) -> str:
    """SYNTHETIC market with a planted edge that moves: the loop retrains, promotes and swaps."""
    from harness.retrain._flow import deploy
    from harness.watch import watch

    console = ctx.get("console")
    echo = (lambda m: console.print(f"      {m}", highlight=False, soft_wrap=True)) if console else (lambda m: None)
    home = loop_home(ctx)
    bars, change = edge_market()
    with _home(home):
        from harness._bars import home_store

        store = home_store(create=True)
        store.write(bars[:EDGE_CUT], message="SYNTHETIC edge market: history")
        spec = home / "synthetic_edge.toml"
        spec.write_text("# SYNTHETIC market with a planted edge (harness._loop_demo.edge_market)\n"
                        + _edge_spec(ctx, list(bars.symbols)))
        out = deploy(spec, by="demo-deployer")
        echo("deployed synthetic-edge: " + "; ".join(m for m in out.messages if m.startswith(("candidate 0",
                                                                                                  "gate:"))))
        store.write(bars[EDGE_CUT:], message="SYNTHETIC edge market: live")
        res = watch("synthetic-edge", until=int(bars.timestamps[-1]), echo=echo)
        ctx["edge"] = res
    outcome = (f"{len(res.swaps)} champion swap(s), {res.bars} bars paper-traded" if res.state != "NO_CHAMPION"
               else "the gate refused every candidate under its default thresholds, so nothing was promoted")
    return (f"SYNTHETIC (planted edge; the volatility regime and the edge change at bar {change} of "
            f"{bars.n_bars}): {len(res.retrains)} retrains; {outcome}")


def _print_first_check_table(res, echo) -> None:
    """The gate's check table of the first regime-change retrain's challenger (as the registry recorded it)."""
    import re

    from harness.gate import Decision
    from harness.registry import Registry

    regime = [r for r in res.retrains if r["reason"] == "regime_change"]
    found = next((m for r in regime for m in [re.search(r"challenger: v(\d+)", "\n".join(r.get("output") or []))]
                  if m), None)
    if found is None:
        return
    version = int(found.group(1))
    dec = next((d for d in Registry.open().decisions(res.deployment) if int(d.get("version", -1)) == version), None)
    if dec is None:
        return
    d = Decision.from_dict(dec)
    echo(f"gate check table of v{version}, the challenger of the {regime[0]['time']} retrain: {d.outcome}")
    for line in d.table().splitlines():
        echo(f"    {line}")


def _pending_version(name: str) -> int | None:
    """The newest version whose decision waits for an approval (governed mode), if any."""
    from harness.registry import Registry

    waiting = [d for d in Registry.open().decisions(name)
               if d.get("outcome") == "pending_approval" and not d.get("consumed_by")]
    return int(waiting[-1]["version"]) if waiting else None
