"""The RiskGate as mandatory middleware: the only way from the engine to a broker.

``GatedGateway`` owns the gateway it wraps; the engine and the OrderManager hold only this
object. Every place, bracket and modify is checked by the gate first; a refused new order is
recorded as denied (RiskDenied, with the rule and the reason) and nothing is sent; an approved
one goes to the gateway together with the gate's ``Approval``, which the gateway verifies
against the terms it is about to send (see ADR 0006).

The gate fails closed: when what it judges by cannot be read (a stored event damaged by hand,
a store that went away), the order is refused under the rule ``exposure_unreadable`` with the
error as its reason, and recorded as denied like any refusal
(docs/adr/0157-risk-gate-fails-closed.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ordertrail.adapters.execution.exposure import ExposureSnapshot, TrailExposure
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.identity import order_uuid
from ordertrail.domain.ports import BrokerGateway, OrderTicket
from ordertrail.domain.risk import (
    Approval,
    Refusal,
    RequestKind,
    RiskGate,
    RiskPolicy,
    RiskRequest,
)
from ordertrail.domain.values import ContractRef

# The rule a request is refused under when the exposure it is judged by cannot be read.
EXPOSURE_UNREADABLE = "exposure_unreadable"


class GatedGateway:
    def __init__(
        self, gate: RiskGate, gateway: BrokerGateway, trail: OrderTrail, exposure: TrailExposure
    ) -> None:
        self._gate = gate
        self._gateway = gateway
        self._trail = trail
        self._exposure = exposure

    @property
    def dry_run(self) -> bool:
        return self._gateway.dry_run

    @property
    def policy(self) -> RiskPolicy:
        return self._gate.policy

    def set_policy(self, policy: RiskPolicy) -> None:
        self._gate = self._gate.with_policy(policy)

    def _deny(self, tickets: Sequence[OrderTicket], refusal: Refusal) -> None:
        for t in tickets:
            oid = order_uuid(client_order_id=t.client_order_id)
            self._trail.deny(oid, rule=refusal.rule, reason=refusal.reason)

    def _snapshot(self) -> ExposureSnapshot | Refusal:
        """What the gate judges by, or the refusal of a gate that cannot read it."""
        try:
            return self._exposure.snapshot()
        except Exception as e:  # any failure to read: nothing is sent on a guess
            return Refusal(EXPOSURE_UNREADABLE, f"the exposure could not be read: {e}")

    def place(self, ticket: OrderTicket) -> Refusal | None:
        snap = self._snapshot()
        if isinstance(snap, Refusal):
            self._deny([ticket], snap)
            return snap
        request = RiskRequest(
            ticket.client_order_id, ticket.contract, ticket.spec, reduce_only=ticket.reduce_only
        )
        context = snap.context(ticket.contract, ticket.spec.action, exclude=ticket.client_order_id)
        decision = self._gate.check(request, context)
        if isinstance(decision, Refusal):
            self._deny([ticket], decision)
            return decision
        self._gateway.place(ticket, decision)
        return None

    def bracket(self, legs: tuple[OrderTicket, OrderTicket, OrderTicket]) -> Refusal | None:
        snap = self._snapshot()
        if isinstance(snap, Refusal):
            self._deny(legs, snap)
            return snap
        parent = legs[0]
        requests = [
            (
                RiskRequest(
                    t.client_order_id,
                    t.contract,
                    t.spec,
                    contingent=t is not parent,
                    adds_open_orders=len(legs) if t is parent else 0,
                ),
                snap.context(t.contract, t.spec.action, exclude=t.client_order_id),
            )
            for t in legs
        ]
        decision = self._gate.check_all(requests)
        if isinstance(decision, Refusal):
            # All or nothing: children without their parent (or a parent without its stop)
            # are not the bracket that was asked for.
            self._deny(legs, decision)
            return decision
        a, b, c = decision
        self._gateway.bracket(legs, (a, b, c))
        return None

    def modify(self, ticket: OrderTicket) -> Refusal | None:
        """A refused modification records nothing (a command refused, DESIGN decision 1): the
        order keeps working on its current terms."""
        snap = self._snapshot()
        if isinstance(snap, Refusal):
            return snap
        request = RiskRequest(
            ticket.client_order_id, ticket.contract, ticket.spec, kind=RequestKind.MODIFY
        )
        context = snap.context(ticket.contract, ticket.spec.action, exclude=ticket.client_order_id)
        decision = self._gate.check(request, context)
        if isinstance(decision, Refusal):
            return decision
        approval: Approval = decision
        self._gateway.modify(ticket, approval)
        return None

    def position(self, contract: ContractRef) -> Decimal:
        return self._exposure.snapshot().position(contract)

    async def qualify(self, contract: ContractRef) -> ContractRef:
        return await self._gateway.qualify(contract)

    def cancel(self, client_order_id: str) -> None:
        # No gate: a cancel only ever reduces risk and must work with the kill switch engaged.
        self._gateway.cancel(client_order_id)

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        await self._gateway.acknowledged(client_order_ids)
