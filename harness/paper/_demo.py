"""The paper-trading step of ``harness demo``."""

from __future__ import annotations


def demo_step(ctx: dict) -> str:
    """Replay 2018 of the S&P 500 sample through the paper runner with ``demo-spx-sma``'s champion
    (a scratch ledger) and compare it with the champion's backtest, order by order."""
    from harness.errors import HarnessError
    from harness.paper._parity import parity

    try:
        rep = parity("demo-spx-sma", start="2018-01-01", end="2018-12-31")
    except HarnessError as exc:
        return f"skipped: {exc}"
    orders = next((line for line in rep["lines"] if line.startswith("orders:")), "")
    return f"{orders}; {rep['lines'][-1]} (scratch ledger {rep['ledger']})"
