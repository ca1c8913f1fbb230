"""The deployment step of ``harness demo``: deploy the shipped SMA spec, then a cron-style check."""

from __future__ import annotations

from pathlib import Path


def demo_step(ctx: dict) -> str:
    """Deploy ``experiments/deployments/spx_sma.toml`` (as ``demo-spx-sma``, fewer trials in fast
    mode) on the home store, hand it to the gate, then run ``--if-regime-changed``."""
    from harness.config import paths
    from harness.registry._demo import attributions_line
    from harness.retrain._flow import deploy, trigger

    src = Path(__file__).resolve().parents[2] / "experiments" / "deployments" / "spx_sma.toml"
    text = src.read_text().replace('name = "spx-sma"', 'name = "demo-spx-sma"')
    if ctx.get("fast", True):
        text = text.replace("trials = 40", "trials = 15")
    spec = paths().ensure().home / "demo-spx-sma.toml"
    if not spec.exists() or spec.read_text() != text:
        spec.write_text(text)
    out = deploy(spec, by="harness-demo")
    check = trigger("demo-spx-sma", if_regime_changed=True)
    ctx["deployment"] = out
    if out.status == "unchanged":
        head = out.messages[0]
    else:
        res = out.result
        ch = res.challenger
        head = (f"deployed demo-spx-sma: {res.n_trials} trials on {res.window.describe()['requested']}, "
                + (f"challenger v{ch.version.version} {ch.params}" if ch else res.outcome)
                + (f" ({attributions_line(ch.version)})" if ch and ch.version.attributions is not None else "")
                + (f", gate {out.decision.outcome}" if out.decision is not None else ""))
    return f"{head}; then: {check.messages[-1]}"
