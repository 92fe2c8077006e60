"""No sequence of engine calls sends an order the RiskGate did not approve.

The engine drives the one IB gateway, and the boundary is ib_async's own ``placeOrder``: a spy
on the gate keeps every approval it issued. Whatever the policy and the calls, every order
that reached the wire matches, field for field, an approval the gate issued for that contract
and those terms, satisfies the policy in force, and nothing the gate refused ever arrives.
``test_only_the_gateway_calls_place_order`` proves there is no other way to the wire.
"""

from __future__ import annotations

import ast
import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from ib_async import IB, Contract
from ib_async import Order as IbOrder

from ordertrail.adapters.execution import IbGateway, OrderExecutionEngine
from ordertrail.adapters.ib import mapping
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.events import SubmissionRequested
from ordertrail.domain.identity import order_uuid
from ordertrail.domain.planning import PositionLeg
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
    contract: Contract
    order: IbOrder
    policy: RiskPolicy


class WireBoundary(IB):
    """ib_async's ``IB`` with the socket cut at the last step: what the gateway hands to
    ``placeOrder`` is kept, exactly as it would have been written to TWS. The client looks
    connected (an API-ready session, client id 9); IB never answers, so orders stay
    PendingSubmit and the gateway's wait for an answer is switched off."""

    def __init__(self, policy_now: Callable[[], RiskPolicy]) -> None:
        super().__init__()
        self.policy_now = policy_now
        self.reached: list[Reached] = []
        self.cancelled: list[int] = []
        self.client.clientId = 9
        self.client._apiReady = True
        self.client._reqIdSeq = 1

    def isConnected(self) -> bool:  # noqa: N802 (ib_async's name)
        return True

    def placeOrder(self, contract: Contract, order: IbOrder) -> Any:  # noqa: N802
        seen = any(r.order.orderId == order.orderId for r in self.reached)
        self.reached.append(
            Reached("modify" if seen else "place", contract, order, self.policy_now())
        )

    def cancelOrder(self, order: IbOrder, manualCancelOrderTime: str = "") -> Any:  # noqa: N802, N803
        self.cancelled.append(order.orderId)


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


def _sent_as_approved(r: Reached, issued: list[Approval]) -> Approval:
    """The approval the gate issued for exactly what went on the wire."""
    for a in issued:
        if a.client_order_id != r.order.orderRef:
            continue
        wire = mapping.to_ib_order(
            a.spec,
            order_id=r.order.orderId,
            order_ref=a.client_order_id,
            parent_id=r.order.parentId,
        )
        # ib_async's Order compares by identity: compare every field instead.
        contract = mapping.to_ib_contract(a.contract)
        if vars(wire) == vars(r.order) and vars(contract) == vars(r.contract):
            return a
    raise AssertionError(f"no approval for what was sent: {r}")


@settings(max_examples=60, deadline=None)
@given(policy=policies, program=st.lists(calls, min_size=1, max_size=10))
def test_nothing_reaches_the_wire_without_the_gates_approval(
    policy: RiskPolicy, program: list[tuple[Any, ...]]
) -> None:
    """Through the one IB gateway, down to ib_async's placeOrder."""
    with tempfile.TemporaryDirectory() as tmp:
        trail = OrderTrail(StoreConfig.resolve(tmp))
        gate = SpyGate(policy)
        engines: list[OrderExecutionEngine] = []
        wire = WireBoundary(lambda: engines[0].policy)
        gateway = IbGateway(wire, trail, ack_timeout=0)
        engine = OrderExecutionEngine(trail, gateway, gate=gate)
        engines.append(engine)
        asyncio.run(drive(engine, program))
        event(f"orders reached the wire: {min(len(wire.reached), 3)}+")
        for st_ in trail.states().values():
            if st_.denial:
                event(f"denied by {st_.denial.split(':')[0]}")

        for r in wire.reached:
            approval = _sent_as_approved(r, gate.issued)
            assert approval.kind.value == r.kind
            p = r.policy
            assert not p.kill_switch
            assert approval.spec.order_type in p.allowed_order_types
            assert p.allow_market_orders or approval.spec.order_type not in MARKET_TYPES
            assert p.max_order_quantity is None or approval.spec.quantity <= p.max_order_quantity

        placed = {r.order.orderRef for r in wire.reached if r.kind == "place"}
        for state in trail.states().values():
            coid = state.client_order_id
            assert coid is not None
            submitted = any(
                isinstance(e, SubmissionRequested)
                for e in trail.history(order_uuid(client_order_id=coid))
            )
            # Submitted if and only if it reached the wire; a denied order never did.
            assert submitted == (coid in placed), coid
            if state.status is OrderStatus.RISK_DENIED:
                assert coid not in placed


# Sends that are not ordertrail trading: the benchmark drives the simulator's wire directly to
# time the tape recorder.
NOT_TRADING = {"adapters/bench_tape.py"}
SENDS = {"placeOrder", "cancelOrder", "reqGlobalCancel"}


def test_only_the_gateway_calls_place_order() -> None:
    """Read the package's source: nothing but the IB gateway calls ib_async's order methods
    (the simulator, the other side of the wire, only parses them)."""
    import ordertrail.adapters.ib.gateway as gateway_module

    root = Path(gateway_module.__file__).resolve().parents[2]
    callers: set[str] = set()
    for path in sorted(root.glob("*/**/*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("tests/", ".venv/", "build/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if call and node.func.attr in SENDS:
                callers.add(rel)
    assert callers - NOT_TRADING == {"adapters/ib/gateway.py"}
