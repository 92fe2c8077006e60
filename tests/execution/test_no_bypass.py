"""No sequence of engine calls sends an order the RiskGate did not approve.

A gateway fake at the boundary (it implements the BrokerGateway port and records what reaches
it) sits behind the engine; a spy on the gate keeps every approval it issued. Whatever the
policy and the calls, everything that reached the boundary carries an approval the gate issued
for exactly those terms, satisfies the policy's static limits, and nothing the gate refused
ever arrives.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.execution import OrderExecutionEngine
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.events import SubmissionRequested
from ordertrail.domain.facts import StatusReport
from ordertrail.domain.order import Order
from ordertrail.domain.planning import PositionLeg
from ordertrail.domain.ports import OrderTicket
from ordertrail.domain.risk import (
    MARKET_TYPES,
    Approval,
    Decision,
    RiskContext,
    RiskGate,
    RiskPolicy,
    RiskRequest,
)
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    BracketOrder,
    ContractRef,
    OrderAction,
    OrderSpec,
    OrderType,
)

D = Decimal
CONTRACTS = [ContractRef(1, "AAA"), ContractRef(2, "BBB", "FUT", multiplier=D(50))]


class SpyGate(RiskGate):
    def __init__(self, policy: RiskPolicy, issued: list[Approval] | None = None) -> None:
        super().__init__(policy)
        self.issued: list[Approval] = [] if issued is None else issued

    def with_policy(self, policy: RiskPolicy) -> RiskGate:
        return SpyGate(policy, self.issued)  # the kill switch swaps the gate: keep one log

    def check(self, request: RiskRequest, context: RiskContext) -> Decision:
        decision = super().check(request, context)
        if isinstance(decision, Approval):
            self.issued.append(decision)
        return decision


@dataclass
class Reached:
    kind: str
    client_order_id: str
    spec: OrderSpec
    approval: object
    policy: RiskPolicy


@dataclass
class BoundaryGateway:
    """The broker's side of the port: records what arrives and answers like a broker."""

    trail: OrderTrail
    policy_now: Callable[[], RiskPolicy]
    reached: list[Reached] = field(default_factory=list)
    next_id: int = 1
    dry_run: bool = False

    def _arrive(self, kind: str, coid: str, spec: OrderSpec, approval: object) -> None:
        self.reached.append(Reached(kind, coid, spec, approval, self.policy_now()))

    def _submit(self, ticket: OrderTicket) -> None:
        oid = Order.id_for(client_order_id=ticket.client_order_id)
        self.trail.submit(oid, client_id=9, order_id=self.next_id)
        self.trail.record(
            FactKey(client_id=9, order_id=self.next_id),
            StatusReport(
                raw_status="Submitted",
                filled=D(0),
                remaining=ticket.spec.quantity,
                avg_fill_price=None,
                perm_id=FactKey(client_id=9, order_id=self.next_id).perm_id,
            ),
        )
        self.next_id += 1

    def place(self, ticket: OrderTicket, approval: Approval) -> None:
        self._arrive("place", ticket.client_order_id, ticket.spec, approval)
        self._submit(ticket)

    def bracket(
        self,
        legs: tuple[OrderTicket, OrderTicket, OrderTicket],
        approvals: tuple[Approval, Approval, Approval],
    ) -> None:
        for ticket, approval in zip(legs, approvals, strict=True):
            self._arrive("bracket", ticket.client_order_id, ticket.spec, approval)
            self._submit(ticket)

    def modify(self, client_order_id: str, spec: OrderSpec, approval: Approval) -> None:
        self._arrive("modify", client_order_id, spec, approval)
        self.trail.request_modify(Order.id_for(client_order_id=client_order_id), spec)

    def cancel(self, client_order_id: str) -> None:
        self.trail.request_cancel(Order.id_for(client_order_id=client_order_id))

    async def acknowledged(self, client_order_ids: Sequence[str]) -> None:
        return None


prices = st.decimals(D(50), D(300), places=2)
quantities = (st.integers(1, 300) | st.integers(1, 30_000)).map(D)


@st.composite
def specs(draw: st.DrawFn) -> OrderSpec:
    kind = draw(
        st.sampled_from(
            [
                OrderType.LIMIT,
                OrderType.MARKET,
                OrderType.STOP,
                OrderType.STOP_LIMIT,
                OrderType.MARKET_ON_CLOSE,
                OrderType.RELATIVE,
            ]
        )
    )
    action = draw(st.sampled_from(OrderAction))
    qty = draw(quantities)
    ref = draw(st.none() | prices)
    near = st.integers(-300, 300).map(lambda bp: (ref or D(100)) * (1 + D(bp) / 10_000))
    price = (near | prices).map(lambda p: p.quantize(D("0.01")))
    lmt = draw(price) if kind.needs_limit_price else None
    stop = draw(price) if kind.needs_stop_price else None
    return OrderSpec(action, qty, kind, limit_price=lmt, stop_price=stop, reference_price=ref)


