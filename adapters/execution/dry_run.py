"""The dry-run BrokerGateway: records the same events a live order would get, with simulated
broker facts, and never touches IB.

Its orders carry ``DRY_OT-…`` ids (origin ``dry_run``) and it refuses any other, so no audit
query can mistake a dry run for a real order. The fill model (docs/execution.md, "Dry run"):

* every order is acknowledged: Submitted; PreSubmitted for stops and for bracket children
  whose parent has not filled;
* what has a price to fill at fills at once, in full: a limit at its limit, a market order at
  its reference price; stops never trigger (a dry run has no market data);
* a bracket's children wait for their parent; when an order of an OCA group fills, the other
  working orders of the group are cancelled, as IB does (so a dry bracket's take-profit fill
  cancels its stop-loss).

Identities are derived from the store, never from a per-process counter: the orderId is one
past the highest dry-run orderId recorded, and an execution's id is the client order id and the
order's own execution count (``DRY_OT-….2.01``), so dry runs in separate processes never
collide and a later fill is never mistaken for a correction of an earlier one.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from uuid import UUID

from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import ExecutionReport, OpenOrderReport, StatusReport
from ordertrail.domain.identity import is_dry_run_id, order_id_for, order_uuid
from ordertrail.domain.ports import BrokerError, OrderTicket
from ordertrail.domain.risk import Approval, require_approval
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, Execution, OrderSpec, OrderType, Side

DRY_EXCHANGE = "DRYRUN"
ZERO = Decimal(0)
STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


def dry_exec_id(client_order_id: str, n: int) -> str:
    """The n-th execution of a dry order: unique across processes, ``.01`` as IB's first
    version of an execution."""
    return f"{client_order_id}.{n}.01"


class DryRunGateway:
    dry_run = True

    def __init__(self, trail: OrderTrail, *, client_id: int = 0) -> None:
        self.trail = trail
        self.client_id = client_id

    def _oid(self, client_order_id: str) -> UUID:
        if not is_dry_run_id(client_order_id):
            raise BrokerError(f"{client_order_id}: a dry run only handles DRY_ orders")
        return order_uuid(client_order_id=client_order_id)

    def _state(self, oid: UUID) -> OrderState:
        return self.trail.get(oid).state

    def _dry_states(self) -> list[OrderState]:
        return [s for s in self.trail.states().values() if s.is_dry_run]

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

    def _parent_filled(self, state: OrderState) -> bool:
        assert state.parent_key is not None
        parent = self.trail.get(order_id_for(state.parent_key)).state
        return parent.status is OrderStatus.FILLED

    def _work(self, oid: UUID) -> None:
        """Acknowledge the order, and fill it when it has a price to fill at."""
        state = self._state(oid)
        if state.status.is_done:
            return  # an OCA sibling's fill cancelled it
        waits = state.parent_key is not None and not self._parent_filled(state)
        stop = state.spec.order_type in STOPS
        self._status(state, "PreSubmitted" if waits or stop else "Submitted")
        price = None if waits else self._fill_price(state.spec)
        if price is not None:
            self._fill(oid, price)

    def _fill(self, oid: UUID, price: Decimal) -> None:
        state = self._state(oid)
        coid = state.client_order_id or ""
        qty = state.remaining
        execution = Execution(
            exec_id=dry_exec_id(coid, len(state.executions) + 1),
            time=None,
            account=state.spec.account,
            exchange=DRY_EXCHANGE,
            side=Side.BOUGHT if state.spec.action.sign > 0 else Side.SOLD,
            shares=qty,
            price=price,
            client_id=self.client_id,
            order_id=state.aliases[-1][1],
            cum_qty=state.filled + qty,
            avg_price=price,
            order_ref=coid,
        )
        fill = ExecutionReport(execution, provenance={"dry_run": "1"})
        self.trail.record(self._key(state), fill)
        self._status(self._state(oid), "Filled")
        self._cancel_oca_siblings(self._state(oid))

    def _cancel_oca_siblings(self, filled: OrderState) -> None:
        group = filled.spec.oca_group
        if not group:
            return
        for s in self._dry_states():
            if (
                s.spec.oca_group == group
                and s.client_order_id != filled.client_order_id
                and s.status.is_working
                and s.aliases
            ):
                self._status(s, "Cancelled")

    def _submit(self, oid: UUID) -> None:
        used = [o for s in self._dry_states() for c, o in s.aliases if c == self.client_id]
        self.trail.submit(
            oid, client_id=self.client_id, order_id=max(used, default=0) + 1, mode="dry_run"
        )

    async def qualify(self, contract: ContractRef) -> ContractRef:
        return contract  # no venue to ask: the contract is recorded as it was given

    def place(self, ticket: OrderTicket, approval: Approval) -> None:
        oid = self._oid(ticket.client_order_id)
        require_approval(approval, ticket.client_order_id, ticket.contract, ticket.spec)
        self._submit(oid)
        self._work(oid)

    def bracket(
        self,
        legs: tuple[OrderTicket, OrderTicket, OrderTicket],
        approvals: tuple[Approval, Approval, Approval],
    ) -> None:
        oids = [self._oid(t.client_order_id) for t in legs]
        for ticket, approval in zip(legs, approvals, strict=True):
            require_approval(approval, ticket.client_order_id, ticket.contract, ticket.spec)
        for oid in oids:
            self._submit(oid)
        for oid in oids:
            self._work(oid)

    def modify(self, ticket: OrderTicket, approval: Approval) -> None:
        oid = self._oid(ticket.client_order_id)
        require_approval(approval, ticket.client_order_id, ticket.contract, ticket.spec)
        self.trail.request_modify(oid, ticket.spec)
        self.trail.record(self._key(self._state(oid)), OpenOrderReport(spec=ticket.spec))
        self._work(oid)

    def cancel(self, client_order_id: str) -> None:
        oid = self._oid(client_order_id)
        self.trail.request_cancel(oid)
        self._status(self._state(oid), "Cancelled")

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        return None  # every simulated answer was recorded before the call returned
