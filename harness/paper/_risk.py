"""Pre-trade risk controls and the runner's trading state (ACTIVE, REDUCING, HALTED).

``RiskLimits`` is the ``[paper.risk]`` table of a deployment spec:

* per order, before it is sent: ``max_weight`` (|target weight| of a symbol),
  ``max_gross_leverage`` (sum of |target weights| after the bar's orders),
  ``max_order_notional`` (|target units - units held| x last close), ``max_orders_per_bar``
  (orders beyond it are denied, position-reducing orders first). A denied order is not
  sent; the target is remembered, so it is not retried until the strategy's target changes.
* after each bar, on the ledger's equity: ``max_daily_loss`` (fraction of the equity at
  the end of the previous UTC day) and ``max_drawdown`` (fraction below the running peak).
  A breach moves the runner to ``on_breach``: ``REDUCING`` (only orders that reduce a
  position pass) or ``HALTED`` (no new orders; cancels still allowed).

Every denial and every state change is a row of the ledger's ``risk_events``; state
changes are also audited as ``risk_state``. The state is part of the runner state, so it
survives restarts; a halted runner never resumes by itself (``harness paper resume --by``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from market_data.config import Config, param

__all__ = ["RiskLimits", "PaperConfig", "RiskEngine"]

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
_DAY_NS = 86_400_000_000_000


class RiskLimits(Config):
    """Pre-trade limits and loss limits of a paper runner (``[paper.risk]``); None switches one off."""

    max_weight: float | None = param(None, optional=True, low=0.0, doc="largest |target weight| of one symbol")
    max_gross_leverage: float | None = param(None, optional=True, low=0.0,
                                             doc="largest sum of |target weights| after a bar's orders")
    max_order_notional: float | None = param(None, optional=True, low=0.0,
                                             doc="largest |units to trade| x last close of one order, in cash")
    max_orders_per_bar: int | None = param(None, optional=True, low=0, doc="most orders sent in one bar")
    max_daily_loss: float | None = param(None, optional=True, low=0.0, high=1.0,
                                         doc="loss since the previous UTC day's close, as a fraction of it")
    max_drawdown: float | None = param(None, optional=True, low=0.0, high=1.0,
                                       doc="equity below its running peak, as a fraction of the peak")
    on_breach: str = param("halted", choices=("reducing", "halted"),
                           doc="state after a loss-limit breach: reducing (only reducing orders) or halted")


class PaperConfig(Config):
    """The ``[paper]`` table of a deployment spec (``risk`` is its ``[paper.risk]`` sub-table)."""

    feed: str = param("store", choices=("store", "replay"), doc="where bars come from")
    poll_interval: float = param(1.0, low=0.0, doc="seconds between polls of the store for new commits")
    stale_after: float | None = param(None, optional=True, low=0.0,
                                      doc="seconds without a new bar before the feed reports stale data")
    digest_every: int | None = param(None, optional=True, low=1,
                                     doc="bars between ledger_digest audit records (None: each trading day)")
    shadow: bool = param(False, doc="also run the challenger into a shadow ledger (no broker orders)")
    risk: Any = param(None, optional=True, doc="the [paper.risk] limits (RiskLimits or a table)")

    def check(self) -> None:
        r = self.risk
        if r is None:
            object.__setattr__(self, "risk", RiskLimits())
        elif isinstance(r, dict):
            object.__setattr__(self, "risk", RiskLimits.from_dict(r))
        elif not isinstance(r, RiskLimits):
            self.fail("risk", f"must be a [paper.risk] table or RiskLimits, got {type(r).__name__}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["risk"] = self.risk.to_dict()
        return d


class RiskEngine:
    """The risk checks of one runner and its persisted state (see the module docstring)."""

    def __init__(self, limits: RiskLimits | None, state: dict[str, Any], *, init_equity: float | None = None) -> None:
        self.limits = limits if limits is not None else RiskLimits()
        self.state: str = state.get("risk_state", ACTIVE)
        self.reason: str = state.get("risk_reason", "")
        self.day: int | None = state.get("risk_day")
        self.day_start: float | None = state.get("risk_day_start")
        self.prev_close: float | None = state.get("risk_prev_equity", init_equity)
        self.peak: float | None = state.get("risk_peak", init_equity)

    def to_state(self) -> dict[str, Any]:
        return {"risk_state": self.state, "risk_reason": self.reason, "risk_day": self.day,
                "risk_day_start": self.day_start, "risk_prev_equity": self.prev_close, "risk_peak": self.peak}

    def set_state(self, new: str, reason: str, *, bar_time: int | None = None, by: str = "harness.paper",
                  detail: dict | None = None) -> dict | None:
        """Change the state; returns the event to record (None when unchanged)."""
        if new == self.state:
            return None
        old = self.state
        self.state = new
        self.reason = reason
        return {"kind": "state", "bar_time": bar_time, "state": new, "reason": reason,
                "detail": {"from": old, "to": new, "by": by, **(detail or {})}}

    def pre_trade(self, due, target, pos, px, equity, symbols, bar_time):
        """Split the due orders ``[(col, weight)]`` into the allowed ones and denial events."""
        lim = self.limits
        allowed, events = [], []

        def deny(n, x, rule, why):
            events.append({"kind": "denial", "bar_time": bar_time, "state": self.state,
                           "reason": f"{rule}: {why}", "detail": {"symbol": symbols[n], "target_weight": x,
                                                                  "rule": rule}})

        def reduces(n, x):
            cur = pos[n]
            new_units = x * equity / px[n] if px[n] == px[n] and px[n] > 0 else np.nan
            if np.isnan(new_units):
                return False
            return abs(new_units) <= abs(cur) and (new_units == 0 or cur == 0 or (new_units > 0) == (cur > 0))

        gross = float(np.nansum(np.abs(target)))
        cand = sorted(due, key=lambda nx: (not reduces(*nx), nx[0]))  # reducing orders first
        for n, x in cand:
            if self.state == HALTED:
                deny(n, x, "halted", f"the runner is HALTED ({self.reason})")
                continue
            if self.state == REDUCING and not reduces(n, x):
                deny(n, x, "reducing", f"only position-reducing orders while REDUCING ({self.reason})")
                continue
            if lim.max_weight is not None and abs(x) > lim.max_weight:
                deny(n, x, "max_weight", f"|weight| {abs(x):.6g} of {symbols[n]} > {lim.max_weight:.6g}")
                continue
            new_gross = gross - abs(target[n]) + abs(x)
            if (lim.max_gross_leverage is not None and new_gross > lim.max_gross_leverage * (1 + 1e-12)
                    and new_gross > gross):
                deny(n, x, "max_gross_leverage", f"gross leverage would be {new_gross:.6g} > "
                     f"{lim.max_gross_leverage:.6g}")
                continue
            if lim.max_order_notional is not None and px[n] == px[n]:
                notional = abs(x * equity - pos[n] * px[n])
                if notional > lim.max_order_notional:
                    deny(n, x, "max_order_notional", f"order notional {notional:.2f} of {symbols[n]} > "
                         f"{lim.max_order_notional:.2f}")
                    continue
            if lim.max_orders_per_bar is not None and len(allowed) >= lim.max_orders_per_bar:
                deny(n, x, "max_orders_per_bar", f"already {len(allowed)} order(s) this bar "
                     f"(limit {lim.max_orders_per_bar})")
                continue
            allowed.append((n, x))
            gross = new_gross
        allowed.sort(key=lambda nx: nx[0])
        return allowed, events

    def after_bar(self, bar_time: int, equity: float) -> list[dict]:
        """Loss limits on the equity at this bar's close; returns state-change events."""
        lim = self.limits
        day = bar_time // _DAY_NS
        if self.day is None:
            self.day = day
            self.day_start = self.prev_close if self.prev_close is not None else equity
        elif day != self.day:
            self.day = day
            self.day_start = self.prev_close if self.prev_close is not None else equity
        self.prev_close = equity
        self.peak = equity if self.peak is None else max(self.peak, equity)
        events = []
        if self.state == HALTED:
            return events
        target = HALTED if lim.on_breach == "halted" else REDUCING
        why = None
        if lim.max_daily_loss is not None and self.day_start and self.day_start > 0:
            loss = 1.0 - equity / self.day_start
            if loss > lim.max_daily_loss:
                why = f"max_daily_loss: lost {loss:.4%} today > {lim.max_daily_loss:.4%}"
        if why is None and lim.max_drawdown is not None and self.peak and self.peak > 0:
            dd = 1.0 - equity / self.peak
            if dd > lim.max_drawdown:
                why = f"max_drawdown: {dd:.4%} below the peak > {lim.max_drawdown:.4%}"
        if why is not None and self.state != target and not (self.state == REDUCING and target == REDUCING):
            ev = self.set_state(target, why, bar_time=bar_time)
            if ev:
                events.append(ev)
        return events
