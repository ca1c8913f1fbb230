"""``harness paper parity``: replay a range of a deployment's version and compare it with its backtest."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

__all__ = ["parity"]


def parity(deployment: str, *, start, end, version="champion", registry=None) -> dict:
    """Replay ``[start, end]`` of the stored bars with ``version`` on a scratch ledger (the weights
    decided on the whole history before each bar, as the live runner decides) and compare its
    fills, equity and positions with ``backtest`` of the same version's weights on that range.
    Returns ``{"equal": bool, "lines": [...], ...}``."""
    from harness import backtest
    from harness._bars import home_store, load_bars
    from harness.errors import InputError
    from harness.paper._core import Runner
    from harness.paper._decide import FixedSource, History
    from harness.paper._feed import ReplayFeed
    from harness.paper._ledger import Ledger
    from harness.paper._runner import _decider
    from harness.paper._sim import SimBroker
    from harness.registry import Registry
    from market_data.bars import to_ns

    reg = registry if registry is not None else Registry.open()
    deployed = reg.load(deployment, version)
    v = deployed.version
    bars = load_bars(list(v.symbols), end=end, frequency=v.frequency)
    cut = int(np.searchsorted(bars.timestamps, to_ns(start, name="start"), "left"))
    if cut >= bars.n_bars:
        raise InputError(f"no stored bars of {list(v.symbols)} between {start} and {end}")
    rng = bars[cut:]
    folder = Path(tempfile.mkdtemp(prefix=f"paper-parity-{deployment}-"))
    led = Ledger.create(folder / f"{deployment}.db", deployment=deployment, symbols=v.symbols,
                        init_cash=v.config.init_cash, config=v.config.to_dict())
    sim = SimBroker(v.symbols, config=v.config, path=folder / f"{deployment}.broker.db", exclusive=True)
    hist = History(v.symbols, v.frequency)
    if cut:
        hist.extend(bars[:cut])
    try:
        Runner(deployment=deployment, symbols=v.symbols, frequency=v.frequency, config=v.config, broker=sim,
               ledger=led, source=FixedSource(str(v.version), _decider(deployed)), history=hist,
               features=home_store()).run(ReplayFeed(rng))
    finally:
        sim.close()
    w = deployed.target_weights(bars)
    bt = backtest(rng, weights=w[cut:], config=v.config)
    fills = led.fills()
    o = bt.orders
    lines = [f"{deployment} v{v.version} ({v.strategy}) from {rng.index()[0]} to {rng.index()[-1]}: "
             f"{rng.n_bars} bars x {rng.n_symbols} symbols; scratch ledger {led.path}"]
    same_shape = len(fills) == len(o)
    ok = same_shape
    lines.append(f"orders: paper {len(fills)}, backtest {len(o)}")
    if same_shape and len(o):
        same = (fills["time"].to_numpy() == o["time"].to_numpy()).all() and \
            (fills["symbol"].to_numpy() == o["symbol"].to_numpy()).all() and \
            (fills["side"].to_numpy() == o["side"].to_numpy()).all()
        ok &= bool(same)
        lines.append(f"times, symbols, sides: {'equal' if same else 'DIFFERENT'}")
        for col in ("size", "price", "fees"):
            a, b = fills[col].to_numpy(float), o[col].to_numpy(float)
            rel = float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))
            ok &= rel <= 1e-9
            lines.append(f"{col}: max relative difference {rel:.3g}")
    eq_a, eq_b = led.equity().to_numpy(), bt.equity.to_numpy()
    rel = float(np.max(np.abs(eq_a - eq_b) / np.abs(eq_b))) if len(eq_b) == len(eq_a) else float("inf")
    ok &= rel <= 1e-9
    lines.append(f"equity: max relative difference {rel:.3g}")
    pa, pb = led.positions().to_numpy(), bt.positions.to_numpy()
    pd_ = float(np.max(np.abs(pa - pb))) if pa.shape == pb.shape else float("inf")
    ok &= pd_ <= 1e-9 * max(1.0, float(np.max(np.abs(pb))) if pb.size else 1.0)
    lines.append(f"positions: max difference {pd_:.3g}")
    lines.append("PARITY: equal" if ok else "PARITY: DIFFERENT")
    led.close()
    sim.close()
    return {"equal": bool(ok), "lines": lines, "ledger": str(folder / f"{deployment}.db")}
