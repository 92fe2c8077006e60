"""The BrokerGateway for IB through ib_async, over ``IbBroker``. Pointed at the TWS simulator
it is the simulator gateway: the same client, the same wire protocol.

``IbBroker`` records the submission before it sends; this adapter adds the approval check,
turns a missing connection into ``BrokerUnavailable`` and waits (briefly) for IB's answer so
that a rejection can be reported to the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from uuid import UUID

from ordertrail.adapters.ib.broker import IbBroker, NotConnectedError
from ordertrail.domain.identity import order_uuid
from ordertrail.domain.ports import BrokerUnavailable, OrderTicket
from ordertrail.domain.risk import Approval, require_approval
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import OrderSpec

UNANSWERED = frozenset({OrderStatus.NEW, OrderStatus.PENDING_SUBMIT})


def _oid(client_order_id: str) -> UUID:
    return order_uuid(client_order_id=client_order_id)


def answered(state: OrderState) -> bool:
    """IB has said something about the latest request (or the order is over)."""
    if state.status.is_done:
        return True
    if state.status in UNANSWERED:
        return False
    if state.pending_modification is not None:
        return False
    return not (state.cancel_requested and state.status is not OrderStatus.PENDING_CANCEL)


class IbGateway:
    dry_run = False

    def __init__(
        self, broker: IbBroker, *, ack_timeout: float = 2.0, poll_interval: float = 0.01
    ) -> None:
        self.broker = broker
        self.ack_timeout = ack_timeout
        self.poll_interval = poll_interval

    def _recorded_spec(self, client_order_id: str) -> OrderSpec:
        return self.broker.trail.get(_oid(client_order_id)).state.spec

    def _checked(self, ticket: OrderTicket, approval: Approval) -> None:
        # Checked against what is recorded, because that is what IbBroker sends.
        require_approval(approval, ticket.client_order_id, ticket.spec)
        recorded = self._recorded_spec(ticket.client_order_id)
        require_approval(approval, ticket.client_order_id, recorded)

    def _connected(self) -> None:
        if not self.broker.ib.isConnected():
            raise BrokerUnavailable("not connected to TWS / IB Gateway: nothing was sent")

    def place(self, ticket: OrderTicket, approval: Approval) -> None:
        self._checked(ticket, approval)
        self._connected()
        parent = _oid(ticket.parent_client_order_id) if ticket.parent_client_order_id else None
        try:
            self.broker.transmit(_oid(ticket.client_order_id), parent=parent)
        except NotConnectedError as e:
            raise BrokerUnavailable(str(e)) from e

    def bracket(
        self,
        legs: tuple[OrderTicket, OrderTicket, OrderTicket],
        approvals: tuple[Approval, Approval, Approval],
    ) -> None:
        for ticket, approval in zip(legs, approvals, strict=True):
            self._checked(ticket, approval)
        self._connected()
        parent = _oid(legs[0].client_order_id)
        try:
            # IB's convention: parent and take-profit hold (transmit=False), the stop-loss
            # transmits all three; the specs carry the flags (BracketOrder checks them).
            self.broker.transmit(parent)
            for child in legs[1:]:
                self.broker.transmit(_oid(child.client_order_id), parent=parent)
        except NotConnectedError as e:
            raise BrokerUnavailable(str(e)) from e

    def modify(self, client_order_id: str, spec: OrderSpec, approval: Approval) -> None:
        require_approval(approval, client_order_id, spec)
        self._connected()
        try:
            self.broker.modify(_oid(client_order_id), spec)
        except NotConnectedError as e:
            raise BrokerUnavailable(str(e)) from e

    def cancel(self, client_order_id: str) -> None:
        self._connected()
        try:
            self.broker.cancel(_oid(client_order_id))
        except NotConnectedError as e:
            raise BrokerUnavailable(str(e)) from e

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        deadline = time.monotonic() + self.ack_timeout
        oids = [_oid(c) for c in client_order_ids]
        while time.monotonic() < deadline:
            if all(answered(self.broker.trail.get(o).state) for o in oids):
                return
            if not self.broker.ib.isConnected():
                raise BrokerUnavailable(
                    "the connection was lost before IB answered; what was sent is recorded "
                    "(PendingSubmit) and reconciles from IB's open and completed orders on "
                    "reconnect"
                )
            await asyncio.sleep(self.poll_interval)
        # No answer in time (IB documents orders that sit in PendingSubmit): not an error.
