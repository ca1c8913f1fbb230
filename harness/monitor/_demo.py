"""``harness demo`` step: the monitors on the S&P 500 sample, trained on 2004-2006, live through 2008."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """Feature, decision and data-quality monitors of SMA 20/100: a calm window, then 2008."""
    import numpy as np

    import strategies
    from harness._bars import home_store, load_bars
    from harness.monitor import DeploymentMonitor, MonitorConfig, MonitorData
    from strategies.inputs import compute_inputs

    symbols = home_store().symbols("1d")
    symbol = "SPX" if "SPX" in symbols else symbols[0]
    bars = load_bars([symbol])
    params = {"fast": 20, "slow": 100}
    inputs = compute_inputs("sma_crossover", bars, params)
    weights = strategies.get("sma_crossover").target_weights(bars, params)
    ts = np.asarray(bars.timestamps)
    idx = bars.index()

    def rows(start, end):
        return np.flatnonzero((idx >= start) & (idx < end))

    train = rows("2004-01-01", "2007-01-01")
    if train.size < 300:  # another sample: the first 60% as training, the rest live
        cut = int(0.6 * ts.size)
        train, windows = np.arange(100, cut), [("calm", np.arange(cut, min(ts.size, cut + 250)))]
    else:
        windows = [("calm", rows("2007-01-01", "2007-07-01")), ("2008", rows("2008-01-01", "2009-01-01"))]
    cfg = MonitorConfig(monitors=["feature_drift", "decision_drift", "data_quality"], mlflow=False, log=False)
    mon = DeploymentMonitor("demo-monitor", cfg)
    ref_inputs, ref_w, ref_close = inputs.values[train], weights[train], bars.close[train]
    parts = []
    for label, live in windows:
        data = MonitorData(time=int(ts[live[-1]]), input_names=inputs.names, symbols=tuple(bars.symbols),
                           reference_inputs=ref_inputs, live_inputs=inputs.values[live], reference_weights=ref_w,
                           live_weights=weights[live], bars=bars[int(live[0]): int(live[-1]) + 1],
                           reference_timestamps=ts[train], reference_close=ref_close, frequency=bars.frequency)
        new = mon.evaluate(data, bar_index=int(live[-1]))
        parts.append(f"{label}: " + (", ".join(sorted({f'{a.monitor}.{a.metric} {a.severity}' for a in new}))
                                     or "no alerts"))
    return "; ".join(parts) + "; see `harness monitor demo-monitor`"
