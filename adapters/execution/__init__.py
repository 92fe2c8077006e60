"""The execution layer: one path for every order — command → RiskGate → Order aggregate
(events) → a BrokerGateway (IB through ib_async, the TWS simulator, or dry run).

See docs/execution.md and ADR 0006.
"""

from ordertrail.adapters.execution.dry_run import DryRunGateway
from ordertrail.adapters.execution.engine import ExecutionSettings, OrderExecutionEngine
from ordertrail.adapters.execution.exposure import TrailExposure
from ordertrail.adapters.execution.manager import (
    MarketSnapshot,
    OrderManager,
    Progress,
    StrategyReport,
)
from ordertrail.adapters.ib.gateway import IbGateway

__all__ = [
    "DryRunGateway",
    "ExecutionSettings",
    "IbGateway",
    "MarketSnapshot",
    "OrderExecutionEngine",
    "OrderManager",
    "Progress",
    "StrategyReport",
    "TrailExposure",
]
