"""What the domain's mutant-killing tests share: a time, a contract, limit terms, and an order
placed and submitted with them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ordertrail.domain.order import Order
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
AAPL = ContractRef(265598, "AAPL")
LMT = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("150"))


def submitted(client_order_id: str) -> Order:
    """An order placed with ``LMT`` for ``AAPL`` and submitted as order id 7, at ``T0``."""
    o = Order.place(client_order_id=client_order_id, contract=AAPL, spec=LMT, ts_recorded=T0)
    o.submit(client_id=1, order_id=7, ts_recorded=T0)
    return o
