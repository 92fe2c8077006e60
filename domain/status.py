"""Order statuses: IB's own, plus the few states that exist only on our side."""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    # Ours: the order exists as our intent but IB has not been asked yet.
    NEW = "New"
    # Ours: the RiskGate refused it; it never left the building.
    RISK_DENIED = "RiskDenied"
    # Ours: learned from IB (another client, TWS by hand, a Flex statement) before any status.
    DISCOVERED = "Discovered"
    # IB's statuses, spelled as IB sends them.
    PENDING_SUBMIT = "PendingSubmit"
    API_PENDING = "ApiPending"
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    PENDING_CANCEL = "PendingCancel"
    API_CANCELLED = "ApiCancelled"
    CANCELLED = "Cancelled"
    FILLED = "Filled"
    INACTIVE = "Inactive"

    @property
    def is_done(self) -> bool:
        """No further action expected (IB may still surprise us: see the machine)."""
        return self in DONE

    @property
    def is_working(self) -> bool:
        return self in WORKING


IB_STATUSES: frozenset[str] = frozenset(
    s.value
    for s in OrderStatus
    if s not in (OrderStatus.NEW, OrderStatus.RISK_DENIED, OrderStatus.DISCOVERED)
)

# ib_async invents these locally; they are not statuses IB sent and must never be recorded as
# such (ValidationError is set on a warning that carries an order id: the order is still live).
IB_ASYNC_LOCAL_STATUSES: frozenset[str] = frozenset({"ValidationError", "ApiUpdate"})

WORKING = frozenset(
    {
        OrderStatus.PENDING_SUBMIT,
        OrderStatus.API_PENDING,
        OrderStatus.PRE_SUBMITTED,
        OrderStatus.SUBMITTED,
        OrderStatus.PENDING_CANCEL,
    }
)
DONE = frozenset(
    {
        OrderStatus.RISK_DENIED,
        OrderStatus.API_CANCELLED,
        OrderStatus.CANCELLED,
        OrderStatus.FILLED,
        OrderStatus.INACTIVE,
    }
)
