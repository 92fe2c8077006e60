"""The events of an order. Past tense; each carries ``ts_event`` (IB's time, when IB gave one)
and the recording time (eventsourcing's ``timestamp``, injected: see ``ts_recorded``).

Applying an event only assigns state: the decision was taken by the command that triggered it.
``fold`` is the single apply function shared by the aggregate, the fast rebuild and the tests.

The class names are stored as topics in the event log: renaming one breaks stored history
(docs/adr/0003-event-topics.md).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate

from ordertrail.domain.facts import RequestKind
from ordertrail.domain.state import ZERO, OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderSpec,
    exec_base_id,
)


class OrderEvent(Aggregate.Event):
    ts_event: datetime | None

    @property
    def ts_recorded(self) -> datetime:
        return self.timestamp

    def apply(self, aggregate: Any) -> None:
        self.fold(aggregate.state)

    def fold(self, s: OrderState) -> None:
        raise NotImplementedError


class OrderCreated(Aggregate.Created):
    """Our intent to trade (origin "placed" or "dry_run"), or an order learned from IB that we did
    not place (origin "discovered", "manual" or "flex")."""

    ts_event: datetime | None
    order_key: str
    client_order_id: str | None
    perm_id: int | None
    origin: str
    contract: ContractRef
    spec: OrderSpec
    status: OrderStatus
    parent_key: str | None
    group_id: str | None
    # Where the order was learned (a Flex statement's raw attributes, a tape position, ...).
    provenance: dict[str, str] | None

    @property
    def ts_recorded(self) -> datetime:
        return self.timestamp

    def apply(self, aggregate: Any) -> None:
        aggregate.state = self.new_state()

    def new_state(self) -> OrderState:
        # Positional, in OrderState's field order: a rebuild makes one state per order, and
        # keyword arguments cost it a third more than the state's own construction.
        return OrderState(
            self.order_key,
            self.client_order_id,
            self.perm_id,
            self.origin,
            self.contract,
            self.spec,
            self.status,
            self.parent_key,
            self.group_id,
            self.timestamp,  # created_at
            self.timestamp,  # updated_at
        )


class SubmissionRequested(OrderEvent):
    """We are about to hand the order to IB under this session's (clientId, orderId)."""

    client_id: int
    order_id: int
    status: OrderStatus
    # Which trading mode the RiskGate approved it in ("paper", "live", "dry_run"); None in events
    # recorded before the mode was kept.
    mode: str | None

    def fold(self, s: OrderState) -> None:
        s.status = self.status
        s.mode = self.mode
        if (self.client_id, self.order_id) not in s.aliases:
            s.aliases.append((self.client_id, self.order_id))
        s.updated_at = self.timestamp


class RequestSent(OrderEvent):
    """A placeOrder, modify or cancelOrder for this order left the client (ordertrail's own, or
    a program sharing its IB connection). IB's errors are read against the request they answer."""

    kind: RequestKind
    client_id: int
    order_id: int
    spec: OrderSpec | None
    status: OrderStatus

    def fold(self, s: OrderState) -> None:
        s.status = self.status
        s.last_request = self.kind
        s.requests += 1
        alias = (self.client_id, self.order_id)
        if self.order_id and alias not in s.aliases:
            s.aliases.append(alias)
        if self.kind is RequestKind.MODIFY and self.spec is not None:
            s.pending_modification = self.spec
        elif self.kind in (RequestKind.CANCEL, RequestKind.GLOBAL_CANCEL):
            s.cancel_requested = True
        s.updated_at = self.timestamp


class RiskDenied(OrderEvent):
    rule: str
    reason: str
    status: OrderStatus

    def fold(self, s: OrderState) -> None:
        s.status = self.status
        s.denial = f"{self.rule}: {self.reason}"
        s.updated_at = self.timestamp


class CancelRequested(OrderEvent):
    def fold(self, s: OrderState) -> None:
        s.cancel_requested = True
        s.updated_at = self.timestamp


class CancelRefused(OrderEvent):
    """Our cancel did not happen: an error answered it (161, 10147, 10148), or IB put the order
    from PendingCancel back to work (code 0). The order carries on as IB reports it."""

    code: int

    def fold(self, s: OrderState) -> None:
        s.cancel_requested = False
        s.updated_at = self.timestamp


class ModificationRequested(OrderEvent):
    spec: OrderSpec

    def fold(self, s: OrderState) -> None:
        s.pending_modification = self.spec
        s.updated_at = self.timestamp


class ModificationAcknowledged(OrderEvent):
    """IB's openOrder shows the order with new terms: ours (a modify we asked for) or someone
    else's (changed by hand in TWS)."""

    spec: OrderSpec
    requested: bool

    def fold(self, s: OrderState) -> None:
        s.spec = self.spec
        s.pending_modification = None
        s.updated_at = self.timestamp


class ModificationRefused(OrderEvent):
    """An error answered our modify; the order keeps working on its old terms."""

    code: int

    def fold(self, s: OrderState) -> None:
        s.pending_modification = None
        s.modifications_refused += 1
        s.updated_at = self.timestamp


