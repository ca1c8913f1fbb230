"""The regime step of ``harness demo``: the default detector on the S&P 500 sample."""

from __future__ import annotations

import json

import numpy as np


def demo_step(ctx: dict) -> str:
    from harness import regime
    from market_data import samples

    bars = samples.load("SPX")
    r = regime.returns_from_bars(bars)
    det = regime.default()
    res = det.run(r)
    # streaming face: persist mid-way, resume, and check it agrees with the batch run
    half = r.size // 2
    for x in r[:half]:
        det.update(x)
    resumed = regime.Detector.from_state(json.loads(json.dumps(det.state())))
    vols = np.array([resumed.update(x).volatility for x in r[half:]])
    if not np.array_equal(vols, res.volatility[half:]):
        raise AssertionError("streaming after resume disagrees with the batch run")
    events = regime.Trigger().events(res, bars.timestamps)
    idx = bars.index()
    high = sum(p.end - p.start + 1 for p in res.periods() if p.label == 2)
    crisis = [str(idx[i].date()) for i in res.change_points if "2008-09-01" <= str(idx[i].date()) <= "2008-11-30"]
    ctx["regime_events"] = events
    return (f"{det.name}: {res.change_points.size} changes, {len(events)} retrain triggers, "
            f"{high / r.size:.0%} of days high-vol; autumn-2008 detection {', '.join(crisis) or 'none'}; "
            "streaming resume == batch")
