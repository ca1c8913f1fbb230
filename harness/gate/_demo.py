"""The gate step of ``harness demo``: the demo deployment's decision, and a snooped search refused."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """Show the gate decision the deploy step recorded for ``demo-spx-sma`` (check by check),
    then evaluate one seed of the calibration's snooping case: the best of 100 no-edge
    candidates, which a naive "higher Sharpe wins" comparison would promote."""
    from harness.gate import GatePolicy, evaluate, latest_decision
    from harness.gate._calibration import STATISTICAL_CHECKS, simulate
    from harness.registry import Registry

    parts = []
    reg = Registry.open()
    if any(d.name == "demo-spx-sma" for d in reg.deployments()):
        d = latest_decision("demo-spx-sma", registry=reg)
        if d is not None:
            checks = ", ".join(f"{c.name} {'ok' if c.passed else ('pending' if c.pending else 'FAIL')}"
                               for c in d.checks)
            parts.append(f"demo-spx-sma v{d.version}: {d.outcome} ({checks})")
    snoop = evaluate(simulate("snooping", 0), GatePolicy(checks=STATISTICAL_CHECKS))
    dsr, spa = snoop.check("deflated_sharpe"), snoop.check("reality_check")
    parts.append(f"best of 100 no-edge candidates: {snoop.outcome} (DSR {dsr.value:.2f} < 0.95, "
                 f"SPA p {spa.value:.2f}; its holdout Sharpe gain {snoop.check('oos_improvement').value:+.2f})")
    return "; ".join(parts)
