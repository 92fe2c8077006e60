"""The dry-run BrokerGateway: records the same events a live order would get, with simulated
broker facts, and never touches IB.

Its orders carry ``DRY_OT-…`` ids (origin ``dry_run``) and it refuses any other, so no audit
query can mistake a dry run for a real order. The simulated broker acknowledges every order
(Submitted; PreSubmitted for stops and for bracket children, which wait for their parent) and
fills at once what has a price to fill at: a limit at its limit, a market order at its
reference price. Orders without such a price keep working until cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import ExecutionReport, OpenOrderReport, StatusReport
from ordertrail.domain.identity import is_dry_run_id, order_uuid
from ordertrail.domain.ports import BrokerError, OrderTicket
from ordertrail.domain.risk import Approval, require_approval
from ordertrail.domain.state import OrderState
from ordertrail.domain.values import Execution, OrderSpec, OrderType, Side

DRY_EXCHANGE = "DRYRUN"
ZERO = Decimal(0)


class DryRunGateway:
    dry_run = True

    def __init__(self, trail: OrderTrail, *, client_id: int = 0, first_order_id: int = 1) -> None:
        self.trail = trail
        self.client_id = client_id
        self._next_order_id = first_order_id

    def _oid(self, client_order_id: str) -> UUID:
        if not is_dry_run_id(client_order_id):
            raise BrokerError(f"{client_order_id}: a dry run only handles DRY_ orders")
        return order_uuid(client_order_id=client_order_id)

    def _state(self, oid: UUID) -> OrderState:
        return self.trail.get(oid).state

    def _key(self, state: OrderState) -> FactKey:
        alias = state.aliases[-1] if state.aliases else (None, None)
        return FactKey(order_ref=state.client_order_id, client_id=alias[0], order_id=alias[1])

    def _status(self, state: OrderState, raw: str) -> None:
        fact = StatusReport(
            raw_status=raw,
            filled=state.filled,
            remaining=state.remaining,
            avg_fill_price=state.avg_fill_price,
        )
        self.trail.record(self._key(state), fact)

    def _fill_price(self, spec: OrderSpec) -> Decimal | None:
        if spec.order_type is OrderType.LIMIT:
            return spec.limit_price
        if spec.order_type is OrderType.MARKET:
            return spec.reference_price
        return None

    def _work(self, oid: UUID) -> None:
        """Acknowledge the order, and fill it when it has a price to fill at."""
        state = self._state(oid)
        waits = state.parent_key is not None and not self._parent_filled(state)
        stop = state.spec.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        self._status(state, "PreSubmitted" if waits or stop else "Submitted")
        price = None if waits else self._fill_price(state.spec)
        if price is None:
            return
        state = self._state(oid)
        order_id = state.aliases[-1][1]
        qty = state.remaining
        execution = Execution(
            exec_id=f"DRY.{self.client_id}.{order_id}.{len(state.executions) + 1}.01",
            time=None,
            account=state.spec.account,
            exchange=DRY_EXCHANGE,
            side=Side.BOUGHT if state.spec.action.sign > 0 else Side.SOLD,
            shares=qty,
            price=price,
            client_id=self.client_id,
            order_id=order_id,
            cum_qty=state.filled + qty,
            avg_price=price,
            order_ref=state.client_order_id or "",
        )
        fill = ExecutionReport(execution, provenance={"dry_run": "1"})
        self.trail.record(self._key(state), fill)
        self._status(self._state(oid), "Filled")

    def _parent_filled(self, state: OrderState) -> bool:
        from ordertrail.domain.identity import order_id_for

        assert state.parent_key is not None
        return self.trail.get(order_id_for(state.parent_key)).state.status.value == "Filled"

    def _submit(self, oid: UUID) -> None:
        order_id = self._next_order_id
        self._next_order_id += 1
        self.trail.submit(oid, client_id=self.client_id, order_id=order_id)

    def place(self, ticket: OrderTicket, approval: Approval) -> None:
        oid = self._oid(ticket.client_order_id)
        require_approval(approval, ticket.client_order_id, ticket.spec)
        require_approval(approval, ticket.client_order_id, self._state(oid).spec)
        self._submit(oid)
        self._work(oid)

    def bracket(
        self,
        legs: tuple[OrderTicket, OrderTicket, OrderTicket],
        approvals: tuple[Approval, Approval, Approval],
    ) -> None:
        oids = [self._oid(t.client_order_id) for t in legs]
        for ticket, approval, oid in zip(legs, approvals, oids, strict=True):
            require_approval(approval, ticket.client_order_id, ticket.spec)
            require_approval(approval, ticket.client_order_id, self._state(oid).spec)
        for oid in oids:
            self._submit(oid)
        for oid in oids:
            self._work(oid)

    def modify(self, client_order_id: str, spec: OrderSpec, approval: Approval) -> None:
        oid = self._oid(client_order_id)
        require_approval(approval, client_order_id, spec)
        self.trail.request_modify(oid, spec)
        state = self._state(oid)
        self.trail.record(self._key(state), OpenOrderReport(spec=spec))
        self._work(oid)

    def cancel(self, client_order_id: str) -> None:
        oid = self._oid(client_order_id)
        self.trail.request_cancel(oid)
        self._status(self._state(oid), "Cancelled")

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        return None  # every simulated answer was recorded before the call returned