class IdentifiersBound(OrderEvent):
    """IB told us the order's permId, a (clientId, orderId) alias or the account we had not
    seen."""

    perm_id: int | None
    client_id: int | None
    order_id: int | None
    # The account IB placed the order in, when we sent it without one (IB's default account).
    account: str | None

    def fold(self, s: OrderState) -> None:
        if self.perm_id:
            s.perm_id = self.perm_id
        if self.account and not s.spec.account:
            s.spec = s.spec.in_account(self.account)
        if self.client_id is not None and self.order_id is not None:
            alias = (self.client_id, self.order_id)
            if alias not in s.aliases:
                s.aliases.append(alias)
        s.updated_at = self.timestamp


class StatusReported(OrderEvent):
    """IB's orderStatus, raw, plus the status the order moved to."""

    raw_status: str
    status: OrderStatus
    filled: Decimal | None
    remaining: Decimal | None
    avg_fill_price: Decimal | None
    last_fill_price: Decimal | None
    why_held: str
    perm_id: int | None
    mkt_cap_price: Decimal | None

    def report_key(self) -> tuple[object, ...]:
        return (self.raw_status, self.filled, self.remaining, self.avg_fill_price, self.why_held)

    def fold(self, s: OrderState) -> None:
        s.status = self.status
        s.last_report = (
            self.raw_status,
            self.filled,
            self.remaining,
            self.avg_fill_price,
            self.why_held,
        )
        s.ib_filled = self.filled
        s.ib_remaining = self.remaining
        s.ib_avg_fill_price = self.avg_fill_price
        s.why_held = self.why_held
        if self.perm_id:
            s.perm_id = self.perm_id
        s.updated_at = self.timestamp


class ExecutionRecorded(OrderEvent):
    execution: Execution
    status: OrderStatus
    # The source's raw attributes (a Flex row), kept because parsers change and IB's do not.
    provenance: dict[str, str] | None

    def fold(self, s: OrderState) -> None:
        x = self.execution
        s.executions[exec_base_id(x.exec_id)] = x
        s.filled += x.shares
        s.notional += x.shares * x.price
        s.status = self.status
        s.updated_at = self.timestamp


class ExecutionCorrected(OrderEvent):
    """IB re-sent the execution with a higher execId suffix: it replaces the one it corrects."""

    execution: Execution
    replaces_exec_id: str
    status: OrderStatus
    provenance: dict[str, str] | None

    def fold(self, s: OrderState) -> None:
        x = self.execution
        old = s.executions[x.base_id]
        s.executions[x.base_id] = x
        s.filled += x.shares - old.shares
        s.notional += x.shares * x.price - old.shares * old.price
        if s.filled == ZERO:
            s.notional = ZERO
        s.status = self.status
        s.updated_at = self.timestamp


class ExecutionCancelled(OrderEvent):
    """IB cancelled (busted) an execution after the fact — a Flex ``TradeCancel`` row. The fill
    no longer counts; it stays in the history."""

    exec_id: str
    reason: str
    status: OrderStatus
    provenance: dict[str, str] | None

    def fold(self, s: OrderState) -> None:
        base = exec_base_id(self.exec_id)
        old = s.executions.pop(base, None)
        # A busted fill takes its commission with it (the statement reverses both).
        s.commissions.pop(base, None)
        if old is not None:
            s.filled -= old.shares
            s.notional -= old.shares * old.price
            if s.filled == ZERO:
                s.notional = ZERO
        s.cancelled_executions.append(self.exec_id)
        s.status = self.status
        s.updated_at = self.timestamp


class CommissionReported(OrderEvent):
    report: CommissionReport

    def fold(self, s: OrderState) -> None:
        s.commissions[exec_base_id(self.report.exec_id)] = self.report
        s.updated_at = self.timestamp


class ErrorReported(OrderEvent):
    """IB's error message about this order, and the status it left the order in."""

    code: int
    message: str
    advanced_reject: str | None
    status: OrderStatus
    # What the error did, read against the request it answered (ErrorEffect's value); None in
    # events recorded before errors were read that way.
    effect: str | None

    def fold(self, s: OrderState) -> None:
        s.last_error = (self.code, self.message)
        s.last_error_request = s.requests
        s.errors += 1
        s.status = self.status
        s.updated_at = self.timestamp


class AnomalyRecorded(OrderEvent):
    """A fact broke the expected state machine or an invariant: what was expected, what came."""

    kind: str
    expected: str
    received: str

    def fold(self, s: OrderState) -> None:
        s.anomalies.append(self.kind)
        s.updated_at = self.timestamp


ORDER_EVENT_TYPES: tuple[type[Aggregate.Event], ...] = (
    OrderCreated,
    SubmissionRequested,
    RequestSent,
    RiskDenied,
    CancelRequested,
    CancelRefused,
    ModificationRequested,
    ModificationAcknowledged,
    ModificationRefused,
    IdentifiersBound,
    StatusReported,
    ExecutionRecorded,
    ExecutionCorrected,
    ExecutionCancelled,
    CommissionReported,
    ErrorReported,
    AnomalyRecorded,
)
