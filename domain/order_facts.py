"""How an order applies each fact from IB: one handler per fact type, reached through
``Order.record``'s single dispatch (``FACT_HANDLERS``).

Each handler decides (with the compiled state table) and triggers events that only carry the
decision. A handler returns False when the fact is a repeat that changes nothing: IB sends the
same orderStatus two or three times, re-sends openOrder after partial fills, and the same
execution or commission report can come more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ordertrail.domain import events as ev
from ordertrail.domain.facts import (
    AnomalyFound,
    CommissionReported,
    ErrorReport,
    ExecutionBust,
    ExecutionReport,
    OpenOrderReport,
    OutboundRequest,
    RequestKind,
    StatusReport,
)
from ordertrail.domain.ib_errors import REJECTION_CODES, ErrorEffect, effect_of
from ordertrail.domain.machine import WORKING, Trigger, outcome
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import IB_STATUSES, OrderStatus
from ordertrail.domain.values import OrderSpec, exec_base_id, exec_revision

if TYPE_CHECKING:
    from ordertrail.domain.order import Order

S = OrderStatus


def _revision_rank(revision: str) -> tuple[int, str]:
    return (int(revision), "") if revision.isdigit() else (-1, revision)


def _same_terms(a: OrderSpec, b: OrderSpec) -> bool:
    """Whether two specs agree on what a modify can change and openOrder reports back."""
    return (
        a.quantity == b.quantity and a.limit_price == b.limit_price and a.stop_price == b.stop_price
    )


def answering(s: OrderState) -> RequestKind | None:
    """The request an error for this order answers: the last one sent that is still unanswered
    (a modify not yet acknowledged, a cancel not yet done), else the last one sent."""
    pending = [
        kind
        for kind, open_ in (
            (RequestKind.MODIFY, s.pending_modification is not None),
            (RequestKind.CANCEL, s.cancel_requested),
        )
        if open_
    ]
    if s.last_request in pending:
        return s.last_request
    return pending[0] if pending else s.last_request


def on_request(order: Order, f: OutboundRequest, ts: datetime) -> bool:
    s = order.state
    if f.kind is RequestKind.MODIFY and f.spec is not None and _same_terms(f.spec, s.spec):
        # ib_async re-sends the unchanged order when a program calls placeOrder on it again
        # (e.g. to transmit a bracket child): the wire shows it, but it asks for nothing new.
        spec: OrderSpec | None = None
    else:
        spec = f.spec
    dest = s.status
    if f.kind is RequestKind.PLACE and s.status is S.NEW:
        # Seen leaving the client: submitted, as our own SubmissionRequested records it.
        out = outcome(s.status, Trigger.SUBMIT)
        assert out is not None  # the machine submits from NEW
        dest = out.dest
    order.trigger_event(
        ev.RequestSent,
        timestamp=ts,
        ts_event=None,
        kind=f.kind,
        client_id=f.client_id,
        order_id=f.order_id,
        spec=spec,
        status=dest,
    )
    return True


# IB's status texts and the trigger each is: a status is looked up once per orderStatus.
_REPORTED = {raw: Trigger.for_status(S(raw)) for raw in IB_STATUSES}


def on_status(order: Order, f: StatusReport, ts: datetime) -> bool:
    s = order.state
    key = (f.raw_status, f.filled, f.remaining, f.avg_fill_price, f.why_held)
    if key == s.last_report:
        return False
    before = s.status
    trigger = _REPORTED.get(f.raw_status)
    if trigger is not None:
        out = outcome(before, trigger)
        assert out is not None  # facts have an edge from every state
        dest, anomaly = out.dest, out.anomaly
    else:
        # Not a status IB documents: keep it, say so, and leave the status where it was.
        dest, anomaly = before, "unknown_status"
    order.trigger_event(
        ev.StatusReported,
        timestamp=ts,
        ts_event=f.ts_event,
        raw_status=f.raw_status,
        status=dest,
        filled=f.filled,
        remaining=f.remaining,
        avg_fill_price=f.avg_fill_price,
        last_fill_price=f.last_fill_price,
        why_held=f.why_held,
        perm_id=f.perm_id if f.perm_id and f.perm_id != s.perm_id else None,
        mkt_cap_price=f.mkt_cap_price,
    )
    if anomaly:
        order.anomaly(anomaly, f"status {f.raw_status}", f.ts_event, ts, before=before)
    if before is S.PENDING_CANCEL and dest in (S.SUBMITTED, S.PRE_SUBMITTED) and s.cancel_requested:
        # IB took the order back to work without an error: the cancel did not happen.
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=f.ts_event, code=0)
    return True


def on_execution(order: Order, f: ExecutionReport, ts: datetime) -> bool:
    s = order.state
    x = f.execution
    current = s.executions.get(exec_base_id(x.exec_id))
    if current is not None and (
        current.exec_id == x.exec_id
        or _revision_rank(exec_revision(x.exec_id))
        <= _revision_rank(exec_revision(current.exec_id))
    ):
        # A repeat, or an older revision of a fill we already hold corrected: nothing changes.
        return False
    new_filled = s.filled + x.shares - (current.shares if current else 0)
    before = s.status
    # Quantity 0 on observed terms: IB gave none, so no fill can complete or overfill it.
    known_qty = s.spec.quantity > 0
    out = outcome(before, Trigger.FILL, known_qty and new_filled >= s.spec.quantity)
    assert out is not None
    if current is None:
        order.trigger_event(
            ev.ExecutionRecorded,
            timestamp=ts,
            ts_event=x.time,
            execution=x,
            status=out.dest,
            provenance=f.provenance,
        )
    else:
        order.trigger_event(
            ev.ExecutionCorrected,
            timestamp=ts,
            ts_event=x.time,
            execution=x,
            replaces_exec_id=current.exec_id,
            status=out.dest,
            provenance=f.provenance,
        )
    if out.anomaly:
        order.anomaly(out.anomaly, _received(f), x.time, ts, before=before)
    if known_qty and new_filled > s.spec.quantity:
        order.trigger_event(
            ev.AnomalyRecorded,
            timestamp=ts,
            ts_event=x.time,
            kind="overfill",
            expected=f"filled <= order quantity {s.spec.quantity}",
            received=f"{_received(f)} brings filled to {new_filled}",
        )
    if current is not None and before is S.FILLED and known_qty and new_filled < s.spec.quantity:
        # A correction took shares off an order IB had filled: it stays Filled (IB said so),
        # and the auditor is told, as for a busted fill.
        order.anomaly(
            "filled_order_lost_a_fill",
            f"{_received(f)} brings filled to {new_filled}",
            x.time,
            ts,
            before=before,
        )
    return True


def _received(f: ExecutionReport) -> str:
    # Written only when an anomaly needs it, not for every execution a replay records.
    x = f.execution
    return f"execution {x.exec_id} {x.shares}@{x.price}"


def on_bust(order: Order, f: ExecutionBust, ts: datetime) -> bool:
    """IB busted an execution (Flex ``TradeCancel``). Unknown or already cancelled: nothing."""
    s = order.state
    current = s.executions.get(exec_base_id(f.exec_id))
    if current is None:
        return False
    status = s.status
    lost_the_fill = status is S.FILLED and s.filled - current.shares < s.spec.quantity
    order.trigger_event(
        ev.ExecutionCancelled,
        timestamp=ts,
        ts_event=f.ts_event,
        exec_id=current.exec_id,
        reason=f.reason,
        status=status,
        provenance=f.provenance,
    )
    if lost_the_fill:
        # The fill that completed the order is gone; IB's statement says nothing of the
        # order's status, so it stays Filled and the auditor is told.
        order.anomaly(
            "filled_order_lost_a_fill",
            f"cancel of execution {f.exec_id}",
            f.ts_event,
            ts,
            before=status,
        )
    return True


def on_commission(order: Order, f: CommissionReported, ts: datetime) -> bool:
    report = f.report
    held = order.state.commissions.get(exec_base_id(report.exec_id))
    if held == report:
        return False
    if held is not None and _revision_rank(exec_revision(report.exec_id)) < _revision_rank(
        exec_revision(held.exec_id)
    ):
        # The report of a revision already corrected (IB re-sends every report with
        # reqExecutions after a reconnect): like its execution, it changes nothing.
        return False
    order.trigger_event(ev.CommissionReported, timestamp=ts, ts_event=None, report=report)
    return True


def on_error(order: Order, f: ErrorReport, ts: datetime) -> bool:
    s = order.state
    if s.last_error == (f.code, f.message) and s.last_error_request == s.requests:
        # IB repeats itself; the same error answering a later request is a new fact.
        return False
    effect = effect_of(f.code, answers=answering(s), acknowledged=s.acknowledged)
    before = s.status
    dest, anomaly = before, None
    if effect in (ErrorEffect.REJECTS, ErrorEffect.CONFIRMS_CANCEL):
        trigger = Trigger.REJECT if effect is ErrorEffect.REJECTS else Trigger.CONFIRM_CANCEL
        out = outcome(before, trigger)
        assert out is not None
        dest, anomaly = out.dest, out.anomaly
    order.trigger_event(
        ev.ErrorReported,
        timestamp=ts,
        ts_event=f.ts_event,
        code=f.code,
        message=f.message,
        advanced_reject=f.advanced_reject,
        status=dest,
        effect=effect.value,
    )
    if effect is ErrorEffect.REFUSES_MODIFY and s.pending_modification is not None:
        order.trigger_event(ev.ModificationRefused, timestamp=ts, ts_event=f.ts_event, code=f.code)
    if effect is ErrorEffect.REFUSES_CANCEL and s.cancel_requested:
        # The order carries on as IB reports it, and a later cancel must be possible.
        order.trigger_event(ev.CancelRefused, timestamp=ts, ts_event=f.ts_event, code=f.code)
    if effect is ErrorEffect.INFORMS and f.code in REJECTION_CODES and before in WORKING:
        # IB showed the order working, then sent a rejection answering no modify: the order
        # stays as IB's statuses say, and the auditor is told they disagree.
        anomaly = "rejection_of_working_order"
    if anomaly:
        order.anomaly(anomaly, f"error {f.code}: {f.message}", f.ts_event, ts, before=before)
    return True


def on_open_order(order: Order, f: OpenOrderReport, ts: datetime) -> bool:
    """IB's openOrder: binds identifiers we had not seen and acknowledges new terms."""
    s = order.state
    recorded = False
    new_perm = f.perm_id if f.perm_id and f.perm_id != s.perm_id else None
    new_alias = (
        f.client_id is not None
        and f.order_id is not None
        and f.order_id != 0
        and (f.client_id, f.order_id) not in s.aliases
    )
    new_account = f.spec.account if f.spec.account and not s.spec.account else None
    if new_perm or new_alias or new_account:
        order.trigger_event(
            ev.IdentifiersBound,
            timestamp=ts,
            ts_event=None,
            perm_id=new_perm,
            client_id=f.client_id if new_alias else None,
            order_id=f.order_id if new_alias else None,
            account=new_account,
        )
        recorded = True
    if not _same_terms(f.spec, s.spec):
        _acknowledge_terms(order, f.spec, ts)
        recorded = True
    return recorded


