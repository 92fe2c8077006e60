"""Synchronous order entry for tests that exercise the recorder: the engine's own way out (the
RiskGate, then the one IB gateway), under a policy that lets every test order through, so
those tests send nothing an engine could not send."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ib_async import IB

from ordertrail.adapters.execution.exposure import TrailExposure
from ordertrail.adapters.execution.gated import GatedGateway
from ordertrail.adapters.ib.gateway import IbGateway
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.identity import new_client_order_id, order_id_for, order_key
from ordertrail.domain.ports import OrderTicket
from ordertrail.domain.risk import RiskGate, RiskPolicy
from ordertrail.domain.values import ContractRef, OrderSpec

OPEN_POLICY = RiskPolicy(
    max_order_quantity=None,
    max_order_notional=None,
    max_position=None,
    max_open_orders=None,
    allow_market_orders=True,
    price_band=None,
)


class GatedOrders:
    def __init__(self, ib: IB, trail: OrderTrail, new_token: Callable[[], str]) -> None:
        self.trail = trail
        self.new_token = new_token
        exposure = TrailExposure(trail, dry_run=False)
        self._out = GatedGateway(RiskGate(OPEN_POLICY), IbGateway(ib, trail), trail, exposure)

    def new_client_order_id(self) -> str:
        return new_client_order_id(self.new_token())

    def _ticket(self, oid: UUID) -> OrderTicket:
        s = self.trail.get(oid).state
        assert s.client_order_id is not None
        parent = None
        if s.parent_key is not None:
            parent = self.trail.get(order_id_for(s.parent_key)).state.client_order_id
        return OrderTicket(s.client_order_id, s.contract, s.spec, parent)

    def record(
        self,
        contract: ContractRef,
        spec: OrderSpec,
        *,
        client_order_id: str | None = None,
        parent: UUID | None = None,
    ) -> UUID:
        coid = client_order_id or self.new_client_order_id()
        parent_coid = self.trail.get(parent).state.client_order_id if parent else None
        return self.trail.place(
            client_order_id=coid,
            contract=contract,
            spec=spec,
            parent_key=order_key(client_order_id=parent_coid) if parent_coid else None,
        )

    def transmit(self, oid: UUID) -> None:
        assert self._out.place(self._ticket(oid)) is None

    def place(self, contract: ContractRef, spec: OrderSpec) -> UUID:
        oid = self.record(contract, spec)
        self.transmit(oid)
        return oid

    def place_bracket(
        self, contract: ContractRef, bracket: BracketOrder
    ) -> tuple[UUID, UUID, UUID]:
        parent = self.record(contract, bracket.parent)
        take = self.record(contract, bracket.take_profit, parent=parent)
        stop = self.record(contract, bracket.stop_loss, parent=parent)
        legs = (self._ticket(parent), self._ticket(take), self._ticket(stop))
        assert self._out.bracket(legs) is None
        return parent, take, stop

    def modify(self, oid: UUID, spec: OrderSpec) -> None:
        s = self.trail.get(oid).state
        assert s.client_order_id is not None
        assert self._out.modify(OrderTicket(s.client_order_id, s.contract, spec)) is None

    def cancel(self, oid: UUID) -> None:
        coid = self.trail.get(oid).state.client_order_id
        assert coid is not None
        self._out.cancel(coid)
