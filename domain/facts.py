"""Facts: what IB said, and what a client asked of IB, as values.

A fact is a frozen value handed whole from the edge (the recorder, a tape replay, a Flex
statement) through the trail service to the order it is about, which applies it through one
dispatch (``Order.record``). Facts are never refused: a fact that breaks the expected state
machine is recorded with an anomaly. Commands (place, submit, cancel, modify, deny) are the
service's own methods and may be refused.

The recording time is not part of a fact: the service stamps it from its injected clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec


class RequestKind(enum.StrEnum):
    """What a client sent IB about an order. An error's meaning depends on which request it
    answers: 201 answering a new order rejects it, answering a modify refuses only the modify
    (the order keeps working), and 10147/10148 answer a cancel."""

    PLACE = "place"
    MODIFY = "modify"
    CANCEL = "cancel"
    GLOBAL_CANCEL = "global_cancel"


class Origin(enum.StrEnum):
    """Who put an order into the world, as far as the record can tell."""

    # Placed through ordertrail's own engine (our client order id in orderRef).
    PLACED = "placed"
    # ordertrail's dry run: never sent to IB.
    DRY_RUN = "dry_run"
    # Sent by a program sharing ordertrail's IB connection, or by another API client (a
    # clientId other than 0 placed it).
    API = "api"
    # Placed by hand in TWS (clientId 0, orderId 0 or negative).
    MANUAL = "manual"
    # IB reported it and nothing tells who placed it.
    DISCOVERED = "discovered"
    # Learned from a Flex statement.
    FLEX = "flex"


@dataclass(frozen=True, slots=True)
class OrderObserved:
    """IB (or a statement, or a request seen leaving the client) told us an order exists.
    Creates the order when the store has never seen it; otherwise changes nothing."""

    contract: ContractRef
    spec: OrderSpec
    origin: Origin
    perm_id: int | None = None
    client_order_id: str | None = None
    # An order seen leaving the client before IB gave it a permId: "clientId:orderId@time".
    sent_as: str | None = None
    parent_key: str | None = None
    group_id: str | None = None
    ts_event: datetime | None = None
    provenance: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """A placeOrder, cancelOrder or reqGlobalCancel as it left the client — ordertrail's own or
    a program sharing the same connection. ``spec`` carries the terms of a place or modify."""

    kind: RequestKind
    client_id: int
    order_id: int
    spec: OrderSpec | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """orderStatus (or a completedOrder's final status), raw."""

    raw_status: str
    filled: Decimal | None = None
    remaining: Decimal | None = None
    avg_fill_price: Decimal | None = None
    last_fill_price: Decimal | None = None
    why_held: str = ""
    perm_id: int | None = None
    mkt_cap_price: Decimal | None = None
    ts_event: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenOrderReport:
    """openOrder: the order's terms as IB now holds them, and the identifiers it carries."""

    spec: OrderSpec
    perm_id: int | None = None
    client_id: int | None = None
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """execDetails (or a statement's execution row, with its raw attributes as provenance)."""

    execution: Execution
    provenance: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CommissionReported:
    """commissionReport: matched to its execution by execId only (it carries no order id)."""

    report: CommissionReport


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """IB's error message whose reqId names this order."""

    code: int
    message: str
    advanced_reject: str | None = None
    ts_event: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExecutionBust:
    """IB cancelled an execution after the fact (a Flex ``TradeCancel`` row)."""

    exec_id: str
    reason: str
    ts_event: datetime | None = None
    provenance: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AnomalyFound:
    """A source said something about the order that no real order can be (a statement's fill
    dated year 1, a negative stock price, one execId used for two different fills): recorded as
    said elsewhere, and flagged here, never silently mended."""

    kind: str
    expected: str
    received: str
    ts_event: datetime | None = None


OrderFact = (
    OutboundRequest
    | StatusReport
    | OpenOrderReport
    | ExecutionReport
    | CommissionReported
    | ErrorReport
    | ExecutionBust
    | AnomalyFound
)
"""A fact about one existing order (``OrderObserved`` creates one)."""


@dataclass(frozen=True, slots=True)
class SessionError:
    """An IB message about no order: connectivity (1100/1101/1102), farm status (2103–2110,
    2157/2158), 326 client id in use, 502/504 not connected — or an error whose reqId names
    no order this store can ever know (a cancel of an id IB does not know, 10147)."""

    code: int
    message: str
    req_id: int
    client_id: int
    advanced_reject: str | None = None
    ts_event: datetime | None = None


__all__ = [
    "AnomalyFound",
    "CommissionReported",
    "ErrorReport",
    "ExecutionBust",
    "ExecutionReport",
    "OpenOrderReport",
    "OrderFact",
    "OrderObserved",
    "Origin",
    "OutboundRequest",
    "RequestKind",
    "SessionError",
    "StatusReport",
]
