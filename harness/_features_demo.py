"""The feature-store step of ``harness demo``: materialise the mlp features beside the bars, then fit
the mlp from them and check it is the model the on-the-fly features gave."""

from __future__ import annotations

import time


def demo_step(ctx: dict) -> str:
    """Materialise the ``mlp`` set from the home store's snapshot (one commit, incremental when it was
    materialised before), refit the demo's mlp inside ``use_store`` and compare it with the fitted one."""
    import strategies.features as F
    from harness._bars import home_store
    from market_data.features import FeatureStore
    from strategies.ml import MLPParams, fit, load

    store = home_store()
    snap = store.resolve()
    t0 = time.perf_counter()
    commit = F.materialise(store, "mlp", snapshot=snap)
    mat_s = time.perf_counter() - t0
    m = FeatureStore(store).list("mlp")[0]
    bars = store.read("SPX")
    train = bars[:2500]
    with F.use_store(store) as usage:
        model = fit(train, MLPParams(), seed=0)
    if usage.stored == 0:
        raise RuntimeError(f"the mlp fit did not read the materialised features: {usage.to_dict()}")
    line = (f"mlp features materialised from snapshot {m.source_snapshot} as commit "
            f"{commit} ({m.rows} bars x {m.symbols} symbols x 9, {'incremental' if m.incremental else 'full'}, "
            f"{mat_s:.1f}s); the mlp fit read them ({usage.stored} read(s) from the store, {usage.computed} "
            "computed)")
    folder = ctx.get("mlp_model")
    if folder is not None:
        before = load(folder)
        same = model.same_weights(before)
        if not same:
            raise RuntimeError("the mlp fitted from the materialised features differs from the one fitted on "
                               "features computed on the fly")
        line += "; the same weights as the fit on features computed on the fly"
    return line
