"""Cancels and rejections: how TWS answers a cancel request, cancels on its own, or refuses an
order, with the messages in the order TWS sends them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import messages as msg
from .error_texts import text_for
from .orders import DONE, SimOrder, Status
from .scenario import CancelError
from .session import Session

if TYPE_CHECKING:
    from .broker import Broker


def cancel_request(broker: Broker, session: Session, order_id: int) -> None:
    assert session.client_id is not None
    order = broker.book.get(session.client_id, order_id)
    v = session.server_version
    if order is None:
        text = f"OrderId {order_id} that needs to be cancelled is not found."
        session.send(msg.error(v, order_id, 10147, text))
        return
    if order.status in DONE or (order.closed and order.status != Status.INACTIVE):
        text = (
            f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
            f"state: {order.status.value}."
        )
        session.send(msg.error(v, order_id, 10148, text))
        return
    behaviour = broker.scenario.behaviour_for(order.ticket.order_ref)
    if order.defer_cancel or (behaviour is not None and behaviour.defer_cancel):
        # PendingCancel until the control API confirms; the order can still fill meanwhile.
        order.status = Status.PENDING_CANCEL
        broker.send_status(order)
        return
    confirm_cancel(broker, order)


def cancel(
    broker: Broker,
    order: SimOrder,
    reason: str = "",
    notify: bool = True,
    error_first: bool = False,
) -> None:
    """Cancel ``order`` and its unfilled children: the Cancelled status and error 202
    (after the status, before it with ``error_first``, or not at all without ``notify``)."""
    order.status = Status.CANCELLED
    broker.complete(order, "Cancelled by Trader" if not reason else f"Cancelled: {reason}")
    if order.announced:
        if notify and error_first:
            broker.send_error(order, 202, text_for(202) + reason)
        broker.send_status(order)
        if notify and not error_first:
            broker.send_error(order, 202, text_for(202) + reason)
    for child in broker.book.children(order):
        if not child.closed:
            cancel(broker, child, reason, notify, error_first)


def confirm_cancel(broker: Broker, order: SimOrder) -> None:
    """Carry out a requested cancel, with error 202 as the scenario's ``cancel_error`` says."""
    order.defer_cancel = False
    if not order.closed:
        mode = broker.scenario.cancel_error
        cancel(
            broker, order, notify=mode != CancelError.NONE, error_first=mode == CancelError.BEFORE
        )


def reject(broker: Broker, order: SimOrder, code: int, text: str | None, inactive: bool) -> None:
    order.closed = True
    broker.send_error(order, code, text)
    if inactive:
        order.status = Status.INACTIVE
        broker.announce(order)
    for child in broker.book.children(order):
        child.closed = True  # children of a rejected parent are never sent


def set_inactive(broker: Broker, order: SimOrder, why_held: str) -> None:
    # Inactive with a whyHeld (e.g. "locate") is not final: the order may still fill.
    order.status = Status.INACTIVE
    order.why_held = why_held
    broker.send_status(order)


def global_cancel(broker: Broker) -> None:
    # reqGlobalCancel cancels every working order, whoever placed it (other clients, TWS).
    for order in broker.book:
        if order.is_working and order.status != Status.PENDING_CANCEL:
            confirm_cancel(broker, order)
