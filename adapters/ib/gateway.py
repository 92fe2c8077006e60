"""The one way out to IB: the gateway that sends the RiskGate's approved tickets through
ib_async. Pointed at ``ordertrail simulate`` it is the simulator's gateway (the same client,
the same wire protocol).

It checks the approval once, against the ticket, records the submission through the trail
service (``SubmissionRequested`` holds the session's (clientId, orderId)) and then sends exactly
the ticket's contract and terms. Recording before sending means a crash in between leaves a
PendingSubmit order that the next connect's open and completed orders resolve, never a lost one.
Nothing else in the package calls ``placeOrder`` (a test reads the source to prove it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from uuid import UUID

from ib_async import IB
from ib_async import Order as IbOrder

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.identity import order_id_for, order_uuid
from ordertrail.domain.ports import BrokerError, BrokerUnavailable, OrderTicket
from ordertrail.domain.risk import Approval, require_approval
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef

UNANSWERED = frozenset({OrderStatus.NEW, OrderStatus.PENDING_SUBMIT})


def answered(state: OrderState) -> bool:
    """IB has said something about the latest request (or the order is over)."""
    if state.status.is_done:
        return True
    if state.status in UNANSWERED:
        return False
    if state.pending_modification is not None:
        return False
    return not (state.cancel_requested and state.status is not OrderStatus.PENDING_CANCEL)


def describe(c: ContractRef) -> str:
    parts = [c.symbol or f"conId {c.con_id}", c.sec_type, c.exchange, c.currency]
    parts += [p for p in (c.expiry, str(c.strike) if c.strike else None, c.right) if p]
    return " ".join(parts)


class IbGateway:
    """Places, modifies and cancels approved orders through a connected ``ib_async.IB``."""

    dry_run = False

    def __init__(
        self,
        ib: IB,
        trail: OrderTrail,
        *,
        ack_timeout: float = 2.0,
        poll_interval: float = 0.01,
        qualify_timeout: float = 10.0,
    ) -> None:
        self.ib = ib
        # The trading mode the session connected in (IbSession sets it: paper or live); recorded
        # with every submission, so the record says which mode approved each order.
        self.mode = "paper"
        self.qualify_timeout = qualify_timeout
        self.trail = trail
        self.ack_timeout = ack_timeout
        self.poll_interval = poll_interval

    @property
    def client_id(self) -> int:
        return int(self.ib.client.clientId)

    def _connected(self) -> None:
        if not self.ib.isConnected():
            raise BrokerUnavailable("not connected to TWS / IB Gateway: nothing was sent")

    def _state(self, client_order_id: str) -> OrderState:
        return self.trail.get(order_uuid(client_order_id=client_order_id)).state

    def session_order_id(self, state: OrderState) -> int:
        """The orderId this client sent the order under. IB lets only the client that placed an
        API order modify or cancel it, so another client's order is refused with the id to use."""
        own = [o for c, o in state.aliases if c == self.client_id]
        if own:
            return own[-1]
        name = state.client_order_id or state.order_key
        if state.aliases:
            placer = state.aliases[-1][0]
            raise BrokerError(
                f"{name} was placed by client id {placer}; IB lets only that client change or "
                f"cancel it: connect with client id {placer} (--client-id {placer})"
            )
        raise BrokerError(f"{name} was never sent to IB (status {state.status.value})")

    def _parent_order_id(self, parent_key: str | None) -> int:
        if parent_key is None:
            return 0
        return self.session_order_id(self.trail.get(order_id_for(parent_key)).state)

    # ---- the BrokerGateway port ------------------------------------------------------------

    async def qualify(self, contract: ContractRef) -> ContractRef:
        if contract.con_id:
            return contract  # IB's own identity for the instrument: nothing to resolve
        self._connected()
        try:
            details = await asyncio.wait_for(
                self.ib.reqContractDetailsAsync(mapping.to_ib_contract(contract)),
                self.qualify_timeout,
            )
        except TimeoutError:
            raise BrokerError(
                f"IB did not answer the contract details request for {describe(contract)} "
                f"within {self.qualify_timeout:g} s: nothing was sent"
            ) from None
        if not details:
            raise BrokerError(f"IB knows no contract {describe(contract)}: nothing was sent")
        found = {d.contract.conId: d.contract for d in details if d.contract is not None}
        if len(found) > 1:
            choices = "; ".join(
                f"conId {k} {describe(mapping.contract_ref(c))}" for k, c in sorted(found.items())
            )
            raise BrokerError(
                f"{describe(contract)} is ambiguous, {len(found)} contracts match ({choices}): "
                "give its conId (--con-id) or narrow it (--exchange, --expiry, --currency)"
            )
        return mapping.contract_ref(next(iter(found.values())))

    def _wire(self, ticket: OrderTicket, order_id: int, parent_id: int) -> None:
        order = mapping.to_ib_order(
            ticket.spec,
            order_id=order_id,
            order_ref=ticket.client_order_id,
            parent_id=parent_id,
        )
        self.ib.placeOrder(mapping.to_ib_contract(ticket.contract), order)

    def _submit(self, ticket: OrderTicket) -> None:
        """Record the submission under a new orderId, then send; the approval was checked."""
        parent_key = self._state(ticket.client_order_id).parent_key
        parent_id = self._parent_order_id(parent_key)
        order_id = self.ib.client.getReqId()
        self.trail.submit(
            order_uuid(client_order_id=ticket.client_order_id),
            client_id=self.client_id,
            order_id=order_id,
            mode=self.mode,
        )
        self._wire(ticket, order_id, parent_id)

    def place(self, ticket: OrderTicket, approval: Approval) -> None:
        self._connected()
        require_approval(approval, ticket.client_order_id, ticket.contract, ticket.spec)
        self._submit(ticket)

    def bracket(
        self,
        legs: tuple[OrderTicket, OrderTicket, OrderTicket],
        approvals: tuple[Approval, Approval, Approval],
    ) -> None:
        self._connected()
        for ticket, approval in zip(legs, approvals, strict=True):
            require_approval(approval, ticket.client_order_id, ticket.contract, ticket.spec)
        # IB's convention: parent and take-profit hold (transmit=False), the stop-loss transmits
        # all three; the specs carry the flags (BracketOrder checks them).
        for ticket in legs:
            self._submit(ticket)

    def modify(self, ticket: OrderTicket, approval: Approval) -> None:
        self._connected()
        require_approval(approval, ticket.client_order_id, ticket.contract, ticket.spec)
        state = self._state(ticket.client_order_id)
        order_id = self.session_order_id(state)
        parent_id = self._parent_order_id(state.parent_key)
        self.trail.request_modify(order_uuid(client_order_id=ticket.client_order_id), ticket.spec)
        self._wire(ticket, order_id, parent_id)

    def cancel(self, client_order_id: str) -> None:
        self._connected()
        state = self._state(client_order_id)
        order_id = self.session_order_id(state)
        self.trail.request_cancel(order_uuid(client_order_id=client_order_id))
        trade = next((t for t in self.ib.trades() if t.order.orderId == order_id), None)
        self.ib.cancelOrder(trade.order if trade is not None else IbOrder(orderId=order_id))

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        deadline = time.monotonic() + self.ack_timeout
        oids: list[UUID] = [order_uuid(client_order_id=c) for c in client_order_ids]
        while time.monotonic() < deadline:
            if all(answered(self.trail.get(o).state) for o in oids):
                return
            if not self.ib.isConnected():
                raise BrokerUnavailable(
                    "the connection was lost before IB answered; what was sent is recorded "
                    "(PendingSubmit) and reconciles from IB's open and completed orders on "
                    "reconnect"
                )
            await asyncio.sleep(self.poll_interval)
        # No answer in time (IB documents orders that sit in PendingSubmit): not an error.
