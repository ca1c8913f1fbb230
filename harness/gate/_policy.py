"""``GatePolicy``: the ``[gate]`` table of a deployment spec.

Frozen, keyword-only, unknown keys rejected with a "did you mean" hint
(``market_data.config.Config``). Every threshold is a flat key named after what it
bounds; the defaults and the reasons for them are in the README ("Promotion gate").
"""

from __future__ import annotations

import difflib
import re
import warnings
from typing import Any

from market_data.config import Config, param

__all__ = ["GatePolicy", "DEFAULT_CHECKS", "EmptyGateWarning", "parse_duration"]

#: The checks a policy runs unless it names its own: the statistical four, the risk
#: limits whose stats every retrain produces, and the look-ahead guard.
DEFAULT_CHECKS: tuple[str, ...] = (
    "oos_improvement",
    "deflated_sharpe",
    "pbo",
    "reality_check",
    "max_drawdown",
    "max_leverage",
    "min_trades",
    "lookahead",
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class EmptyGateWarning(UserWarning):
    """A gate policy with no checks: every decision passes."""


def parse_duration(text: Any, *, where: str = "duration") -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"72h"``, ``"7d"``, ``"2w"`` or a plain number of seconds."""
    from harness.errors import ParamError

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise ParamError(f"{where} must be > 0 seconds, got {text!r}")
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not m:
        raise ParamError(f"{where} must be a duration such as '72h', '7d' or '30m' (or seconds), got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if value <= 0:
        raise ParamError(f"{where} must be > 0, got {text!r}")
    return value


class GatePolicy(Config):
    """What the promotion gate checks and how strictly (the ``[gate]`` table).

    ``mode``: ``auto`` (a passing decision promotes at once) or ``governed`` (it waits
    for ``harness approve``). ``checks``: names from :func:`harness.gate.available`; an
    empty list always passes (warned about loudly).
    """

    mode: str = param("auto", choices=("auto", "governed"), doc="auto: promote on pass; governed: pending_approval")
    checks: tuple = param(DEFAULT_CHECKS, doc="check names to run (harness.gate.available())")
    alpha: float = param(0.05, low=1e-6, high=0.5, doc="significance level of oos_improvement and reality_check")
    approval_ttl: str = param("72h", doc="how long a pending_approval decision may be approved ('72h', '7d', seconds)")
    allow_self_approval: bool = param(False, doc="let the person who deployed/changed the spec approve (audited)")
    seed: int = param(0, low=0, high=2**63 - 1, doc="seed of every bootstrap (same inputs + seed = same p-values)")
    bootstrap_reps: int = param(1000, low=100, high=1_000_000, doc="resamples of the oos_improvement and SPA bootstraps")
    min_sharpe_gain: float = param(0.1, low=-10.0, high=10.0,
                                   doc="oos_improvement: least annualised Sharpe gain over the champion")
    min_dsr: float = param(0.95, low=0.0, high=1.0, doc="deflated_sharpe: least deflated Sharpe ratio")
    max_pbo: float = param(0.3, low=0.0, high=1.0, doc="pbo: largest probability of backtest overfitting")
    pbo_blocks: int = param(16, low=2, high=64, doc="pbo: CSCV blocks (even)")
    max_drawdown: float = param(0.3, low=0.0, high=1.0, doc="max_drawdown: largest holdout drawdown (fraction)")
    min_trades: int = param(10, low=0, high=10**9, doc="min_trades: fewest trades on the holdout")
    max_turnover: float = param(50.0, low=0.0, high=1e9, doc="max_turnover: most traded notional per year / equity")
    max_leverage: float = param(1.0, low=0.0, high=1000.0, doc="max_leverage: largest gross exposure sum |w|")
    min_positive_folds: float = param(0.5, low=0.0, high=1.0,
                                      doc="fold_stability: least share of folds with a positive return")
    min_shadow_bars: int = param(20, low=1, high=10**9, doc="shadow: paper shadow bars needed before deciding")
    max_tracking_error: float = param(0.02, low=0.0, high=10.0,
                                      doc="shadow: largest annualised tracking error, paper vs backtest")

    def __post_init__(self) -> None:
        from harness.errors import ParamError

        checks = self.checks
        if isinstance(checks, str):
            raise ParamError(f"GatePolicy.checks must be a list of check names, got the string {checks!r}")
        try:
            checks = tuple(checks)
        except TypeError:
            raise ParamError(f"GatePolicy.checks must be a list of check names, got {checks!r}") from None
        object.__setattr__(self, "checks", checks)
        ttl = self.approval_ttl
        if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
            parse_duration(ttl, where="GatePolicy.approval_ttl")
            object.__setattr__(self, "approval_ttl", f"{ttl:g}s")
        super().__post_init__()

    def check(self) -> None:
        from harness.gate.checks import available

        names = available()
        seen: set[str] = set()
        for c in self.checks:
            if not isinstance(c, str):
                self.fail("checks", f"must hold check names (strings), got {c!r}")
            if c not in names:
                close = difflib.get_close_matches(c, names, n=2)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                self.fail("checks", f"names an unknown check {c!r}{hint} (available: {', '.join(names)})")
            if c in seen:
                self.fail("checks", f"names {c!r} twice")
            seen.add(c)
        parse_duration(self.approval_ttl, where="GatePolicy.approval_ttl")
        if self.pbo_blocks % 2:
            self.fail("pbo_blocks", f"must be even, got {self.pbo_blocks}")
        if not self.checks:
            warn_empty()

    @property
    def approval_ttl_seconds(self) -> float:
        return parse_duration(self.approval_ttl, where="GatePolicy.approval_ttl")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["checks"] = list(self.checks)
        return d


def warn_empty() -> None:
    warnings.warn("GatePolicy has an EMPTY checks list: every decision passes without any evidence being "
                  "checked. Use this for tests only.", EmptyGateWarning, stacklevel=4)
