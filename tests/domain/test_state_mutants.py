"""An order's state before IB has said anything about it: what callers read off a state
(``if state.why_held:``) must not invent what IB never sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ordertrail.domain.facts import StatusReport
from ordertrail.domain.order import Order
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
AAPL = ContractRef(265598, "AAPL")
LMT = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("150"))


def test_an_order_is_held_for_nothing_until_ib_says_why() -> None:
    o = Order.place(client_order_id="OT-state-1", contract=AAPL, spec=LMT, ts_recorded=T0)
    o.submit(client_id=1, order_id=7, ts_recorded=T0)
    assert not o.state.why_held
    o.record(StatusReport("PreSubmitted", why_held="locate"), ts_recorded=T0 + timedelta(seconds=1))
    assert o.state.why_held == "locate"
    # IB's empty whyHeld is the hold lifted: the state reads as before the hold.
    o.record(StatusReport("Submitted"), ts_recorded=T0 + timedelta(seconds=2))
    assert not o.state.why_held