def _acknowledge_terms(order: Order, spec: OrderSpec, ts: datetime) -> None:
    s = order.state
    pending = s.pending_modification
    order.trigger_event(
        ev.ModificationAcknowledged,
        timestamp=ts,
        ts_event=None,
        spec=s.spec.with_changes(
            quantity=spec.quantity, limit_price=spec.limit_price, stop_price=spec.stop_price
        ),
        requested=pending is not None and _same_terms(pending, spec),
    )
    if s.filled > s.spec.quantity:
        # Fills raced the modify (or TWS cut the quantity by hand): the order is now
        # overfilled, and that is never silent.
        order.trigger_event(
            ev.AnomalyRecorded,
            timestamp=ts,
            ts_event=None,
            kind="overfill",
            expected=f"filled <= order quantity {s.spec.quantity}",
            received=f"openOrder quantity {s.spec.quantity} below {s.filled} filled",
        )


def on_anomaly(order: Order, f: AnomalyFound, ts: datetime) -> bool:
    order.trigger_event(
        ev.AnomalyRecorded,
        timestamp=ts,
        ts_event=f.ts_event,
        kind=f.kind,
        expected=f.expected,
        received=f.received,
    )
    return True


FACT_HANDLERS: dict[type, Callable[[Any, Any, datetime], bool]] = {
    OutboundRequest: on_request,
    StatusReport: on_status,
    OpenOrderReport: on_open_order,
    ExecutionReport: on_execution,
    CommissionReported: on_commission,
    ErrorReport: on_error,
    ExecutionBust: on_bust,
    AnomalyFound: on_anomaly,
}
