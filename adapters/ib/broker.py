"""Our commands, sent to IB through ib_async.

Every command is recorded before it goes out (``Order.submit`` holds the session's
(clientId, orderId)), so a crash between recording and sending leaves a PendingSubmit order
that the next connect's open and completed orders resolve, never a lost one. Brackets follow
IB's transmit convention: parent and take-profit are sent with ``transmit=False`` and the
stop-loss with ``transmit=True``, which transmits all three.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ib_async import IB
from ib_async import Order as IbOrder

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.identity import new_client_order_id, order_id_for
from ordertrail.domain.values import BracketOrder, ContractRef, OrderSpec


class NotConnectedError(ConnectionError):
    def __init__(self) -> None:
        super().__init__("not connected to TWS / IB Gateway")


class IbBroker:
    """Places, modifies and cancels orders through a connected ``ib_async.IB``."""

    dry_run = False

    def __init__(self, ib: IB, trail: OrderTrail, new_token: Callable[[], str]) -> None:
        self.ib = ib
        self.trail = trail
        self.new_token = new_token

    def _require_connection(self) -> None:
        if not self.ib.isConnected():
            raise NotConnectedError()

    def new_client_order_id(self) -> str:
        return new_client_order_id(self.new_token())

    def record(
        self,
        contract: ContractRef,
        spec: OrderSpec,
        *,
        client_order_id: str | None = None,
        parent: UUID | None = None,
        group_id: str | None = None,
    ) -> UUID:
        """Record our intent (status New); nothing is sent."""
        parent_key = self.trail.get(parent).state.order_key if parent else None
        return self.trail.place(
            client_order_id=client_order_id or self.new_client_order_id(),
            contract=contract,
            spec=spec,
            parent_key=parent_key,
            group_id=group_id,
        )

    def transmit(self, oid: UUID, *, parent: UUID | None = None) -> int:
        """Submit a recorded order to IB; returns the session's orderId."""
        self._require_connection()
        state = self.trail.get(oid).state
        parent_id = 0
        if parent is not None:
            aliases = self.trail.get(parent).state.aliases
            if not aliases:
                raise CommandRefused("submit", state.status.value, "its parent was never sent")
            parent_id = aliases[-1][1]
        order_id = self.ib.client.getReqId()
        self.trail.submit(oid, client_id=self.ib.client.clientId, order_id=order_id)
        ib_order = mapping.to_ib_order(
            state.spec,
            order_id=order_id,
            order_ref=state.client_order_id or "",
            parent_id=parent_id,
        )
        self.ib.placeOrder(mapping.to_ib_contract(state.contract), ib_order)
        return order_id

    def place(self, contract: ContractRef, spec: OrderSpec, *, group_id: str | None = None) -> UUID:
        self._require_connection()
        oid = self.record(contract, spec, group_id=group_id)
        self.transmit(oid)
        return oid

    def place_bracket(
        self, contract: ContractRef, bracket: BracketOrder, *, group_id: str | None = None
    ) -> tuple[UUID, UUID, UUID]:
        self._require_connection()
        parent = self.record(contract, bracket.parent, group_id=group_id)
        take = self.record(contract, bracket.take_profit, parent=parent, group_id=group_id)
        stop = self.record(contract, bracket.stop_loss, parent=parent, group_id=group_id)
        self.transmit(parent)
        self.transmit(take, parent=parent)
        self.transmit(stop, parent=parent)
        return parent, take, stop

    def _session_order_id(self, oid: UUID) -> int:
        state = self.trail.get(oid).state
        own = [o for c, o in state.aliases if c == self.ib.client.clientId]
        if not own:
            raise CommandRefused(
                "send", state.status.value, "the order has no orderId in this session"
            )
        return own[-1]

    def modify(self, oid: UUID, spec: OrderSpec) -> None:
        self._require_connection()
        order_id = self._session_order_id(oid)
        self.trail.request_modify(oid, spec)
        state = self.trail.get(oid).state
        parent_id = 0
        if state.parent_key:
            parent = self.trail.get(self._id_of_key(state.parent_key)).state
            parent_id = parent.aliases[-1][1] if parent.aliases else 0
        self.ib.placeOrder(
            mapping.to_ib_contract(state.contract),
            mapping.to_ib_order(
                spec,
                order_id=order_id,
                order_ref=state.client_order_id or "",
                parent_id=parent_id,
            ),
        )

    def cancel(self, oid: UUID) -> None:
        self._require_connection()
        order_id = self._session_order_id(oid)
        self.trail.request_cancel(oid)
        trade = next((t for t in self.ib.trades() if t.order.orderId == order_id), None)
        if trade is not None:
            self.ib.cancelOrder(trade.order)
        else:
            self.ib.cancelOrder(IbOrder(orderId=order_id))

    def _id_of_key(self, key: str) -> UUID:
        return order_id_for(key)
