"""ordertrail: an event-sourced record of every Interactive Brokers order, built from what IB
actually said. The notebook's front door (docs/api.md)::

    import ordertrail

    audit = ordertrail.Audit()                      # ./ordertrail-data, or $ORDERTRAIL_DATA
    audit.view("orders", symbol="AAPL", since="2026-12-04")   # polars; .to_pandas() with [pandas]
    recorder = ordertrail.connect(ib)               # IB's facts recorded as they come
    engine = ordertrail.engine(recorder)            # orders through the RiskGate

Everything is imported on first use, so ``import ordertrail.domain`` stays as light (and as
pure) as the domain itself.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ib_async import IB

    from ordertrail.adapters.execution.engine import OrderExecutionEngine
    from ordertrail.adapters.ib.recorder import IbRecorder
    from ordertrail.domain.risk import RiskPolicy
    from ordertrail.projections.api import Audit, Clock
    from ordertrail.projections.filters import Filters

__version__ = _version("ordertrail")
__all__ = ["Audit", "Clock", "Filters", "StoreConfig", "__version__", "connect", "engine"]

_LAZY = {
    "Audit": "ordertrail.projections.api",
    "Clock": "ordertrail.projections.api",
    "Filters": "ordertrail.projections.filters",
    "StoreConfig": "ordertrail.adapters.store.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ordertrail' has no attribute {name!r}")


def connect(ib: IB, *, data: str | None = None, store: str | None = None) -> IbRecorder:
    """Record everything IB says on ``ib`` (connected or not yet) into the store at ``data``
    (default ./ordertrail-data or $ORDERTRAIL_DATA) or the PostgreSQL ``store``."""
    from ordertrail.adapters.ib.recorder import IbRecorder
    from ordertrail.adapters.store.config import StoreConfig
    from ordertrail.adapters.trail import OrderTrail

    return IbRecorder(ib, OrderTrail(StoreConfig.resolve(data, store))).attach()


def engine(recorder: IbRecorder, policy: RiskPolicy | None = None) -> OrderExecutionEngine:
    """The execution engine on the recorder's connection and store: every order it places
    passes the RiskGate (``policy``, default ``RiskPolicy()``) and is recorded first."""
    from ordertrail.adapters.execution import IbGateway, OrderExecutionEngine
    from ordertrail.domain.risk import RiskPolicy

    gateway = IbGateway(recorder.ib, recorder.trail)
    return OrderExecutionEngine(recorder.trail, gateway, policy=policy or RiskPolicy())
