"""RiskGate: each rule refuses by name with a clear reason, the refusal is recorded as
RiskDenied, and a gateway refuses anything the gate did not approve."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from ordertrail.adapters.execution import DryRunGateway
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.events import RiskDenied
from ordertrail.domain.order import Order
from ordertrail.domain.ports import OrderTicket
from ordertrail.domain.risk import (
    Approval,
    Refusal,
    RequestKind,
    RiskContext,
    RiskGate,
    RiskPolicy,
    RiskRequest,
    UnapprovedOrder,
    require_approval,
)
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ActionTaken,
    ContractRef,
    OrderAction,
    OrderSpec,
    OrderType,
)

from .conftest import AAPL, MSFT, dry_engine

D = Decimal
BUY, SELL = OrderAction.BUY, OrderAction.SELL
PERMISSIVE = RiskPolicy(
    max_order_quantity=None,
    max_order_notional=None,
    max_position=None,
    max_open_orders=None,
    allowed_order_types=frozenset(OrderType),
    allow_market_orders=True,
    price_band=None,
)


def lmt(action: OrderAction, qty: int | str, price: int | str, **kw: Any) -> OrderSpec:
    return OrderSpec(action, D(qty), OrderType.LIMIT, limit_price=D(price), **kw)


def verdict(
    spec: OrderSpec,
    policy: RiskPolicy | None = None,
    context: RiskContext | None = None,
    contract: ContractRef = AAPL,
    **kw: Any,
) -> Refusal | None:
    gate = RiskGate(policy or RiskPolicy())
    decision = gate.check(RiskRequest("OT-x", contract, spec, **kw), context or RiskContext())
    return decision if isinstance(decision, Refusal) else None


# Each rule: an order it refuses (with a words of its reason) and one it lets through.
CASES: list[tuple[str, RiskPolicy, OrderSpec, RiskContext, str]] = [
    (
        "kill_switch",
        RiskPolicy(kill_switch=True),
        lmt(BUY, 1, 150),
        RiskContext(),
        "kill switch is engaged",
    ),
    (
        "order_type_allowed",
        RiskPolicy(allowed_order_types=frozenset({OrderType.LIMIT})),
        OrderSpec(SELL, D(1), OrderType.STOP, stop_price=D(140)),
        RiskContext(),
        "order type STP is not allowed",
    ),
    (
        "no_market_orders",
        RiskPolicy(),
        OrderSpec(BUY, D(1), OrderType.MARKET, reference_price=D(150)),
        RiskContext(),
        "MKT orders are disallowed",
    ),
    (
        "max_order_quantity",
        RiskPolicy(max_order_quantity=D(100)),
        lmt(BUY, 101, 1),
        RiskContext(),
        "quantity 101 exceeds the maximum 100",
    ),
    (
        "max_order_notional",
        RiskPolicy(max_order_notional=D(15_000)),
        lmt(BUY, 101, 150),
        RiskContext(),
        "notional 15150 exceeds the maximum 15000",
    ),
    (
        "price_band",
        RiskPolicy(),
        lmt(BUY, 1, 160, reference_price=D(150)),
        RiskContext(),
        "6.67% from the reference 150",
    ),
    (
        "max_position",
        RiskPolicy(max_position=D(500)),
        lmt(BUY, 100, 150),
        RiskContext(position=D(350), working_same_side=D(60)),
        "would reach 510",
    ),
    (
        "max_open_orders",
        RiskPolicy(max_open_orders=3),
        lmt(BUY, 1, 150),
        RiskContext(open_orders=3),
        "3 orders are open",
    ),
]


@pytest.mark.parametrize(
    ("rule", "policy", "spec", "context", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_each_rule_refuses_by_name(
    rule: str, policy: RiskPolicy, spec: OrderSpec, context: RiskContext, words: str
) -> None:
    refusal = verdict(spec, policy, context)
    assert refusal is not None
    assert refusal.rule == rule
    assert words in refusal.reason
    # With every limit off, the same order in the same book passes: that rule refused it.
    assert verdict(spec, PERMISSIVE, context) is None


# Rules that need a book (position, open orders) are recorded in the engine-level tests below.
BOOKLESS = [c for c in CASES if c[3] == RiskContext()]


@pytest.mark.parametrize(
    ("rule", "policy", "spec", "context", "words"), BOOKLESS, ids=[c[0] for c in BOOKLESS]
)
def test_each_refusal_is_recorded_as_risk_denied(
    trail: OrderTrail,
    rule: str,
    policy: RiskPolicy,
    spec: OrderSpec,
    context: RiskContext,
    words: str,
) -> None:
    engine = dry_engine(trail, policy)
    result = asyncio.run(engine.place_order(AAPL, spec))
    assert not result.success
    assert result.action is ActionTaken.FAILED
    assert f"rule {rule}" in (result.error or "")
    assert words in (result.error or "")
    (coid,) = result.order_ids
    state = engine.state(coid)
    assert state.status is OrderStatus.RISK_DENIED
    assert state.denial is not None
    assert state.denial.startswith(f"{rule}: ")
    event = trail.history(Order.id_for(client_order_id=coid))[-1]
    assert isinstance(event, RiskDenied)
    assert event.rule == rule


def test_position_and_open_orders_are_read_from_the_record(trail: OrderTrail) -> None:
    engine = dry_engine(trail, RiskPolicy(max_position=D(150), max_open_orders=2))

    async def run() -> None:
        filled = await engine.place_order(AAPL, lmt(BUY, 100, 150))  # dry run: fills at once
        assert filled.success
        assert engine.state(filled.order_ids[0]).status is OrderStatus.FILLED
        over = await engine.place_order(AAPL, lmt(BUY, 60, 150))
        assert over.error is not None
        assert "rule max_position" in over.error
        assert "would reach 160" in over.error
        # Reducing is always allowed, even past the limit on the other side.
        assert (await engine.place_order(AAPL, lmt(SELL, 100, 150))).success
        # Stops work and count as open orders; the third is one too many.
        stop = OrderSpec(SELL, D(1), OrderType.STOP, stop_price=D(140))
        assert (await engine.place_order(AAPL, stop)).success
        assert (await engine.place_order(AAPL, stop)).success
        third = await engine.place_order(AAPL, stop)
        assert third.error is not None
        assert "rule max_open_orders" in third.error
        # The two working sell stops count toward the position limit (rules run in order:
        # the position is judged before the open-order count).
        many = await engine.place_order(AAPL, replace(stop, quantity=D(149)))
        assert many.error is not None
        assert "rule max_position" in many.error
        assert "would reach -151 (now 0, working -2)" in many.error

    asyncio.run(run())


def test_kill_switch_refuses_orders_but_not_cancels(trail: OrderTrail) -> None:
    engine = dry_engine(trail)

    async def run() -> None:
        stop = OrderSpec(SELL, D(1), OrderType.STOP, stop_price=D(140))
        working = await engine.place_order(AAPL, stop)
        engine.engage_kill_switch()
        refused = await engine.place_order(AAPL, lmt(BUY, 1, 150))
        assert refused.error is not None
        assert "rule kill_switch" in refused.error
        moved = await engine.modify_order(working.order_ids[0], replace(stop, stop_price=D(141)))
        assert moved.error is not None
        assert "rule kill_switch" in moved.error
        cancelled = await engine.cancel_order(working.order_ids[0])
        assert cancelled.success
        assert cancelled.action is ActionTaken.DRY_RUN
        engine.release_kill_switch()
        assert (await engine.place_order(AAPL, lmt(BUY, 1, 150))).success

    asyncio.run(run())


def test_a_refused_bracket_leg_denies_the_whole_bracket(trail: OrderTrail) -> None:
    engine = dry_engine(trail, RiskPolicy(price_band=D("0.02")))
    bracket = BracketOrder.build(
        action=BUY,
        quantity=D(10),
        entry_price=D(150),
        take_profit_price=D(160),
        stop_loss_price=D(148),
        oca_group="g",
    )
    bracket = replace(
        bracket,
        parent=replace(bracket.parent, reference_price=D(150)),
        take_profit=replace(bracket.take_profit, reference_price=D(150)),
    )
    result = asyncio.run(engine.place_bracket_order(AAPL, bracket))
    assert not result.success
    assert "rule price_band" in (result.error or "")
    assert len(result.order_ids) == 3
    states = [engine.state(c) for c in result.order_ids]
    assert [s.status for s in states] == [OrderStatus.RISK_DENIED] * 3
    assert all(
        "take-profit" in (s.denial or "") or result.order_ids[1] in (s.denial or "") for s in states
    )


def test_max_notional_needs_a_price() -> None:
    refusal = verdict(OrderSpec(BUY, D(1), OrderType.MARKET), RiskPolicy(allow_market_orders=True))
    assert refusal is not None
    assert refusal.rule == "max_order_notional"
    assert "no price" in refusal.reason


def test_notional_uses_the_multiplier_and_modifies_skip_the_open_order_count() -> None:
    es = ContractRef(1, "ES", "FUT", multiplier=D(50))
    refusal = verdict(lmt(BUY, 5, 5000), contract=es)
    assert refusal is not None
    assert "notional 1250000" in refusal.reason
    full = RiskContext(open_orders=100)
    assert verdict(lmt(BUY, 1, 150), context=full, kind=RequestKind.MODIFY) is None
    assert verdict(lmt(BUY, 1, 150), context=full) is not None


def test_bracket_children_are_not_held_to_the_position_limit() -> None:
    policy = RiskPolicy(max_position=D(10))
    assert verdict(lmt(SELL, 10, 150), policy, RiskContext(working_same_side=D(5))) is not None
    child = verdict(
        lmt(SELL, 10, 150), policy, RiskContext(working_same_side=D(5)), contingent=True
    )
    assert child is None


def test_gateways_refuse_orders_without_an_approval(trail: OrderTrail) -> None:
    gateway = DryRunGateway(trail)
    spec = lmt(BUY, 1, 150)
    trail.place(client_order_id="DRY_OT-x1", contract=AAPL, spec=spec)
    ticket = OrderTicket("DRY_OT-x1", AAPL, spec)
    with pytest.raises(UnapprovedOrder, match="no RiskGate approval"):
        gateway.place(ticket, None)  # type: ignore[arg-type]
    with pytest.raises(UnapprovedOrder, match="only from the RiskGate"):
        Approval("DRY_OT-x1", AAPL, spec, RequestKind.PLACE, object())
    approved = RiskGate().check(RiskRequest("DRY_OT-x1", AAPL, spec), RiskContext())
    assert isinstance(approved, Approval)
    with pytest.raises(UnapprovedOrder, match="other terms"):
        gateway.place(OrderTicket("DRY_OT-x1", AAPL, lmt(BUY, 2, 150)), approved)
    with pytest.raises(UnapprovedOrder, match="other terms"):
        require_approval(approved, "DRY_OT-x2", AAPL, spec)
    with pytest.raises(UnapprovedOrder, match="other terms"):
        require_approval(approved, "DRY_OT-x1", MSFT, spec)
    assert trail.get(Order.id_for(client_order_id="DRY_OT-x1")).state.status is OrderStatus.NEW
    gateway.place(ticket, approved)
    assert trail.get(Order.id_for(client_order_id="DRY_OT-x1")).state.status is OrderStatus.FILLED
