"""The ``mlp`` step of ``harness demo``: fit on the S&P 500 sample, save, reload, check."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def demo_step(ctx: dict) -> str:
    """Fit the ``mlp`` strategy on the first 2,500 SPX bars, save it under the home's
    ``artifacts/``, reload it with the hash and data checks and trade the rest out of sample."""
    from market_data import samples
    from strategies.ml import MLPParams, fit, load

    bars = samples.load("SPX")
    train = bars[:2500]
    t0 = time.perf_counter()
    model = fit(train, MLPParams(), seed=0)
    fit_s = time.perf_counter() - t0
    paths = ctx.get("paths")
    base = Path(paths.artifacts) if paths is not None else Path(tempfile.mkdtemp(prefix="mlp-demo-"))
    folder = model.save(base / "mlp-demo")
    back = load(folder, expected_bars_digest=train.digest(), expected_params=model.params)
    w = back.target_weights(bars)
    if not np.array_equal(w, model.target_weights(bars)):
        raise RuntimeError("reloaded mlp model gives other weights than the fitted one")
    r_next = np.log(bars.close[2501:, 0] / bars.close[2500:-1, 0])
    pnl = w[2500:-1, 0] * r_next
    sharpe = pnl.mean() / pnl.std() * np.sqrt(252) if pnl.std() > 0 else float("nan")
    ctx["mlp_model"] = folder
    m = model.metrics
    return (f"mlp fitted on {train.n_bars} SPX bars in {fit_s:.2f}s (val loss {m['val_loss']:.4f} vs "
            f"constant {m['val_loss_baseline']:.4f}, best epoch {m['best_epoch']}); saved to {folder}, "
            f"reloaded with SHA-256 check; out-of-sample gross Sharpe {sharpe:.2f} on {len(pnl)} bars")
