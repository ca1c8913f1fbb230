"""Paper trading: the backtest's own strategy code and fill kernel, live, on a crash-safe ledger.

Public API: :func:`replay` and :class:`PaperResult` (the parity entry point), the broker
protocol (:class:`Broker`, :class:`Order`, :class:`Ack`, :class:`OrderReport`) and
:class:`SimBroker`, :class:`Ledger`, the feeds (:class:`ReplayFeed`), the config classes
:class:`PaperConfig` (``[paper]``) and :class:`RiskLimits` (``[paper.risk]``).
See the README section "Paper trading".
"""

from harness.paper._broker import (
           Account,
           Ack,
           Bar,
           Broker,
           FillReport,
           Order,
           OrderReport,
           client_order_id,
)
from harness.paper._core import ACTIVE, HALTED, REDUCING, Runner
from harness.paper._feed import ReplayFeed, StoreFeed
from harness.paper._ledger import Ledger, ledger_path
from harness.paper._replay import PaperResult, replay
from harness.paper._risk import PaperConfig, RiskLimits
from harness.paper._runner import PaperRunner, shadow_record
from harness.paper._sim import SimBroker

__all__ = ["replay", "PaperResult", "Broker", "Order", "Ack", "OrderReport", "FillReport", "Account", "Bar",
           "client_order_id", "SimBroker", "Ledger", "ledger_path", "ReplayFeed", "StoreFeed", "PaperRunner", "shadow_record", "PaperConfig", "RiskLimits",
           "Runner", "ACTIVE", "REDUCING", "HALTED"]
