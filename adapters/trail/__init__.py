"""The trail service: the one front door through which every fact and command reaches an order
(live recording, tape replay, Flex import, dry runs, the execution engine)."""

from __future__ import annotations

from ordertrail.adapters.trail.service import (
    AggregateNotFoundError,
    BatchNotSaved,
    FactKey,
    OrderNotFound,
    OrderTrail,
    utc_now,
)

__all__ = [
    "AggregateNotFoundError",
    "BatchNotSaved",
    "FactKey",
    "OrderNotFound",
    "OrderTrail",
    "utc_now",
]