policies = st.builds(
    RiskPolicy,
    max_order_quantity=st.none() | quantities,
    max_order_notional=st.none() | st.integers(1_000, 5_000_000).map(D),
    max_position=st.none() | quantities,
    max_open_orders=st.none() | st.integers(0, 12),
    allowed_order_types=st.sampled_from([RiskPolicy().allowed_order_types, frozenset(OrderType)])
    | st.frozensets(st.sampled_from(list(OrderType))),
    allow_market_orders=st.booleans(),
    price_band=st.none() | st.sampled_from([D("0.01"), D("0.05"), D("0.5")]),
    kill_switch=st.sampled_from([False, False, False, True]),
)


def legs() -> st.SearchStrategy[list[PositionLeg]]:
    leg = st.builds(
        PositionLeg, st.sampled_from(CONTRACTS), st.integers(-500, 500).map(D), st.none() | prices
    )
    return st.lists(leg, min_size=1, max_size=3)


calls = st.one_of(
    st.tuples(st.just("place"), st.sampled_from(CONTRACTS), specs()),
    st.tuples(st.just("bracket"), st.sampled_from(CONTRACTS), st.integers(1, 500), prices),
    st.tuples(st.just("modify"), st.integers(0, 50), prices),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("close"), legs()),
    st.tuples(st.just("roll"), legs(), legs()),
    st.tuples(st.just("kill_switch"), st.booleans()),
)


async def drive(engine: OrderExecutionEngine, program: list[tuple[Any, ...]]) -> None:
    ids: list[str] = []
    for call in program:
        match call:
            case ("place", contract, spec):
                r = await engine.place_order(contract, spec)
            case ("bracket", contract, qty, entry):
                b = BracketOrder.build(
                    action=OrderAction.BUY,
                    quantity=D(qty),
                    entry_price=entry,
                    take_profit_price=entry + 5,
                    stop_loss_price=entry - 5,
                    oca_group=f"g{len(ids)}",
                )
                r = await engine.place_bracket_order(contract, b)
            case ("modify", i, price) if ids:
                state = engine.state(ids[i % len(ids)])
                spec = state.spec
                if spec.limit_price is not None:
                    spec = spec.with_changes(limit_price=price)
                elif spec.stop_price is not None:
                    spec = spec.with_changes(stop_price=price)
                r = await engine.modify_order(ids[i % len(ids)], spec)
            case ("cancel", i) if ids:
                r = await engine.cancel_order(ids[i % len(ids)])
            case ("close", position):
                r = await engine.close_position(position)
            case ("roll", old, new):
                r = await engine.roll_position(old, new)
            case ("kill_switch", on):
                engine.engage_kill_switch() if on else engine.release_kill_switch()
                continue
            case _:
                continue
        ids += [c for c in r.order_ids if c and c not in ids]


@settings(max_examples=60, deadline=None)
@given(policy=policies, program=st.lists(calls, min_size=1, max_size=10))
def test_nothing_reaches_the_gateway_without_the_gates_approval(
    policy: RiskPolicy, program: list[tuple[Any, ...]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trail = OrderTrail(StoreConfig.resolve(tmp))
        gate = SpyGate(policy)
        engines: list[OrderExecutionEngine] = []
        boundary = BoundaryGateway(trail, lambda: engines[0].policy)
        engine = OrderExecutionEngine(trail, boundary, gate=gate)
        engines.append(engine)
        asyncio.run(drive(engine, program))
        event(f"orders reached the boundary: {min(len(boundary.reached), 3)}+")
        for st_ in trail.states().values():
            if st_.denial:
                event(f"denied by {st_.denial.split(':')[0]}")

        for r in boundary.reached:
            # An approval the gate issued, for exactly these terms.
            assert any(r.approval is a for a in gate.issued), r
            assert isinstance(r.approval, Approval)
            assert r.approval.covers(r.client_order_id, r.spec)
            # And the policy in force allowed it.
            p = r.policy
            assert not p.kill_switch
            assert r.spec.order_type in p.allowed_order_types
            assert p.allow_market_orders or r.spec.order_type not in MARKET_TYPES
            assert p.max_order_quantity is None or r.spec.quantity <= p.max_order_quantity

        states = {s.client_order_id: s for s in trail.states().values()}
        placed = {r.client_order_id for r in boundary.reached if r.kind != "modify"}
        for coid, state in states.items():
            submitted = any(
                isinstance(e, SubmissionRequested)
                for e in trail.history(Order.id_for(client_order_id=coid))
            )
            # Submitted if and only if it reached the boundary; a denied order never did.
            assert submitted == (coid in placed), coid
            if state.status is OrderStatus.RISK_DENIED:
                assert coid not in placed
