"""The RiskGate's small guarantees, in the domain alone: a refused single order is reported as
the rule said it, a refused leg of several is named; a gate given a new policy keeps its own
rules; a gateway's refusal names the order it refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordertrail.domain.risk import (
    Refusal,
    RiskContext,
    RiskGate,
    RiskPolicy,
    RiskRequest,
    Rule,
    UnapprovedOrder,
    require_approval,
)
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

AAPL = ContractRef(265598, "AAPL")
BIG = OrderSpec(OrderAction.BUY, Decimal(500), OrderType.LIMIT, limit_price=Decimal("150"))
SMALL = OrderSpec(OrderAction.SELL, Decimal(5), OrderType.LIMIT, limit_price=Decimal("160"))
CAPPED = RiskPolicy(max_order_quantity=Decimal(100))


def test_one_refused_order_is_reported_as_the_rule_said_it() -> None:
    gate = RiskGate(CAPPED)
    alone = gate.check(RiskRequest("OT-1", AAPL, BIG), RiskContext())
    assert isinstance(alone, Refusal)
    assert gate.check_all([(RiskRequest("OT-1", AAPL, BIG), RiskContext())]) == alone


def test_a_refused_leg_of_several_is_named_and_refuses_them_all() -> None:
    gate = RiskGate(CAPPED)
    legs = [
        (RiskRequest("OT-p", AAPL, SMALL), RiskContext()),
        (RiskRequest("OT-tp", AAPL, BIG), RiskContext()),
    ]
    alone = gate.check(*legs[1])
    assert isinstance(alone, Refusal)
    assert gate.check_all(legs) == Refusal(alone.rule, f"OT-tp: {alone.reason}")


def test_a_gate_given_a_new_policy_keeps_its_own_rules() -> None:
    never = Rule("never_on_fridays", lambda policy, request, context: "closed")
    gate = RiskGate(RiskPolicy(), rules=(never,)).with_policy(CAPPED)
    assert (gate.policy, gate.rules) == (CAPPED, (never,))
    assert gate.check(RiskRequest("OT-2", AAPL, SMALL), RiskContext()) == Refusal(
        "never_on_fridays", "closed"
    )


def test_a_gateway_refusal_names_the_order_it_refused() -> None:
    with pytest.raises(UnapprovedOrder) as e:
        require_approval(None, "OT-9", AAPL, SMALL)
    assert e.value.client_order_id == "OT-9"
    assert str(e.value) == "OT-9: refused at the gateway: no RiskGate approval"
